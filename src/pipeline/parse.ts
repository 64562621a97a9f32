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

/** Parses a frame's text as a message (tests, tools). Throws for anything else, `_ack` / `_auth` frames included. */
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

/** Throws MH_ERR_MSG_NOT_OBJECT unless `value` is a JSON object. */
export function checkObject(value: unknown): asserts value is Row {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new MhError('MH_ERR_MSG_NOT_OBJECT', [value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value]);
  }
}

/** A value that passed `checkUntrusted`: refuses server keys, normalises `_method`. */
export function checkedMessage(msg: Row): Message {
  for (const key of SERVER_KEYS) if (Object.hasOwn(msg, key)) throw new MhError('MH_ERR_MSG_RESERVED_KEY', [key]);
  const raw = msg._method ?? 'POST';
  const method = typeof raw === 'string' ? (raw.toUpperCase() as Method) : undefined;
  if (!method || !METHODS.includes(method)) throw new MhError('MH_ERR_MSG_BAD_METHOD', [JSON.stringify(raw)]);
  msg._method = method;
  return msg as Message;
}
