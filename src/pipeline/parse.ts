/**
 * @module pipeline/parse
 * Stage 1: a client frame or HTTP body item → a message object with a valid `_method`. Nothing else may look at
 * a client's value before it has passed `checkUntrusted` here (depth, well-formed text, no `__proto__`).
 */
import { MhError } from '../errors.js';
import { METHODS, type Method, type Row } from '../types.js';
import { checkUntrusted } from './untrusted.js';

/**
 * Keys only the server sends. A client's message carrying one would be broadcast verbatim, and every subscriber
 * would read a forged error, reset or acknowledgement (`_ack` and `_auth` are requests on a socket, handled before
 * this point; over HTTP they mean nothing and are refused too). `_seq` is not here: a client may send back a
 * message it received, and the pipeline drops its `_seq`.
 */
const SERVER_KEYS = ['_error', '_reset', '_ack', '_auth'] as const;

export type Message = Row & { _method: Method };

/** What a client's WebSocket frame asks for. `ref` is the client's `_ref`, echoed in the answer. */
export type Frame =
  | { kind: 'message'; msg: Message; ref: unknown }
  | { kind: 'ack'; seq: unknown; ref: unknown }
  | { kind: 'auth'; token: unknown; ref: unknown }
  /** A frame refused after its `_ref` was read, so the error can still name the request it answers. */
  | { kind: 'invalid'; error: MhError; ref: unknown };

/**
 * Decodes a frame's text. Throws MH_ERR_MSG_NOT_JSON / NOT_OBJECT / TOO_DEEP / BAD_TEXT / RESERVED_KEY (no `_ref`
 * can be trusted yet); a frame whose `_ref` was read but that is not a valid message comes back as `invalid`.
 */
export function decodeFrame(text: string): Frame {
  const value = parseJson(text);
  checkObject(value);
  // `_ref` first: once it is known to be safe to echo, every later refusal can name the request it answers.
  const ref = value._ref;
  checkUntrusted(ref);
  delete value._ref;
  try {
    checkUntrusted(value);
    if (Object.hasOwn(value, '_ack')) return { kind: 'ack', seq: value._ack, ref };
    if (Object.hasOwn(value, '_auth')) return { kind: 'auth', token: value._auth, ref };
    return { kind: 'message', msg: checkedMessage(value), ref };
  } catch (err) {
    if (!(err instanceof MhError)) throw err;
    return { kind: 'invalid', error: err, ref };
  }
}

/** Parses a frame's text as a message (tests, tools). Throws like `decodeFrame`, and for `_ack` / `_auth` frames. */
export function parseFrame(text: string): Message {
  return toMessage(parseJson(text));
}

/** JSON.parse with the catalogued error (a frame nested past V8's own limit fails here too, as not JSON). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MhError('MH_ERR_MSG_NOT_JSON', [(err as Error).message]);
  }
}

/**
 * Checks an already-parsed value (frames, HTTP bodies, bodies a framework parsed) and normalises `_method`
 * (default POST, any case). Throws the catalogued error for a value that is not a message.
 */
export function toMessage(value: unknown): Message {
  checkObject(value);
  checkUntrusted(value);
  return checkedMessage(value as Row);
}

function checkObject(value: unknown): asserts value is Row {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new MhError('MH_ERR_MSG_NOT_OBJECT', [value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value]);
  }
}

/** A value that passed `checkUntrusted`: refuses server keys, normalises `_method`. */
function checkedMessage(msg: Row): Message {
  for (const key of SERVER_KEYS) if (Object.hasOwn(msg, key)) throw new MhError('MH_ERR_MSG_RESERVED_KEY', [key]);
  const raw = msg._method ?? 'POST';
  const method = typeof raw === 'string' ? (raw.toUpperCase() as Method) : undefined;
  if (!method || !METHODS.includes(method)) throw new MhError('MH_ERR_MSG_BAD_METHOD', [JSON.stringify(raw)]);
  msg._method = method;
  return msg as Message;
}
