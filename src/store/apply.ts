/**
 * @module store/apply
 * The rules of one write, shared by every Store engine so SQLite and knex back ends decide alike:
 * which row a request addresses, who may change it, and what the whole row looks like afterwards.
 */
import { MhError } from '../errors.js';
import type { ColumnDef, Row } from '../types.js';
import { SEQ_COLUMN, fromDb } from './columns.js';
import type { StoredEvent, WriteRequest } from './store.js';

/**
 * Ownership (ARCHITECTURE decision 3): a row whose `user` is set may be changed only by that user, unless the
 * handler says `edit: any`. Rows with a null `user` stay editable by anyone.
 */
export function checkOwnership(req: WriteRequest, before: Row): MhError | null {
  if (req.editAny) return null;
  const owner = before.user;
  if (owner === null || owner === undefined || owner === req.userId) return null;
  return new MhError('MH_ERR_MSG_FORBIDDEN', [], { message: `Only the user who posted ${req.id} may ${req.method === 'PUT' ? 'edit' : 'delete'} it` });
}

/**
 * The row a PUT or DELETE addresses, as read from the database (`raw`), after the existence and ownership
 * checks. Throws MH_ERR_MSG_NOT_FOUND or MH_ERR_MSG_FORBIDDEN.
 */
export function existingRow(req: WriteRequest, raw: Row | undefined, columns: ReadonlyMap<string, ColumnDef>): Row {
  if (!raw) throw new MhError('MH_ERR_MSG_NOT_FOUND', [req.id]);
  const before = rowFromDb(raw, columns);
  const denied = checkOwnership(req, before);
  if (denied) throw denied;
  return before;
}

/** The whole row a POST creates: every column, with the column default (or null) where the message is silent. */
export function rowForPost(req: WriteRequest, columns: ReadonlyMap<string, ColumnDef>, seq: number): Row {
  const row: Row = {};
  for (const c of columns.values()) {
    const v = req.values[c.name];
    row[c.name] = v !== undefined ? v : c.default !== undefined ? c.default : null;
  }
  row[SEQ_COLUMN] = seq;
  return row;
}

/**
 * A history row the database already rendered as its frame's JSON (SQLite's json_object): such a row holds
 * only `_seq`, `id` and the text under this key, and is sent as is (see SqliteStore.rowJsonSql).
 */
export const ROW_JSON: unique symbol = Symbol('msghub.row-json');

/** The pre-rendered JSON of a history row, if it has one. */
export function rowJson(row: Row): string | undefined {
  return (row as { [ROW_JSON]?: string })[ROW_JSON];
}

/** Converts a row read from the database to canonical JS values, keeping `_seq`. */
export function rowFromDb(raw: Row, columns: ReadonlyMap<string, ColumnDef>): Row {
  const row: Row = {};
  for (const c of columns.values()) if (c.name in raw) row[c.name] = fromDb(c.kind, raw[c.name]);
  if (SEQ_COLUMN in raw) row[SEQ_COLUMN] = raw[SEQ_COLUMN] === null ? 0 : Number(raw[SEQ_COLUMN]);
  return row;
}

/**
 * A POST's event record holds this instead of the row: the row itself is in the table, at the same `_seq`, and
 * writing it twice doubled the bytes each message costs the database. The record gets the row's JSON
 * (`postData`) just before msghub changes or deletes that row, so a resume still reads what was posted. Event
 * readers join the table on `id` and `_seq` for records that hold it (BaseStore.eventsQuery).
 */
export const POST_BY_REFERENCE = '';

/** The JSON stored in the event record for one event. */
export function eventData(ev: StoredEvent): string {
  return ev.method === 'POST' ? POST_BY_REFERENCE : JSON.stringify({ before: ev.before, after: ev.after, changed: ev.changed });
}

/** A POST record's JSON, written when the row it refers to is about to change (`row` holds the POST's `_seq`). */
export function postData(row: Row): string {
  return JSON.stringify({ before: null, after: row });
}
