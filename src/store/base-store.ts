/**
 * @module store/base-store
 * What the SQLite and knex stores share: the knex instance that builds their SQL, the history plan (keyset
 * pages over `(_seq, id)`, or offset pages under a `_sort`), and decoding of the event record.
 */
import knexFactory, { type Knex } from 'knex';
import { MhError } from '../errors.js';
import { applyOrder, applyWhere, type Filter } from '../filter/index.js';
import type { ColumnDef, Method, Row } from '../types.js';
import { rowFromDb } from './apply.js';
import { SEQ_COLUMN } from './columns.js';
import type { DbClient, DbTarget } from './db-url.js';
import type { Retention, Store, StoredEvent, WriteRequest, WriteResult } from './store.js';

/** Rows per history page: big enough to amortise a query, small enough that a page never blocks for long. */
export const PAGE_SIZE = 250;

export function knexConfig(target: DbTarget): Knex.Config {
  if (target.client === 'sqlite') {
    return { client: 'better-sqlite3', connection: { filename: target.filename! }, useNullAsDefault: true, pool: { min: 0, max: 1 } };
  }
  return {
    client: target.client === 'pg' ? 'pg' : 'mysql2',
    connection: { ...target.connection!, ...(target.client === 'mysql' ? { charset: 'utf8mb4', supportBigNumbers: true } : {}) },
    pool: { min: 0, max: 10 },
  };
}

/** One step of a history plan: run a query, or send a page. */
export type PlanStep = { query: Knex.QueryBuilder; page?: undefined } | { page: Row[]; query?: undefined };

/** A position in history order. */
type Key = { seq: number; id: string };

/** Where the next history page starts (`seq: -1`: at the window's start). */
export type PageCursor = Key | { offset: number };

export abstract class BaseStore implements Store {
  readonly client: DbClient;
  protected seq = 0;
  protected readonly builder: Knex;

  constructor(
    readonly target: DbTarget,
    readonly table: string,
    readonly columns: ReadonlyMap<string, ColumnDef>,
    /** Extra indexes to create if missing (`indexes:` kwarg). */
    readonly indexes: readonly (readonly string[])[] = [],
  ) {
    this.client = target.client;
    // knex connects lazily, on the first query it runs: for SQLite this instance only builds SQL (the store
    // runs it on its own better-sqlite3 connections) unless someone asks for knex() to run queries.
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
  abstract replay(filter: Filter, limit: number, onPage: (rows: Row[]) => void | Promise<void>): Promise<number>;
  abstract eventsSince(after: number, limit: number): Promise<StoredEvent[]>;
  abstract oldestSeq(): Promise<number>;
  abstract prune(retention: Retention): Promise<number>;
  abstract getCursor(handler: string, user: string): Promise<number | null>;
  abstract setCursor(handler: string, user: string, seq: number): Promise<void>;
  abstract close(): Promise<void>;

  async history(filter: Filter, limit: number): Promise<Row[]> {
    const all: Row[] = [];
    await this.replay(filter, limit, (rows) => void all.push(...rows));
    return all;
  }

  /** How many rows the history may hold: the handler's bound, narrowed by the client's `_limit`. */
  protected historyCount(filter: Filter, limit: number): number {
    return Math.max(0, Math.min(limit, filter.limit ?? Infinity));
  }

  /**
   * Without `_sort`, history is the newest `n` rows (after `_offset` newest ones), oldest first. This query
   * finds the oldest row of that window, so the pages can then walk forward by `(_seq, id)`.
   */
  protected cutoffQuery(filter: Filter, n: number): Knex.QueryBuilder {
    return applyWhere(this.builder(this.table).select(SEQ_COLUMN, 'id'), filter, this.client)
      .orderBy(SEQ_COLUMN, 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .offset((filter.offset ?? 0) + n - 1);
  }

  /**
   * The query for one history page. Keyset pages walk the `(_seq, id)` index: the first page starts at the
   * window's oldest row (`lowest`), later ones just after the previous page's last row.
   */
  protected pageQuery(filter: Filter, from: PageCursor, lowest: Key | null, upper: Key | null, size: number): Knex.QueryBuilder {
    const cols = [...this.columns.keys(), SEQ_COLUMN];
    let qb = applyWhere(this.builder(this.table).select(cols), filter, this.client);
    if ('offset' in from) {
      return applyOrder(qb, { ...filter, limit: size, offset: (filter.offset ?? 0) + from.offset }, SEQ_COLUMN);
    }
    const start = from.seq >= 0 ? from : lowest;
    if (start) qb = qb.andWhere((b) => this.keyCompare(b, start === from ? '>' : '>=', start));
    if (upper) qb = qb.andWhere((b) => this.keyCompare(b, '<=', upper));
    return qb.orderBy(SEQ_COLUMN, 'asc').orderBy('id', 'asc').limit(size);
  }

  /**
   * `(_seq, id) <op> (seq, id)`. A row-value comparison where the database turns it into an index range
   * (SQLite, PostgreSQL); the expanded OR form elsewhere.
   */
  private keyCompare(b: Knex.QueryBuilder, op: '>' | '>=' | '<=', k: Key): void {
    if (this.client !== 'mysql') {
      b.whereRaw(`(??, ??) ${op} (?, ?)`, [SEQ_COLUMN, 'id', k.seq, k.id]);
      return;
    }
    const strict = op === '>=' ? '>' : op === '<=' ? '<' : op;
    b.where(SEQ_COLUMN, strict, k.seq).orWhere((w) => w.where(SEQ_COLUMN, '=', k.seq).andWhere('id', op, k.id));
  }

  /**
   * History as a plan: the generator yields `{query}` steps (the engine runs the query and passes the raw rows
   * back) and `{page}` steps (rows to send). Engines drive it synchronously (SQLite, so a replay is atomic on
   * the event loop) or asynchronously (one consistent snapshot in a transaction), with the same logic.
   */
  protected *historyPlan(filter: Filter, limit: number, totalRows?: number): Generator<PlanStep, void, Row[] | undefined> {
    const n = this.historyCount(filter, limit);
    if (n === 0) return;
    const sorted = filter.sort.length > 0;
    let lowest: Key | null = null;
    let upper: Key | null = null;
    // When the whole table fits in the window, the window starts at the oldest row: no cutoff query needed.
    const fits = totalRows !== undefined && !filter.offset && totalRows <= n;
    if (!sorted && !fits) {
      const cut = (yield { query: this.cutoffQuery(filter, n) })![0];
      if (cut) lowest = { seq: Number(cut[SEQ_COLUMN]), id: String(cut.id) };
      // With `_offset`, the newest `offset` rows are skipped: find the newest row we may send.
      if (filter.offset) {
        const top = (yield { query: this.cutoffQuery(filter, 1) })![0];
        if (!top) return;
        upper = { seq: Number(top[SEQ_COLUMN]), id: String(top.id) };
      }
    }
    let sent = 0;
    let cursor: PageCursor = sorted ? { offset: 0 } : { seq: -1, id: '' };
    while (sent < n) {
      const size = Math.min(PAGE_SIZE, n - sent);
      const raw = (yield { query: this.pageQuery(filter, cursor, lowest, upper, size) })!;
      if (raw.length === 0) break;
      const rows = raw.map((r) => rowFromDb(r, this.columns));
      sent += rows.length;
      yield { page: rows };
      if (raw.length < size) break;
      const last = rows[rows.length - 1]!;
      cursor = sorted ? { offset: sent } : { seq: Number(last[SEQ_COLUMN]), id: String(last.id) };
    }
  }

  /** Decodes one row of the event record. */
  protected eventFromDb(r: Row): StoredEvent {
    const data = JSON.parse(String(r.data)) as { before: Row | null; after: Row | null; changed: string[] };
    return { seq: Number(r.seq), method: String(r.method) as Method, id: String(r.id), before: data.before, after: data.after, changed: data.changed };
  }

  protected missingColumns(existing: ReadonlySet<string>): ColumnDef[] {
    const missing = [...this.columns.values()].filter((c) => !existing.has(c.name));
    if (missing.some((c) => c.primaryKey)) {
      throw new MhError('MH_ERR_STORE_FAILED', [`table ${this.table} exists without its primary key column; add it or use another table`]);
    }
    return missing;
  }
}
