/**
 * @module pipeline/parse
 * Stage 1: a client frame or HTTP body item → a message object with a valid `_method`.
 */
import { MhError } from '../errors.js';
import { METHODS, type Method, type Row } from '../types.js';

export type Message = Row & { _method: Method };

/** Parses a frame's text. Throws MH_ERR_MSG_NOT_JSON / MH_ERR_MSG_NOT_OBJECT / MH_ERR_MSG_BAD_METHOD. */
export function parseFrame(text: string): Message {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MhError('MH_ERR_MSG_NOT_JSON', [(err as Error).message]);
  }
  return toMessage(value);
}

/** Checks an already-parsed value (HTTP bodies, tests) and normalises `_method` (default POST, any case). */
export function toMessage(value: unknown): Message {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new MhError('MH_ERR_MSG_NOT_OBJECT', [value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value]);
  }
  const msg = value as Row;
  const raw = msg._method ?? 'POST';
  const method = typeof raw === 'string' ? (raw.toUpperCase() as Method) : undefined;
  if (!method || !METHODS.includes(method)) throw new MhError('MH_ERR_MSG_BAD_METHOD', [JSON.stringify(raw)]);
  msg._method = method;
  return msg as Message;
}
