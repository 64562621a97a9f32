/**
 * @module core/idempotency
 * Idempotent publish: a message sent with an idempotency key (a WebSocket `_ref` of the form `idem:<key>`, or an
 * HTTP `Idempotency-Key` header) is stored at most once per (table, subscriber key, idempotency key) within the
 * handler's `retention.idempotency` window; a retry is answered with the original acknowledgement (docs/client.md).
 *
 * How, and why it holds across crashes, nodes and races:
 * - the record (store/refs.ts) is inserted by the message's own write, in the same transaction: it exists if and
 *   only if the message was committed, whatever crashed between the commit and the acknowledgement;
 * - a retry runs like any message, and its write is refused: by the record's primary key (a POST or PUT, inside
 *   its own savepoint, so nothing of it stays), or because its original already applied (a DELETE finds no row).
 *   Every refusal of a keyed message looks the key up, after the original committed (in the same group commit,
 *   earlier, or on another node), and a hit answers with the original acknowledgement instead of the error.
 * So the first send, the common case, costs one more row in its transaction and no lookup: the database's key
 * does the guarding, and only a refused message pays a read.
 * Opt-in: plain `_ref`s (numbers, other strings) never touch the record, so ordinary clients pay nothing.
 */
import { createHash } from 'node:crypto';
import { MhError, toMhError } from '../errors.js';
import type { Prepared } from '../pipeline/run.js';
import { REFS_TABLE, refRow, type RefRecord } from '../store/refs.js';
import type { Store, StoredEvent } from '../store/store.js';
import type { Row } from '../types.js';
import type { Reply } from './intake.js';

/** A WebSocket `_ref` that starts with this asks for idempotent publish; the rest is the key. */
export const IDEM_PREFIX = 'idem:';

/** An idempotency key: 16–128 URL-safe characters (a random one cannot be guessed by another client). */
const KEY = /^[A-Za-z0-9_.:-]{16,128}$/;

/** Scopes longer than this are stored as their hash (the column holds 128 characters). */
const MAX_SCOPE = 100;

/** The key `_ref` opts in with, or null for an ordinary reference. Throws MH_ERR_IDEMPOTENCY_KEY when malformed. */
export function refKey(ref: unknown): string | null {
  if (typeof ref !== 'string' || !ref.startsWith(IDEM_PREFIX)) return null;
  return checkKey(ref.slice(IDEM_PREFIX.length));
}

/** `key` if it is a well-formed idempotency key; else throws MH_ERR_IDEMPOTENCY_KEY. */
export function checkKey(key: string): string {
  if (!KEY.test(key)) throw new MhError('MH_ERR_IDEMPOTENCY_KEY', ['it must be 16–128 characters of A-Z a-z 0-9 _ . : -']);
  return key;
}

/**
 * Whose keys these are: the subscriber key (the user's id, or an adapter's key). Anonymous clients share the
 * scope '': their keys must then be unguessable, which 16+ random characters are (docs/client.md).
 */
export function scopeOf(key: string | null): string {
  const k = key ?? '';
  return k.length <= MAX_SCOPE ? k : `sha256:${createHash('sha256').update(k).digest('base64url')}`;
}

/** One message published with an idempotency key. */
export class IdempotentWrite {
  /**
   * @param http whether the answer is an HTTP response (the committed frame is then kept in the record, so a
   *     retry gets the same body); a WebSocket acknowledgement needs only the id and `_seq`.
   */
  constructor(
    private readonly store: Store,
    readonly scope: string,
    readonly key: string,
    private readonly http: boolean,
  ) {}

  /** Adds the record to the message's write, so it is committed in the same transaction. */
  attach(prepared: Prepared): void {
    const req = prepared.req;
    const earlier = req.extra;
    const columns = [...this.store.columns.keys()];
    req.extra = (event) => {
      const rows = earlier ? [...earlier(event)] : [];
      const response = this.http ? JSON.stringify(committedFrame(prepared, event, columns)) : null;
      rows.push({ table: REFS_TABLE, row: refRow(this.store.table, this.scope, this.key, { method: event.method, id: event.id, seq: event.seq, response }) });
      return rows;
    };
  }

  /** `reply`, except that a refusal is first checked against the record: a committed original answers instead. */
  reply(reply: Reply): Reply {
    return {
      committed: (event, frame) => reply.committed(event, frame),
      refused: (err) => {
        // The database is gone or closing: the lookup would fail as well.
        if (err.code === 'MH_ERR_STORE_UNAVAILABLE') return reply.refused(err);
        this.store.findRef(this.scope, this.key).then(
          (rec) => (rec ? answer(rec, reply) : reply.refused(err)),
          () => reply.refused(err),
        );
      },
    };
  }
}

/** Answers `reply` with a committed original. */
export function answer(rec: RefRecord, reply: Reply): void {
  const event: StoredEvent = { seq: rec.seq, method: rec.method, id: rec.id, before: null, after: null, changed: [] };
  let frame: Row;
  try {
    frame = rec.response === null ? { _method: rec.method, id: rec.id, _seq: rec.seq } : (JSON.parse(rec.response) as Row);
  } catch (err) {
    return reply.refused(toMhError(err));
  }
  reply.committed(event, frame);
}

/**
 * The frame subscribers hear for this committed event, as pipeline/commit.ts completes it after the write: a
 * POST's frame gets the stored row's columns (defaults the database filled in) except those `modify` removed, and
 * every frame its `_seq`. Keep the two in step.
 */
function committedFrame(prepared: Prepared, event: StoredEvent, columns: readonly string[]): Row {
  const frame: Row = { ...prepared.frame };
  if (event.method === 'POST') for (const c of columns) if (!(c in frame) && !prepared.omitted?.has(c)) frame[c] = event.after![c];
  frame._seq = event.seq;
  return frame;
}
