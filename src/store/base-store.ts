/**
 * @module store/base-store
 * What the SQLite and knex stores share: the knex instance that builds their SQL, the history plan (keyset
 * pages over `(_seq, id)`, or offset pages under a `_sort`), and decoding of the event record.
 */
import knexFactory, { type Knex } from 'knex';
import { MhError } from '../errors.js';
import { consoleLogger, type Logger } from '../log.js';
import { applyOrder, applyWhere, type Filter } from '../filter/index.js';
import type { ColumnDef, Method, Row } from '../types.js';
import { POST_BY_REFERENCE, ROW_JSON, rowFromDb } from './apply.js';
import { classifyDriverError, faultDetail, refusalFor, storeFailed, storeUnavailable, type DriverFault } from './driver-errors.js';
import { FaultLog } from './fault-log.js';
import { SEQ_COLUMN } from './columns.js';
import type { DbClient, DbTarget } from './db-url.js';
import { EVENTS_TABLE } from './schema.js';
import type { RefRecord } from './refs.js';
import type { ReplayOptions, Retention, Store, StoredEvent, WriteRequest, WriteResult } from './store.js';

/**
 * Rows in the first history page: big enough to amortise a query, small enough that it never blocks for long
 * and the first frame leaves quickly. Later pages grow while their query stays fast, up to 500 rows: reading,
 * framing and writing them (the kernel copies ~150 KB to the peer in the same turn) stays within a few ms here.
 */
export const PAGE_SIZE = 250;
/** How pages are sized: the query times (ms) under which a page doubles or over which it halves, and bounds. */
export interface PagePacing {
  fastMs: number;
  slowMs: number;
  min: number;
  max: number;
}
// Doubling under 2 ms keeps a page under ~4 ms, where it halves. (An indexed 2% filter reads 250 rows in ~1.6 ms
// here, each a row lookup: under a 1 ms rule its pages never grew, and 2000 rows took 8 turns instead of 5.)
export const PAGE_PACING: Readonly<PagePacing> = { fastMs: 2, slowMs: 4, min: 50, max: 500 };

/**
 * Connection pool bounds for PostgreSQL and MySQL (docs/deployment.md, "Databases"). While the database is down
 * a write must fail in seconds, not wait out knex's default minute: a refused connection fails at once
 * (knex propagates create errors), an unanswered one after CONNECT_TIMEOUT_MS, and a request that finds every
 * connection busy waits at most ACQUIRE_TIMEOUT_MS. Idle connections are dropped after IDLE_TIMEOUT_MS, so a
 * restarted database leaves no stale ones for long (knex also discards any whose socket errored or ended).
 */
export const POOL = { min: 0, max: 10, acquireTimeoutMillis: 10_000, createTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 } as const;
export const CONNECT_TIMEOUT_MS = 5_000;
/** TCP keep-alive on database connections: a peer that vanished without a FIN is noticed in about a minute. */
const KEEPALIVE_DELAY_MS = 10_000;

export function knexConfig(target: DbTarget): Knex.Config {
  if (target.client === 'sqlite') {
    return { client: 'better-sqlite3', connection: { filename: target.filename! }, useNullAsDefault: true, pool: { min: 0, max: 1 } };
  }
  const driver =
    target.client === 'pg'
      ? { connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS }
      : { charset: 'utf8mb4', supportBigNumbers: true, connectTimeout: CONNECT_TIMEOUT_MS, enableKeepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS };
  return {
    client: target.client === 'pg' ? 'pg' : 'mysql2',
    connection: { ...driver, ...target.connection! },
    pool: { ...POOL },
    acquireConnectionTimeout: POOL.acquireTimeoutMillis,
  };
}

/** One step of a history plan: run a query, send a page, or give the event loop a turn. */
export type PlanStep =
  | { query: Knex.QueryBuilder; page?: undefined; pause?: undefined }
  | { page: Row[]; query?: undefined; pause?: undefined }
  | { pause: true; query?: undefined; page?: undefined };

/**
 * A position in history order. `id: null` means "after every row with this `_seq`" (the end of a span).
 */
type Key = { seq: number; id: string | null };

/** Where the next history page starts (`seq: -1`: at the window's start). */
export type PageCursor = Key | { offset: number };

/**
 * What the engine knows about the table when a replay starts; each field lets the plan skip work.
 */
export interface PlanHints {
  /** Rows in the table in this snapshot: the window's start is then found by position, not by a scan. */
  totalRows?: number;
  /**
   * The snapshot's last sequence number, given when the filter cannot use an index (SQLite tells us; see
   * SqliteStore): the plan then scans in bounded `_seq` spans and pauses between them, so a selective filter
   * over a big table never holds the event loop for a whole-table scan.
   */
  spansUpTo?: number;
  /**
   * SQL that renders a row as its frame's JSON, or NULL when a stored value's type is not its column's (then
   * the row is read and converted the usual way). Given, pages hold pre-rendered rows (see ROW_JSON).
   */
  jsonSql?: string;
}

/** The column alias of a row's rendered JSON in page queries. */
const JSON_ALIAS = '__msghub_json';

/** `_seq` values per bounded scan step: ~1–3 ms of SQLite work in process (~4 ms in the bench's busy server) when every row must be read to test the filter. */
export const SPAN = 8192;
/**
 * The first page of a span-bounded walk reads a quarter span: the first frame waits for it (measured in the
 * bench's server: a whole span took ~4 ms there, most of a 2% filter's 7–10 ms first frame).
 */
export const FIRST_SPAN = SPAN / 4;
/** Rows beyond the window's excess that the prefix check reads, so a filter matching many of them still passes. */
const PREFIX_SLACK = 1024;

export abstract class BaseStore implements Store {
  readonly client: DbClient;
  /** History page sizing (tests force growth or shrinking through it). */
  pacing: Readonly<PagePacing> = PAGE_PACING;
  protected seq = 0;
  protected readonly builder: Knex;
  /** Driver errors for the log, one line per kind per minute (clients can cause them at will). */
  protected readonly faults: FaultLog;

  constructor(
    readonly target: DbTarget,
    readonly table: string,
    readonly columns: ReadonlyMap<string, ColumnDef>,
    /** Extra indexes to create if missing (`indexes:` kwarg). */
    readonly indexes: readonly (readonly string[])[] = [],
    protected readonly log: Logger = consoleLogger(),
  ) {
    this.client = target.client;
    this.faults = new FaultLog(log);
    // knex connects lazily, on the first query it runs: for SQLite this instance only builds SQL (the store
    // runs it on its own better-sqlite3 connections) unless someone asks for knex() to run queries.
    this.builder = knexFactory({ ...knexConfig(target), log: this.knexLog() });
  }

  /**
   * knex's own warnings ("Connection Error: …", "Acquire connection error: …", one per dead connection or failed
   * attempt) would go to stdout, unthrottled, through an outage: they go to the server log instead, throttled
   * like driver errors (one line per kind a minute; the kind is the text before the first colon).
   */
  private knexLog(): Knex.Config['log'] {
    const report = (level: 'warn' | 'error') => (message: unknown) => {
      const text = typeof message === 'string' ? message : String(message);
      const kind = text.slice(0, Math.max(0, text.indexOf(':'))).slice(0, 60) || 'knex';
      this.faults.report(level, `knex:${kind}`, `table ${this.table}: knex`, text);
    };
    return { warn: report('warn'), error: report('error'), deprecate: (method: string, alternative: string) => this.log('warn', `knex: ${method} is deprecated; use ${alternative}`), debug: () => {} };
  }

  get lastSeq(): number {
    return this.seq;
  }

  abstract committedSeq(): Promise<number>;

  abstract ping(): Promise<void>;

  knex(): Knex {
    return this.builder;
  }

  abstract init(): Promise<void>;
  abstract findRef(scope: string, ref: string): Promise<RefRecord | null>;
  abstract pruneRefs(cutoff: string): Promise<number>;

  /**
   * The client's error for a request the database refused (see store/driver-errors), with the driver's detail
   * logged, throttled. `fault` may come classified (and completed) by the caller. MhErrors pass through.
   */
  protected refusal(err: unknown, req: WriteRequest, fault: DriverFault = classifyDriverError(err, this.client)): MhError {
    if (err instanceof MhError) return err;
    const error = refusalFor(err, fault, req, this.columns);
    const failed = error.code === 'MH_ERR_STORE_FAILED' || error.code === 'MH_ERR_STORE_UNAVAILABLE';
    this.faults.report(
      failed ? 'error' : 'warn',
      `${fault.kind}:${fault.code}`,
      `table ${this.table}: ${failed ? 'write failed' : `the database refused a write (${error.code})`}`,
      faultDetail(err, fault),
    );
    return error;
  }

  /**
   * The error for every request of a batch whose transaction failed as a whole; the detail is logged, throttled.
   * `inDoubt`: the connection may have broken during the COMMIT itself, so the batch may have been stored (its
   * events then reach subscribers through the feed's gap fill, and no client was told it was stored).
   */
  protected batchFailure(err: unknown, inDoubt = false): MhError {
    const fault = classifyDriverError(err, this.client);
    if (fault.kind === 'unavailable') {
      this.faults.report('error', `unavailable:${fault.code}`, `table ${this.table}: the database is unavailable, writes are refused`, faultDetail(err, fault));
      return inDoubt
        ? storeUnavailable(err, 'the connection broke during the commit: the message may have been stored, and subscribers hear of it if it was')
        : storeUnavailable(err);
    }
    this.faults.report('error', `batch:${fault.code}`, `table ${this.table}: write failed, nothing of the batch was stored`, faultDetail(err, fault));
    return storeFailed(err);
  }

  /**
   * What a read (history, resume, gap fill, sequence, cursor) throws for `err`: the catalogued
   * MH_ERR_STORE_UNAVAILABLE when the database cannot be reached (logged here, once per kind a minute, so an
   * outage with many reconnecting clients costs a line a minute), else `err` itself.
   */
  protected readFailure(err: unknown): unknown {
    if (err instanceof MhError) return err;
    const fault = classifyDriverError(err, this.client);
    if (fault.kind !== 'unavailable') return err;
    this.faults.report('error', `unavailable:${fault.code}`, `table ${this.table}: the database is unavailable, reads are refused`, faultDetail(err, fault));
    return storeUnavailable(err, 'retry shortly');
  }
  abstract write(batch: readonly WriteRequest[]): Promise<WriteResult[]>;
  abstract replay(filter: Filter, limit: number, onPage: (rows: Row[]) => void | Promise<void>, options?: ReplayOptions): Promise<number>;
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
   * finds the row `skip` places from the newest one, so the pages can then walk forward by `(_seq, id)`.
   * Within a span it counts inside `(lo, hi]` only.
   */
  protected cutoffQuery(filter: Filter, skip: number, span?: { lo: number; hi: number }): Knex.QueryBuilder {
    let qb = applyWhere(this.builder(this.table).select(SEQ_COLUMN, 'id'), filter, this.client);
    if (span) qb = qb.andWhere(SEQ_COLUMN, '>', span.lo).andWhere(SEQ_COLUMN, '<=', span.hi);
    return qb.orderBy(SEQ_COLUMN, 'desc').orderBy('id', 'desc').limit(1).offset(skip);
  }

  /** The row `skip` places from the oldest one, with no filter: an index-only walk of the `(_seq, id)` index. */
  protected positionQuery(skip: number): Knex.QueryBuilder {
    return this.builder(this.table).select(SEQ_COLUMN, 'id').orderBy(SEQ_COLUMN, 'asc').orderBy('id', 'asc').limit(1).offset(skip);
  }

  protected minSeqQuery(): Knex.QueryBuilder {
    return this.builder(this.table).min({ m: SEQ_COLUMN });
  }

  /** Matches among the table's oldest `rows` rows (they are read through the (_seq, id) index). */
  protected prefixCountQuery(filter: Filter, rows: number): Knex.QueryBuilder {
    const oldest = this.builder(this.table).select('*').orderBy(SEQ_COLUMN, 'asc').orderBy('id', 'asc').limit(rows).as('oldest');
    return applyWhere(this.builder.from(oldest).count({ n: '*' }), filter, this.client);
  }

  /** How many rows in `(lo, hi]` match the filter. */
  protected spanCountQuery(filter: Filter, lo: number, hi: number): Knex.QueryBuilder {
    return applyWhere(this.builder(this.table).count({ n: '*' }), filter, this.client).andWhere(SEQ_COLUMN, '>', lo).andWhere(SEQ_COLUMN, '<=', hi);
  }

  /**
   * The query for one history page. Keyset pages walk the `(_seq, id)` index: the first page starts at the
   * window's oldest row (`lowest`), later ones just after the previous page's last row. `spanEnd` bounds the
   * rows one query may read (see PlanHints.spansUpTo).
   */
  protected pageQuery(filter: Filter, from: PageCursor, lowest: Key | null, upper: Key | null, size: number, spanEnd?: number, jsonSql?: string): Knex.QueryBuilder {
    const cols = jsonSql ? [this.builder.raw(`${jsonSql} AS ${JSON_ALIAS}`), SEQ_COLUMN, 'id'] : [...this.columns.keys(), SEQ_COLUMN];
    let qb = applyWhere(this.builder(this.table).select(cols), filter, this.client);
    if ('offset' in from) {
      return applyOrder(qb, { ...filter, limit: size, offset: (filter.offset ?? 0) + from.offset }, SEQ_COLUMN);
    }
    const start = from.seq >= 0 ? from : lowest;
    if (start) qb = qb.andWhere((b) => this.keyCompare(b, start === from ? '>' : '>=', start));
    if (upper) qb = qb.andWhere((b) => this.keyCompare(b, '<=', upper));
    if (spanEnd !== undefined) qb = qb.andWhere(SEQ_COLUMN, '<=', spanEnd);
    return qb.orderBy(SEQ_COLUMN, 'asc').orderBy('id', 'asc').limit(size);
  }

  /**
   * `(_seq, id) <op> (seq, id)`. A row-value comparison where the database turns it into an index range
   * (SQLite, PostgreSQL); the expanded OR form elsewhere.
   */
  private keyCompare(b: Knex.QueryBuilder, op: '>' | '>=' | '<=', k: Key): void {
    if (k.id === null) {
      // After (or up to) every row of this `_seq`.
      b.where(SEQ_COLUMN, op === '<=' ? '<=' : '>', k.seq);
      return;
    }
    if (this.client !== 'mysql') {
      b.whereRaw(`(??, ??) ${op} (?, ?)`, [SEQ_COLUMN, 'id', k.seq, k.id]);
      return;
    }
    const strict = op === '>=' ? '>' : op === '<=' ? '<' : op;
    b.where(SEQ_COLUMN, strict, k.seq).orWhere((w) => w.where(SEQ_COLUMN, '=', k.seq).andWhere('id', op, k.id));
  }

  /**
   * History as a plan: the generator yields `{query}` steps (the engine runs the query and passes the raw rows
   * back), `{page}` steps (rows to send) and `{pause}` steps (the engine may let the event loop run). Engines
   * drive it synchronously (SQLite, so a replay is atomic on the event loop) or asynchronously (one consistent
   * snapshot in a transaction), with the same logic.
   */
  protected *historyPlan(filter: Filter, limit: number, hints: PlanHints = {}): Generator<PlanStep, void, Row[] | undefined> {
    const n = this.historyCount(filter, limit);
    if (n === 0) return;
    const sorted = filter.sort.length > 0;
    const skip = filter.offset ?? 0;
    const spans = hints.spansUpTo !== undefined && !sorted && filter.where.length > 0;
    let lowest: Key | null = null;
    let upper: Key | null = null;
    const total = hints.totalRows;
    // The table's lowest `_seq` (span walks start or stop there), read at most once.
    let min: number | undefined;
    const keyOf = (r: Row | undefined): Key | null => (r ? { seq: Number(r[SEQ_COLUMN]), id: String(r.id) } : null);
    if (sorted) {
      // Offset pages under ORDER BY: no window to find.
    } else if (total !== undefined && filter.where.length === 0) {
      // No filter: the window is a range of positions in the (_seq, id) index. Walk to it from the oldest end
      // (history windows usually cover most of the table, so that end is the nearer one).
      if (skip >= total) return;
      if (total > skip + n) lowest = keyOf((yield { query: this.positionQuery(total - skip - n) })![0]);
      if (skip > 0) upper = keyOf((yield { query: this.positionQuery(total - skip - 1) })![0]);
    } else if (total !== undefined && total <= n && !skip) {
      // The whole table fits in the window: it starts at the oldest matching row.
    } else if (spans) {
      // Count matches backwards, one bounded span at a time, until the window's oldest row is found (or the
      // table's start is reached: then every match fits).
      min = Number((yield { query: this.minSeqQuery() })![0]?.m ?? 0);
      // A window nearly as big as the table: if the oldest rows hold at least `excess` rows that do not
      // match, at most `n` rows match and the window is every match. One small query, not a count of the table.
      const excess = total !== undefined && !skip ? total - n : Infinity;
      let fits = false;
      if (excess <= SPAN) {
        const look = Math.min(total!, excess + Math.max(excess, PREFIX_SLACK));
        fits = look - Number((yield { query: this.prefixCountQuery(filter, look) })![0]?.n ?? 0) >= excess;
      }
      let counted = 0;
      for (let hi = hints.spansUpTo!; !fits && hi >= min; hi -= SPAN) {
        const span = { lo: hi - SPAN, hi };
        const c = Number((yield { query: this.spanCountQuery(filter, span.lo, span.hi) })![0]?.n ?? 0);
        if (skip > 0 && !upper && counted + c > skip) upper = keyOf((yield { query: this.cutoffQuery(filter, skip - counted, span) })![0]);
        if (counted + c >= skip + n) {
          lowest = keyOf((yield { query: this.cutoffQuery(filter, skip + n - 1 - counted, span) })![0]);
          break;
        }
        counted += c;
        yield { pause: true };
      }
      if (skip > 0 && !upper) return;
    } else {
      lowest = keyOf((yield { query: this.cutoffQuery(filter, skip + n - 1) })![0]);
      // With `_offset`, the newest `offset` rows are skipped: find the newest row we may send.
      if (skip) {
        upper = keyOf((yield { query: this.cutoffQuery(filter, skip) })![0]);
        if (!upper) return;
      }
    }
    let sent = 0;
    let cursor: PageCursor = sorted ? { offset: 0 } : { seq: -1, id: '' };
    // The last `_seq` a span-bounded walk has to reach.
    const end = upper ? upper.seq : hints.spansUpTo ?? 0;
    let spanStart = lowest ? lowest.seq - 1 : -1;
    if (spans && !lowest) {
      min ??= Number((yield { query: this.minSeqQuery() })![0]?.m ?? 0);
      spanStart = min - 1;
    }
    let pageSize = PAGE_SIZE;
    let first = true;
    while (sent < n) {
      const size = Math.min(pageSize, n - sent);
      const spanEnd = spans ? Math.min(end, ('offset' in cursor || cursor.seq < 0 ? spanStart : cursor.seq) + (first ? FIRST_SPAN : SPAN)) : undefined;
      first = false;
      const asked = performance.now();
      const raw = (yield { query: this.pageQuery(filter, cursor, lowest, upper, size, spanEnd, hints.jsonSql) })!;
      // Pages sized by time: fewer turns (and queries) for a cheap query, smaller pages for an expensive one.
      // (Span-bounded pages cost what their span costs, whatever their size.)
      const took = performance.now() - asked;
      const p = this.pacing;
      if (!spans) pageSize = took < p.fastMs && raw.length === size ? Math.min(pageSize * 2, p.max) : took > p.slowMs ? Math.max(p.min, pageSize >> 1) : pageSize;
      if (raw.length > 0) {
        let rows: Row[];
        if (!hints.jsonSql) rows = raw.map((r) => rowFromDb(r, this.columns));
        else {
          rows = raw.map((r) => (r[JSON_ALIAS] === null ? r : { [SEQ_COLUMN]: Number(r[SEQ_COLUMN]), id: r.id, [ROW_JSON]: r[JSON_ALIAS] }));
          // Rows the database would not render (a value stored with another type than its column's, as
          // SQLite allows): read them whole and convert them like any other.
          const odd = raw.filter((r) => r[JSON_ALIAS] === null).map((r) => String(r.id));
          if (odd.length) {
            const whole = (yield { query: this.builder(this.table).select([...this.columns.keys(), SEQ_COLUMN]).whereIn('id', odd) })!;
            const byId = new Map(whole.map((w) => [String(w.id), rowFromDb(w, this.columns)]));
            rows = rows.map((r) => (r[JSON_ALIAS] === null ? byId.get(String(r.id))! : r));
          }
        }
        sent += rows.length;
        yield { page: rows };
        const last = rows[rows.length - 1]!;
        cursor = sorted ? { offset: sent } : { seq: Number(last[SEQ_COLUMN]), id: String(last.id) };
      }
      if (raw.length < size) {
        // A short page ends the history, unless it only ended its span: then the next span starts after it.
        if (spanEnd === undefined || spanEnd >= end) break;
        cursor = { seq: spanEnd, id: null };
        yield { pause: true };
      }
    }
  }

  /**
   * Events with `seq > after`, oldest first. A POST record that holds POST_BY_REFERENCE is joined to its row,
   * which still has that `_seq` (msghub writes the row's JSON into the record before it changes the row); the
   * row's columns come back as r0, r1, … so they cannot clash with the record's own.
   */
  protected eventsQuery(after: number, limit: number): Knex.QueryBuilder {
    return this.builder({ e: EVENTS_TABLE })
      .leftJoin({ m: this.table }, (j) => {
        j.on('m.id', '=', 'e.id').andOn(`m.${SEQ_COLUMN}`, '=', 'e.seq').andOnVal('e.data', '=', POST_BY_REFERENCE);
      })
      .select('e.seq', 'e.method', 'e.id', 'e.data', ...this.eventRowColumns.map((c, i) => ({ [`r${i}`]: `m.${c}` })))
      .where('e.tbl', this.table)
      .andWhere('e.seq', '>', after)
      .orderBy('e.seq')
      .limit(limit);
  }

  private get eventRowColumns(): string[] {
    return [...this.columns.keys(), SEQ_COLUMN];
  }

  /** Decodes one row of eventsQuery. */
  protected eventFromDb(r: Row): StoredEvent {
    const seq = Number(r.seq);
    const method = String(r.method) as Method;
    const id = String(r.id);
    if (r.data === POST_BY_REFERENCE) {
      const cols = this.eventRowColumns;
      // No row at that `_seq`: it was changed or deleted behind msghub's back. The event stays (sequence
      // numbers are gapless) but matches no filter, so a resume skips it.
      if (r[`r${cols.length - 1}`] === null || r[`r${cols.length - 1}`] === undefined) return { seq, method, id, before: null, after: null, changed: [] };
      const raw: Row = {};
      cols.forEach((c, i) => (raw[c] = r[`r${i}`]));
      return { seq, method, id, before: null, after: rowFromDb(raw, this.columns), changed: [...this.columns.keys()] };
    }
    const data = JSON.parse(String(r.data)) as { before: Row | null; after: Row | null; changed?: string[] };
    // POST records that hold their row: every column changed (older ones also stored the list).
    const changed = data.changed ?? (method === 'POST' && data.after ? Object.keys(data.after).filter((k) => k !== SEQ_COLUMN) : []);
    return { seq, method, id, before: data.before, after: data.after, changed };
  }

  protected missingColumns(existing: ReadonlySet<string>): ColumnDef[] {
    const missing = [...this.columns.values()].filter((c) => !existing.has(c.name));
    if (missing.some((c) => c.primaryKey)) {
      throw new MhError('MH_ERR_STORE_FAILED', [`table ${this.table} exists without its primary key column; add it or use another table`]);
    }
    return missing;
  }
}
