/**
 * @module store/store
 * The Store contract: one SQL table of messages plus its event record.
 *
 * Ordering contract (the hub, the bus feed, replay and resume rely on it):
 * - `write()` calls are serialized (by the store itself); within one call the requests are applied in array
 *   order, in ONE transaction, and each applied request gets the next sequence number. Sequence numbers are
 *   assigned by the database, inside the write transaction, from the table's row in `msghub_seq` (locked until
 *   the commit: SQLite's write lock, a row lock on PostgreSQL and MySQL). So they are in commit order, gapless per
 *   table and never reused, across any number of processes writing to the same database: when `_seq` n+2 is
 *   committed, n+1 is committed and readable. Subscribers that see events in `seq` order see the commit order.
 * - A request that fails (not found, forbidden, constraint) leaves nothing behind (it runs in its own savepoint)
 *   and does not consume a sequence number; the others in the batch still commit.
 * - A row's `_seq` is the sequence number of the last event that wrote it (its POST or latest PUT). History is
 *   ordered by it, so history is in commit order of the rows' current state.
 * - `replay()` reads one consistent snapshot and reports the sequence number it reflects: every event with a
 *   higher number happened after the snapshot, every other one is in it.
 */
import type { Knex } from 'knex';
import type { MhError } from '../errors.js';
import type { Filter } from '../filter/index.js';
import type { ColumnDef, Method, Row } from '../types.js';
import type { DbClient } from './db-url.js';
import type { RefRecord } from './refs.js';

/** One change to apply. */
export interface ReplayOptions {
  /**
   * The pages go straight to a socket: a store may hand over rows it rendered as JSON itself (see ROW_JSON in
   * store/apply.ts), which only `_seq`, `id` and that text. Ignored under a `_c` projection.
   */
  json?: boolean;
}

export interface WriteRequest {
  method: Method;
  /** The row id (POST: the generated id; PUT/DELETE: the id the client named). */
  id: string;
  /** Column values (already converted to the column kinds). POST: the new row; PUT: the changed columns; DELETE: {}. */
  values: Row;
  /** Current user's id (null when anonymous), for the ownership rule. */
  userId: string | null;
  /** `edit: any`: skip the ownership rule. */
  editAny: boolean;
  /** Rows to insert into other tables iff this request is applied (e.g. the alert outbox), given its event. */
  extra?: (event: StoredEvent) => { table: string; row: Row }[];
}

/** What an applied request did: enough to match it against any subscriber filter and to resume from it. */
export interface StoredEvent {
  seq: number;
  method: Method;
  id: string;
  /** The whole row before the change (PUT, DELETE), else null. */
  before: Row | null;
  /** The whole row after the change (POST, PUT), else null. */
  after: Row | null;
  /** Columns the request wrote (PUT), or all of them (POST). */
  changed: string[];
}

export type WriteResult = { ok: true; event: StoredEvent } | { ok: false; error: MhError };

/** How long the event record keeps events (for resume). Whichever bound is hit first prunes. */
export interface Retention {
  maxCount: number;
  maxAgeMs: number;
  /** How long idempotency records (store/refs.ts) are kept at least: a retry within it is never stored twice. */
  idempotencyMs?: number;
}

export interface Store {
  readonly client: DbClient;
  readonly table: string;
  /** Declared + built-in columns in table order (without `_seq`). */
  readonly columns: ReadonlyMap<string, ColumnDef>;
  /**
   * Highest sequence number this process knows to be committed (its own commits, and others' it has read): no
   * query. The database may be ahead when other processes write; `committedSeq()` asks it.
   */
  readonly lastSeq: number;
  /** The highest sequence number committed to this table by any process, read from the database. */
  committedSeq(): Promise<number>;
  /** Creates the table (or adds missing columns, keeping rows) and the event record. Idempotent. */
  init(): Promise<void>;
  /** Applies the requests in one transaction. See the ordering contract above. */
  write(batch: readonly WriteRequest[]): Promise<WriteResult[]>;
  /**
   * Streams the rows matching the filter (with `_seq`), at most `limit`, oldest first (or in `_sort` order), in
   * pages, from one consistent snapshot; awaits `onPage` between pages so a big replay never blocks the event
   * loop. Resolves with the sequence number the snapshot reflects (read from `msghub_seq` in the same snapshot,
   * so other processes' commits are counted exactly when their rows are in it).
   */
  replay(filter: Filter, limit: number, onPage: (rows: Row[]) => void | Promise<void>, options?: ReplayOptions): Promise<number>;
  /** All of `replay` at once (HTTP reads, tests). */
  history(filter: Filter, limit: number): Promise<Row[]>;
  /** Events with `seq > after`, oldest first, at most `limit`. */
  eventsSince(after: number, limit: number): Promise<StoredEvent[]>;
  /** The oldest sequence number still in the event record (lastSeq + 1 when it is empty). */
  oldestSeq(): Promise<number>;
  /** Deletes events beyond the retention bounds; returns how many. */
  prune(retention: Retention): Promise<number>;
  /** A durable subscriber's acknowledged position (null if it never acknowledged). */
  getCursor(handler: string, user: string): Promise<number | null>;
  /** Moves a durable subscriber's position forward (never backward). */
  setCursor(handler: string, user: string, seq: number): Promise<void>;
  /**
   * The idempotency record of a committed message (store/refs.ts), or null. The record itself is written by the
   * message's own write (WriteRequest.extra), in its transaction.
   */
  findRef(scope: string, ref: string): Promise<RefRecord | null>;
  /** Deletes this table's idempotency records written before `cutoff` (an ISO timestamp); returns how many. */
  pruneRefs(cutoff: string): Promise<number>;
  /**
   * Readiness (`/readyz`): one cheap query on this table's sequence row, so it proves both that the database
   * answers and that the schema is in place. Throws (MH_ERR_STORE_UNAVAILABLE when it cannot be reached).
   */
  ping(): Promise<void>;
  /** A knex instance connected to the same database (for the alert outbox and tools). */
  knex(): Knex;
  close(): Promise<void>;
}
