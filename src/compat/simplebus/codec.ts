/**
 * @module compat/simplebus/codec
 * SimpleBus's wire shape. A message is any JSON object with `to` (a list of addresses) and usually `message`;
 * the bus adds `_id` (kept when the sender gave one, else 32 hex digits) and overwrites `sender` with the
 * authenticated user, and passes every other key (`uid`, `tags`, custom keys) through intact. What a recipient
 * receives is the sender's JSON with those two keys set, in the sender's key order (as SimpleBus's dict update).
 *
 * One message is stored once, in the handler's table, with these columns (all text):
 *   mid (the `_id`), to (JSON), sender, uid (text or JSON), message (JSON), type, filename, display_filename,
 *   recipients (`|u1|u2|`: who it was routed to at send time), push (`|u|`: those of them that are HTTP push
 *   users), notice (null for a message; see NOTICE), body (the exact JSON text recipients receive).
 * Subscribers hear `body` as it is: encoded once per event, whoever receives it.
 *
 * Client frames (WebSocket): `{"type":"connect",…}` (handled before the core sees the socket, see ws.ts);
 * `{"type":"confirmation","data":"<_id>","confirm"?:"<user>"}`; anything else is a message (`"direct": true`
 * makes it a direct one). When `uid_required` and a frame has no `uid`, the bus answers
 * `{"type":"ERROR","data":<the frame>}` and goes on processing it, as SimpleBus does.
 */
import { randomBytes } from 'node:crypto';
import { MhError, toMhError } from '../../errors.js';
import type { Message } from '../../pipeline/parse.js';
import { checkUntrusted } from '../../pipeline/untrusted.js';
import type { Codec, Intent } from '../../protocol/codec.js';
import type { ColumnDef, Row } from '../../types.js';

/** The message table's columns (besides msghub's id, user, timestamp). */
export const COLUMNS = ['mid', 'to', 'sender', 'uid', 'message', 'type', 'filename', 'display_filename', 'recipients', 'push', 'notice', 'body'] as const;

/**
 * What a row that is not a message is (always direct, never stored):
 * - `confirmation`: `{"type":"confirmation","data":<_id>}` forwarded to the user a confirmation named in
 *   `confirm` (its `recipients` is that user);
 * - `confirmed`: a recipient confirmed a direct message (`mid`, `sender` = who): no subscriber matches it
 *   (`recipients` is empty); it tells the node whose HTTP `direct` call waits for it.
 */
export type Notice = 'confirmation' | 'confirmed';

/** Most addresses in `to`, and longest `_id`. */
const MAX_TO = 1000;
const ID = /^[^\u0000-\u001f\u007f|]{1,128}$/u;

/** A control frame of SimpleBus's own, as the codec hands it to the adapter. */
export type Control =
  | { type: 'confirmation'; id: string; confirm: string | null }
  | { type: 'connect' }
  | { type: 'ignore' }
  /** A frame without `uid` while `uid_required`: answer ERROR with `frame`, then handle `next` as usual. */
  | { type: 'missing-uid'; frame: unknown; next: Intent };

/** A SimpleBus message (from a socket or `/put`), checked, ready for the intake. */
export interface WireMessage {
  /** The sender's JSON (a copy): `_id` is set here; `sender` is set by the pipeline, which knows who sent it. */
  wire: Record<string, unknown>;
  to: string[];
  mid: string;
  direct: boolean;
}

/** What a file message adds (files.ts). */
export interface FileFields {
  type?: string;
  filename?: string;
  display_filename?: string;
}

/** A new `_id`: 32 hex digits, as SimpleBus's `uuid4().hex`. */
export function newMid(): string {
  return randomBytes(16).toString('hex');
}

/** Checks a message object (already through checkUntrusted) and gives it its `_id`. */
export function parseWire(value: unknown): WireMessage {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['the message must be a JSON object']);
  const wire = { ...(value as Record<string, unknown>) };
  const to = wire.to;
  if (!Array.isArray(to) || to.length > MAX_TO || !to.every((t) => typeof t === 'string' && t.length <= 130)) {
    throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', [`"to" must be a list of at most ${MAX_TO} addresses ("@user", "#tag", "$all")`]);
  }
  let mid = wire._id;
  if (mid === undefined || mid === null || mid === '') mid = newMid();
  else if (typeof mid !== 'string' || !ID.test(mid)) throw new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['"_id" must be text of 1-128 characters']);
  wire._id = mid;
  return { wire, to: to as string[], mid: mid as string, direct: wire.direct === true };
}

/**
 * The message the intake takes for a SimpleBus message: its columns, and the wire object under `_wire`, which
 * the pipeline's prepare (adapter.ts) completes with `sender` and the recipients and turns into `body`.
 */
export function toIntake(m: WireMessage, extra: FileFields = {}): Message {
  // A file message carries `type: "file"`, `filename` and `display_filename` on the wire too.
  const w = extra.type ? Object.assign(m.wire, extra) : m.wire;
  const msg: Row = {
    _method: 'POST',
    mid: m.mid,
    to: JSON.stringify(m.to),
    uid: w.uid === undefined || w.uid === null ? null : typeof w.uid === 'string' ? w.uid : JSON.stringify(w.uid),
    message: w.message === undefined ? null : JSON.stringify(w.message),
    type: extra.type ?? (typeof w.type === 'string' ? w.type : null),
    filename: extra.filename ?? null,
    display_filename: extra.display_filename ?? null,
    notice: null,
    _wire: w,
  };
  if (m.direct) msg._direct = true;
  return msg as Message;
}

function errorFrame(data: unknown): string {
  try {
    return JSON.stringify({ type: 'ERROR', data });
  } catch {
    return '{"type":"ERROR"}';
  }
}

/** The ERROR frame SimpleBus sends back for a frame without `uid`. */
export function missingUidFrame(frame: unknown): string {
  return errorFrame(frame);
}

/** SimpleBus's application-level keep-alive. */
export const PING_FRAME = '{"type":"ping"}';

export function simpleBusCodec(options: { uidRequired: boolean }): Codec {
  const decodeObject = (v: Record<string, unknown>): Intent => {
    if (v.type === 'confirmation') {
      const id = v.data;
      if (typeof id !== 'string' || !ID.test(id)) return { kind: 'invalid', error: new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['a confirmation needs "data": the _id']), ref: undefined };
      const confirm = typeof v.confirm === 'string' && v.confirm !== '' ? v.confirm : null;
      return { kind: 'control', control: { type: 'confirmation', id, confirm } satisfies Control, ref: undefined };
    }
    if (v.type === 'connect') return { kind: 'control', control: { type: 'connect' } satisfies Control, ref: undefined };
    if (v.type === 'ping' || v.type === 'pong') return { kind: 'control', control: { type: 'ignore' } satisfies Control, ref: undefined };
    try {
      return { kind: 'message', msg: toIntake(parseWire(v)), ref: undefined };
    } catch (err) {
      return { kind: 'invalid', error: toMhError(err), ref: undefined };
    }
  };
  return {
    name: 'simplebus',
    decode(text: string): Intent {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        return { kind: 'invalid', error: new MhError('MH_ERR_MSG_NOT_JSON', ['not JSON']), ref: undefined };
      }
      try {
        checkUntrusted(v);
      } catch (err) {
        return { kind: 'invalid', error: toMhError(err), ref: undefined };
      }
      if (!v || typeof v !== 'object' || Array.isArray(v)) return { kind: 'invalid', error: new MhError('MH_ERR_SIMPLEBUS_REQUEST', ['the message must be a JSON object']), ref: undefined };
      const o = v as Record<string, unknown>;
      const intent = decodeObject(o);
      if (options.uidRequired && (o.uid === undefined || o.uid === null)) {
        return { kind: 'control', control: { type: 'missing-uid', frame: v, next: intent } satisfies Control, ref: undefined };
      }
      return intent;
    },
    event(frame: Row): string {
      return typeof frame.body === 'string' ? frame.body : '{}';
    },
    history(row: Row): string {
      return typeof row.body === 'string' ? row.body : '{}';
    },
    // SimpleBus acknowledges nothing on a socket: the core only calls this for a message sent with a reference,
    // and this codec never reads one.
    ack(): string {
      return '{}';
    },
    error(err: MhError): string {
      return errorFrame({ code: err.code, message: err.message });
    },
    reset(): string {
      return '{}';
    },
    authOk(): string {
      return '{}';
    },
  };
}

/** The message table's column definitions (all text). */
export function columnSpecs(): Record<string, string> {
  return Object.fromEntries(COLUMNS.map((c) => [c, 'TEXT']));
}

export type { ColumnDef };
