/**
 * @module store/sql-store
 * The Store for SQLite, PostgreSQL and MySQL/MariaDB.
 *
 * knex builds every statement (DDL and queries), so the SQL dialect lives in one place. How statements run
 * differs by engine:
 * - SQLite: through better-sqlite3 directly, synchronously, with statements prepared once. A batch of writes is
 *   one transaction that never spans an `await`, so nothing else on the event loop can interleave with it and
 *   no lock is held across turns. (knex per-row inserts cost ~2× and its SQLite bulk insert breaks above 500
 *   rows: see docs/performance.md.) WAL mode with synchronous=NORMAL.
 * - PostgreSQL / MySQL: through knex transactions; each request runs in a savepoint.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import knexFactory, { type Knex } from 'knex';
import { MhError, toMhError } from '../errors.js';
import { applyOrder, applyWhere, type Filter } from '../filter/index.js';
import type { ColumnDef, Method, Row } from '../types.js';
import { checkOwnership, constraintError, eventData, rowForPost, rowFromDb } from './apply.js';
import { SEQ_COLUMN } from './columns.js';
import type { DbClient, DbTarget } from './db-url.js';
import { EVENTS_TABLE, alterTable, createEventsTable, createTable } from './schema.js';
import type { Store, StoredEvent, WriteRequest, WriteResult } from './store.js';

const TABLE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Quotes an identifier for SQLite (names are validated at load, this is defence in depth). */
const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Creates the Store for a database target and table. Call `init()` before use. */
export function createStore(target: DbTarget, table: string, columns: ReadonlyMap<string, ColumnDef>): Store {
  if (!TABLE_RE.test(table)) throw new MhError('MH_ERR_CONFIG_INVALID', [`bad table name ${JSON.stringify(table)}`]);
  return target.client === 'sqlite' ? new SqliteStore(target, table, columns) : new KnexStore(target, table, columns);
}

function knexConfig(target: DbTarget): Knex.Config {
  if (target.client === 'sqlite') {
    return { client: 'better-sqlite3', connection: { filename: target.filename! }, useNullAsDefault: true, pool: { min: 0, max: 1 } };
  }
  return {
    client: target.client === 'pg' ? 'pg' : 'mysql2',
    connection: { ...target.connection!, ...(target.client === 'mysql' ? { charset: 'utf8mb4', supportBigNumbers: true } : {}) },
    pool: { min: 0, max: 10 },
  };
}

abstract class BaseStore implements Store {
  readonly client: DbClient;
  protected seq = 0;
  protected readonly builder: Knex;

  constructor(
    readonly target: DbTarget,
    readonly table: string,
    readonly columns: ReadonlyMap<string, ColumnDef>,
  ) {
    this.client = target.client;
    // knex connects lazily, on the first query it runs: for SQLite this instance only builds SQL (the store
    // runs it on its own better-sqlite3 connection) unless someone asks for knex() to run queries.
    this.builder = knexFactory(knexConfig(target));
  }

  get lastSeq(): number {
    return this.seq;
  }

  knex(): Knex {
    return this.builder;
  }

  abstract init(): Promise<void>;
  abstract write(batch: readonly WriteRequest[]): Promise<WriteResult[]>;
  abstract history(filter: Filter, limit: number): Promise<Row[]>;
  abstract close(): Promise<void>;

  /** The history query. Without `_sort` it returns the newest `limit` rows, which the caller re-orders oldest first. */
  protected historyQuery(filter: Filter, limit: number): { qb: Knex.QueryBuilder; newestFirst: boolean } {
    const cols = [...this.columns.keys(), SEQ_COLUMN];
    let qb = this.builder(this.table).select(cols);
    qb = applyWhere(qb, filter, this.client);
    const n = Math.min(limit, filter.limit ?? Infinity);
    if (filter.sort.length) {
      qb = applyOrder(qb, { ...filter, limit: n }, SEQ_COLUMN);
      return { qb, newestFirst: false };
    }
    qb = qb.orderBy(SEQ_COLUMN, 'desc').orderBy('id', 'desc').limit(n);
    if (filter.offset) qb = qb.offset(filter.offset);
    return { qb, newestFirst: true };
  }

  protected finishHistory(raw: Row[], newestFirst: boolean): Row[] {
    const rows = raw.map((r) => rowFromDb(r, this.columns));
    return newestFirst ? rows.reverse() : rows;
  }

  protected missingColumns(existing: ReadonlySet<string>): ColumnDef[] {
    const missing = [...this.columns.values()].filter((c) => !existing.has(c.name));
    if (missing.some((c) => c.primaryKey)) {
      throw new MhError('MH_ERR_STORE_FAILED', [`table ${this.table} exists without its primary key column; add it or use another table`]);
    }
    return missing;
  }
}

/** SQLite through better-sqlite3: synchronous, prepared statements, one transaction per batch. */
class SqliteStore extends BaseStore {
  private db!: Database.Database;
  private readonly stmts = new Map<string, Database.Statement>();
  private txn!: Database.Transaction<(batch: readonly WriteRequest[]) => WriteResult[]>;
  private one!: (req: WriteRequest, seq: number) => StoredEvent;

  async init(): Promise<void> {
    if (this.target.filename !== ':memory:') mkdirSync(dirname(this.target.filename!), { recursive: true });
    this.db = new Database(this.target.filename!);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    const info = this.db.prepare(`PRAGMA table_info(${q(this.table)})`).all() as { name: string }[];
    const run = (sb: Knex.SchemaBuilder): void => {
      for (const s of sb.toSQL() as unknown as { sql: string; bindings: unknown[] }[]) this.db.prepare(s.sql).run(...(s.bindings ?? []));
    };
    this.db.transaction(() => {
      if (info.length === 0) run(createTable(this.builder, this.table, this.columns, 'sqlite'));
      else {
        const existing = new Set(info.map((c) => c.name));
        const missing = this.missingColumns(existing);
        const addSeq = !existing.has(SEQ_COLUMN);
        if (missing.length || addSeq) run(alterTable(this.builder, this.table, missing, addSeq, 'sqlite'));
        // Rows written before msghub managed this table sort first in history, in their stored order.
        if (addSeq) this.db.prepare(`UPDATE ${q(this.table)} SET ${q(SEQ_COLUMN)} = 0 WHERE ${q(SEQ_COLUMN)} IS NULL`).run();
      }
      const hasEvents = this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type='table' AND name=?`).get(EVENTS_TABLE);
      if (!hasEvents) run(createEventsTable(this.builder));
    }).immediate();
    const maxEvent = this.db.prepare(`SELECT MAX(seq) AS m FROM ${q(EVENTS_TABLE)} WHERE tbl = ?`).get(this.table) as { m: number | null };
    const maxRow = this.db.prepare(`SELECT MAX(${q(SEQ_COLUMN)}) AS m FROM ${q(this.table)}`).get() as { m: number | null };
    this.seq = Math.max(Number(maxEvent.m ?? 0), Number(maxRow.m ?? 0));

    const cols = [...this.columns.keys(), SEQ_COLUMN];
    const selectById = this.db.prepare(`SELECT ${cols.map(q).join(', ')} FROM ${q(this.table)} WHERE id = ?`);
    const insertRow = this.db.prepare(`INSERT INTO ${q(this.table)} (${cols.map(q).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
    const deleteRow = this.db.prepare(`DELETE FROM ${q(this.table)} WHERE id = ?`);
    const insertEvent = this.db.prepare(`INSERT INTO ${q(EVENTS_TABLE)} (tbl, seq, method, id, data, ts) VALUES (?, ?, ?, ?, ?, ?)`);

    // One request in its own savepoint (better-sqlite3 nests transactions as savepoints).
    this.one = this.db.transaction((req: WriteRequest, seq: number): StoredEvent => {
      let before: Row | null = null;
      let after: Row | null = null;
      let changed: string[];
      if (req.method === 'POST') {
        after = rowForPost(req, this.columns, seq);
        insertRow.run(...cols.map((c) => sqliteValue(after![c])));
        changed = [...this.columns.keys()];
      } else {
        const raw = selectById.get(req.id) as Row | undefined;
        if (!raw) throw new MhError('MH_ERR_MSG_NOT_FOUND', [req.id]);
        before = rowFromDb(raw, this.columns);
        const denied = checkOwnership(req, before);
        if (denied) throw denied;
        if (req.method === 'PUT') {
          changed = Object.keys(req.values);
          if (changed.length) this.updateStatement(changed).run(...changed.map((c) => sqliteValue(req.values[c])), req.id);
          after = { ...before, ...req.values };
        } else {
          deleteRow.run(req.id);
          changed = [];
        }
      }
      const event: StoredEvent = { seq, method: req.method, id: req.id, before, after, changed };
      insertEvent.run(this.table, seq, req.method, req.id, eventData(event), new Date().toISOString());
      if (req.extra) for (const { table, row } of req.extra(event)) this.insertInto(table, row);
      return event;
    });

    this.txn = this.db.transaction((batch: readonly WriteRequest[]): WriteResult[] => {
      const results: WriteResult[] = [];
      for (const req of batch) {
        try {
          const event = this.one(req, this.seq + 1);
          this.seq = event.seq;
          results.push({ ok: true, event });
        } catch (err) {
          results.push({ ok: false, error: err instanceof MhError ? err : constraintError(err, req) });
        }
      }
      return results;
    });
  }

  async write(batch: readonly WriteRequest[]): Promise<WriteResult[]> {
    const start = this.seq;
    try {
      return this.txn.immediate(batch);
    } catch (err) {
      // The whole transaction failed (disk full, I/O error): nothing was committed, no sequence was used.
      this.seq = start;
      const error = toMhError(err instanceof MhError ? err : new MhError('MH_ERR_STORE_FAILED', [String((err as Error).message)], { cause: err }));
      return batch.map(() => ({ ok: false as const, error }));
    }
  }

  async history(filter: Filter, limit: number): Promise<Row[]> {
    const { qb, newestFirst } = this.historyQuery(filter, limit);
    const { sql, bindings } = qb.toSQL().toNative();
    return this.finishHistory(this.prepare(sql).all(...(bindings as unknown[]).map(sqliteValue)) as Row[], newestFirst);
  }

  async close(): Promise<void> {
    if (this.db?.open) this.db.close();
    await this.builder.destroy();
  }

  private prepare(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      // Bounded: filters differ per subscriber, but the statement text depends only on the filter's shape.
      if (this.stmts.size > 500) this.stmts.clear();
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  private updateStatement(changed: string[]): Database.Statement {
    return this.prepare(`UPDATE ${q(this.table)} SET ${changed.map((c) => `${q(c)} = ?`).join(', ')} WHERE id = ?`);
  }

  private insertInto(table: string, row: Row): void {
    const keys = Object.keys(row);
    this.prepare(`INSERT INTO ${q(table)} (${keys.map(q).join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`).run(
      ...keys.map((k) => sqliteValue(row[k])),
    );
  }
}

function sqliteValue(v: unknown): unknown {
  return typeof v === 'boolean' ? (v ? 1 : 0) : v === undefined ? null : v;
}

/** PostgreSQL and MySQL/MariaDB through knex. */
class KnexStore extends BaseStore {
  /** write() calls run one after another: sequence numbers are assigned from this.seq inside them. */
  private chain: Promise<unknown> = Promise.resolve();

  async init(): Promise<void> {
    const k = this.builder;
    await k.transaction(async (trx) => {
      if (!(await trx.schema.hasTable(this.table))) {
        await createTable(trx, this.table, this.columns, this.client);
      } else {
        const info = await trx(this.table).columnInfo();
        const existing = new Set(Object.keys(info));
        const missing = this.missingColumns(existing);
        const addSeq = !existing.has(SEQ_COLUMN);
        if (missing.length || addSeq) await alterTable(trx, this.table, missing, addSeq, this.client);
        if (addSeq) await trx(this.table).whereNull(SEQ_COLUMN).update({ [SEQ_COLUMN]: 0 });
      }
    });
    // CREATE TABLE commits implicitly on MySQL; a concurrent creator is harmless (the second one fails and we re-check).
    if (!(await k.schema.hasTable(EVENTS_TABLE))) {
      try {
        await createEventsTable(k);
      } catch (err) {
        if (!(await k.schema.hasTable(EVENTS_TABLE))) throw err;
      }
    }
    const maxEvent = await k(EVENTS_TABLE).where('tbl', this.table).max({ m: 'seq' }).first();
    const maxRow = await k(this.table).max({ m: SEQ_COLUMN }).first();
    this.seq = Math.max(Number(maxEvent?.m ?? 0), Number(maxRow?.m ?? 0));
  }

  write(batch: readonly WriteRequest[]): Promise<WriteResult[]> {
    const p = this.chain.then(() => this.writeNow(batch));
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async writeNow(batch: readonly WriteRequest[]): Promise<WriteResult[]> {
    const start = this.seq;
    const results: WriteResult[] = [];
    try {
      await this.builder.transaction(async (trx) => {
        let seq = start;
        for (const req of batch) {
          try {
            const event = await trx.transaction((sp) => this.applyOne(sp, req, seq + 1));
            seq = event.seq;
            results.push({ ok: true, event });
          } catch (err) {
            results.push({ ok: false, error: err instanceof MhError ? err : constraintError(err, req) });
          }
        }
        this.seq = seq;
      });
      return results;
    } catch (err) {
      this.seq = start;
      const error = new MhError('MH_ERR_STORE_FAILED', [String((err as Error).message)], { cause: err });
      return batch.map(() => ({ ok: false as const, error }));
    }
  }

  private async applyOne(trx: Knex.Transaction, req: WriteRequest, seq: number): Promise<StoredEvent> {
    let before: Row | null = null;
    let after: Row | null = null;
    let changed: string[];
    const cols = [...this.columns.keys(), SEQ_COLUMN];
    if (req.method === 'POST') {
      after = rowForPost(req, this.columns, seq);
      await trx(this.table).insert(after);
      changed = [...this.columns.keys()];
    } else {
      // FOR UPDATE: another msghub process on the same database cannot change the row between check and write.
      const raw = (await trx(this.table).select(cols).where('id', req.id).forUpdate().first()) as Row | undefined;
      if (!raw) throw new MhError('MH_ERR_MSG_NOT_FOUND', [req.id]);
      before = rowFromDb(raw, this.columns);
      const denied = checkOwnership(req, before);
      if (denied) throw denied;
      if (req.method === 'PUT') {
        changed = Object.keys(req.values);
        if (changed.length) await trx(this.table).where('id', req.id).update(req.values);
        after = { ...before, ...req.values };
      } else {
        await trx(this.table).where('id', req.id).delete();
        changed = [];
      }
    }
    const event: StoredEvent = { seq, method: req.method as Method, id: req.id, before, after, changed };
    await trx(EVENTS_TABLE).insert({ tbl: this.table, seq, method: req.method, id: req.id, data: eventData(event), ts: new Date().toISOString() });
    if (req.extra) for (const { table, row } of req.extra(event)) await trx(table).insert(row);
    return event;
  }

  async history(filter: Filter, limit: number): Promise<Row[]> {
    const { qb, newestFirst } = this.historyQuery(filter, limit);
    return this.finishHistory((await qb) as Row[], newestFirst);
  }

  async close(): Promise<void> {
    await this.builder.destroy();
  }
}

