/**
 * @module pipeline/delete-keys
 * A client's DELETE names its row by `id` alone. Gramex ANDs every other column key and operator key of a DELETE
 * (`"topic": "Help"`, `"timestamp<": "2000"`) into its WHERE clause, so such a DELETE deletes nothing when the row
 * does not match. msghub does not evaluate those conditions; rather than silently drop a guard the client meant
 * (and delete a row Gramex would have kept), it refuses the DELETE with an `_error` naming the keys.
 *
 * Checked on the message as the client sent it, before `message_default` and `prepare`: keys those add (Gramex's
 * guide adds `length: 0` to every message) are the app's own, not a client's guard.
 */
import { MhError } from '../errors.js';
import { resolveKey } from '../filter/operators.js';
import type { ColumnDef, Row } from '../types.js';

/** Throws MH_ERR_MSG_DELETE_KEYS when a DELETE carries a key Gramex would read as a condition. */
export function checkDeleteKeys(msg: Row, columns: ReadonlyMap<string, ColumnDef>): void {
  let conditions: string[] | undefined;
  for (const key of Object.keys(msg)) {
    if (key === 'id' || key === '_method' || key === '_seq') continue;
    if (resolveKey(key, (c) => columns.has(c))) (conditions ??= []).push(JSON.stringify(key));
  }
  if (conditions) throw new MhError('MH_ERR_MSG_DELETE_KEYS', [conditions.join(', ')]);
}
