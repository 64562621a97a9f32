/**
 * @module pipeline/normalize
 * Stage 4 (after prepare): decide exactly what will be written. Column values are converted to their column's
 * kind (and written back into the message, so the broadcast shows what history will show); keys that are not
 * columns are broadcast but never stored (as Gramex). PUT and DELETE must name one row by a non-empty string id
 * (Gramex updates or deletes every row when id is missing: ARCHITECTURE decision 2).
 */
import { MhError } from '../errors.js';
import { coerce, INVALID } from '../store/columns.js';
import type { ColumnDef, Row } from '../types.js';
import type { Message } from './parse.js';

/** Columns a PUT can never change: `id` addresses the row, `user` is its owner (no claiming or handing off). */
const IMMUTABLE_ON_PUT = new Set(['id', 'user']);

/** Returns the id and column values to write; converts the message's column values in place. */
export function normalize(msg: Message, columns: ReadonlyMap<string, ColumnDef>): { id: string; values: Row } {
  const method = msg._method;
  const id = msg.id;
  if (typeof id !== 'string' || id === '') {
    throw new MhError('MH_ERR_MSG_MISSING_ID', [method === 'POST' ? 'POST (after message_default)' : method]);
  }
  const values: Row = {};
  if (method === 'DELETE') return { id, values };
  for (const col of columns.values()) {
    const name = col.name;
    if (!Object.hasOwn(msg, name)) continue;
    if (method === 'PUT' && IMMUTABLE_ON_PUT.has(name)) continue;
    const v = coerce(col.kind, msg[name]);
    if (v === INVALID) throw new MhError('MH_ERR_MSG_BAD_VALUE', [name, describe(msg[name])]);
    msg[name] = v;
    values[name] = v;
  }
  return { id, values };
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v) ?? String(v);
  return `${typeof v} ${s.length > 40 ? s.slice(0, 40) + '…' : s}`;
}
