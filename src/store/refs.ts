/**
 * @module store/refs
 * The idempotency record: which (table, scope, key) was committed as which message, so a retried publish is
 * answered with the original acknowledgement instead of being stored twice (core/idempotency.ts, docs/client.md).
 *
 * A record is inserted by the message's own write, in the same transaction (a WriteRequest's `extra`): it exists
 * if and only if its message was committed. The primary key (tbl, scope, ref) is the real guard: a retry racing
 * its original (in the same group commit, or on another node) is refused by it and then answered from the record.
 * Records are deleted once older than the handler's `retention.idempotency` (pruned with the event record).
 */
import type { Knex } from 'knex';
import type { Method, Row } from '../types.js';

export const REFS_TABLE = 'msghub_refs';

/** What a retry is answered with. */
export interface RefRecord {
  method: Method;
  id: string;
  seq: number;
  /** The HTTP answer (the committed frame as JSON) when the original came over HTTP; null for a WebSocket `_ref`. */
  response: string | null;
}

/** The statements that create the idempotency record. */
export function createRefsTable(knex: Knex): Knex.SchemaBuilder {
  return knex.schema.createTable(REFS_TABLE, (t) => {
    t.string('tbl', 128).notNullable();
    // The subscriber key (a user id, an adapter's key; '' for anonymous clients), at most 128 characters (longer
    // keys are stored as their hash: see core/idempotency.ts).
    t.string('scope', 128).notNullable();
    t.string('ref', 128).notNullable();
    t.string('method', 8).notNullable();
    t.text('id').notNullable();
    t.bigInteger('seq').notNullable();
    t.string('ts', 32).notNullable();
    // MySQL's TEXT stops at 64 KB; a committed frame can be a little larger than the message. Others ignore it.
    t.text('response', 'mediumtext').nullable();
    t.primary(['tbl', 'scope', 'ref']);
    // Pruning by age reads this index, never the whole table.
    t.index(['tbl', 'ts'], `${REFS_TABLE}_ts_idx`);
  });
}

/** The row a committed message's idempotency record is (inserted through WriteRequest.extra). */
export function refRow(table: string, scope: string, ref: string, rec: RefRecord): Row {
  return { tbl: table, scope, ref, method: rec.method, id: rec.id, seq: rec.seq, ts: new Date().toISOString(), response: rec.response };
}

/** The query that finds one record. */
export function findRefQuery(knex: Knex, table: string, scope: string, ref: string): Knex.QueryBuilder {
  return knex(REFS_TABLE).select('method', 'id', 'seq', 'response').where({ tbl: table, scope, ref }).limit(1);
}

/** The query that deletes the records of `table` written before `cutoff` (an ISO timestamp). */
export function pruneRefsQuery(knex: Knex, table: string, cutoff: string): Knex.QueryBuilder {
  return knex(REFS_TABLE).where('tbl', table).andWhere('ts', '<', cutoff).delete();
}

/** A database row of REFS_TABLE as a RefRecord (null when there is none). */
export function refFromDb(row: Row | undefined): RefRecord | null {
  if (!row) return null;
  return { method: row.method as Method, id: String(row.id), seq: Number(row.seq), response: row.response === null || row.response === undefined ? null : String(row.response) };
}
