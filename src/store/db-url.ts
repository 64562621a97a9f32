/**
 * @module store/db-url
 * SQLAlchemy-style database URLs (what Gramex configs use) → knex connection settings.
 *
 *   sqlite:///rel/path.db      relative to the YAML file's folder
 *   sqlite:////abs/path.db     absolute
 *   sqlite://                  in-memory (one connection; lost on exit)
 *   postgresql://user:pw@host:5432/db   (also postgres://, postgresql+psycopg2://)
 *   mysql://user:pw@host:3306/db        (also mysql+pymysql://, mariadb://)
 */
import path from 'node:path';

export type DbClient = 'sqlite' | 'pg' | 'mysql';

export interface DbTarget {
  client: DbClient;
  /** SQLite: absolute file path or ':memory:'. */
  filename?: string;
  /** pg / mysql connection settings. */
  connection?: { host: string; port?: number; user?: string; password?: string; database: string };
  /** A stable identity for sharing one connection/writer between handlers on the same database. */
  key: string;
}

/** Parses a database URL. Throws an Error whose message is meant for a config issue. */
export function parseDbUrl(url: string, baseDir: string): DbTarget {
  const m = /^([a-z][a-z0-9]*)(?:\+[a-z0-9_]+)?:\/\/(.*)$/i.exec(url);
  if (!m) throw new Error(`not a database URL: ${JSON.stringify(url)} (expected e.g. sqlite:///file.db)`);
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (scheme === 'sqlite') {
    if (rest === '' || rest === '/' || rest === '/:memory:') return { client: 'sqlite', filename: ':memory:', key: `sqlite::memory:${Math.random()}` };
    if (!rest.startsWith('/')) throw new Error(`sqlite URL must be sqlite:///relative.db or sqlite:////absolute.db, got ${JSON.stringify(url)}`);
    // sqlite:///x.db → rest '/x.db' → relative 'x.db'; sqlite:////abs → rest '//abs' → absolute '/abs'
    const file = rest.slice(1);
    const filename = path.isAbsolute(file) ? file : path.resolve(baseDir, file);
    return { client: 'sqlite', filename, key: `sqlite:${filename}` };
  }
  const client: DbClient | undefined =
    scheme === 'postgresql' || scheme === 'postgres' ? 'pg' : scheme === 'mysql' || scheme === 'mariadb' ? 'mysql' : undefined;
  if (!client) throw new Error(`unsupported database scheme "${scheme}" (use sqlite, postgresql or mysql)`);
  let parsed: URL;
  try {
    parsed = new URL(`${client === 'pg' ? 'postgres' : 'mysql'}://${rest}`);
  } catch {
    throw new Error(`cannot parse database URL ${JSON.stringify(url)}`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) throw new Error(`database URL ${JSON.stringify(url)} names no database`);
  const connection = {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : undefined,
    user: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    database,
  };
  return { client, connection, key: `${client}://${connection.user ?? ''}@${connection.host}:${connection.port ?? ''}/${database}` };
}
