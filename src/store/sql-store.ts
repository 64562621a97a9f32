/**
 * @module store/sql-store
 * The Store for SQLite (better-sqlite3 directly: the fast path) and PostgreSQL / MySQL / MariaDB (knex).
 * knex builds every statement for all three, so the SQL dialect lives in one place.
 */
import { MhError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ColumnDef } from '../types.js';
import type { DbTarget } from './db-url.js';
import { KnexStore } from './knex-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

const TABLE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Creates the Store for a database target and table. Call `init()` before use. */
export function createStore(
  target: DbTarget,
  table: string,
  columns: ReadonlyMap<string, ColumnDef>,
  indexes: readonly (readonly string[])[] = [],
  log?: Logger,
): Store {
  if (!TABLE_RE.test(table)) throw new MhError('MH_ERR_CONFIG_INVALID', [`bad table name ${JSON.stringify(table)}`]);
  return target.client === 'sqlite' ? new SqliteStore(target, table, columns, indexes, log) : new KnexStore(target, table, columns, indexes, log);
}
