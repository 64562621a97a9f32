/**
 * @module store/store
 * The Store contract: one SQL table of messages plus its event record.
 *
 * Ordering contract (the hub and resume rely on it):
 * - `write()` calls are serialized by the caller (one writer per handler table); within one call the requests
 *   are applied in array order, in ONE transaction, and each applied request gets the next sequence number.
 *   Sequence numbers are assigned in commit order and never reused, so subscribers that see events in `seq`
 *   order see the commit order.
 * - A request that fails (not found, forbidden, constraint) leaves nothing behind (it runs in its own savepoint)
 *   and does not consume a sequence number; the others in the batch still commit.
 * - `history()` returns rows ordered as documented in docs/protocol.md and never more than `limit` rows.
 */
import type { Knex } from 'knex';
import type { MhError } from '../errors.js';
import type { Filter } from '../filter/index.js';
import type { ColumnDef, Method, Row } from '../types.js';
import type { DbClient } from './db-url.js';

/** One change to apply. */
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

export interface Store {
  readonly client: DbClient;
  readonly table: string;
  /** Declared + built-in columns in table order (without `_seq`). */
  readonly columns: ReadonlyMap<string, ColumnDef>;
  /** Highest sequence number committed so far. */
  readonly lastSeq: number;
  /** Creates the table (or adds missing columns, keeping rows) and the event record. Idempotent. */
  init(): Promise<void>;
  /** Applies the requests in one transaction. See the ordering contract above. */
  write(batch: readonly WriteRequest[]): Promise<WriteResult[]>;
  /** Rows matching the filter (with `_seq`), at most `limit`, in the documented history order. */
  history(filter: Filter, limit: number): Promise<Row[]>;
  /** A knex instance connected to the same database (for the alert outbox and tools). */
  knex(): Knex;
  close(): Promise<void>;
}
