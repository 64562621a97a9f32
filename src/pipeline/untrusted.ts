/**
 * @module pipeline/untrusted
 * The one check every value from a client passes before anything else looks at it (a WebSocket frame, an HTTP
 * body item, a body a framework parsed for us), and every frame passes again before it is committed:
 *
 * - **depth** at most `MAX_JSON_DEPTH` levels of arrays and objects. `JSON.parse` accepts far deeper values than
 *   `JSON.stringify` (and `structuredClone`) can handle: a 12 KB frame nesting 6000 arrays parses, then throws a
 *   RangeError in the acknowledgement that echoes it. The bound also stops a hook's cycle (`msg.me = msg`).
 * - **well-formed text**: no lone surrogate in any string or key. SQLite would store one as invalid UTF-8 and
 *   history would return U+FFFD where the sender was acknowledged with the original; refusing it keeps what is
 *   acknowledged, broadcast and replayed the same.
 * - **no `__proto__` key** at any depth: relayed verbatim, it pollutes the prototype of a client that merges
 *   messages with `Object.assign` or a spread into an existing object.
 *
 * The walk is iterative in spirit (bounded recursion: it stops at the depth limit), visits each value once and
 * allocates nothing.
 */
import { MhError } from '../errors.js';

/** Most levels of nested arrays and objects a message may have (the message object itself is level 1). */
export const MAX_JSON_DEPTH = 32;

/** Throws MH_ERR_MSG_TOO_DEEP, MH_ERR_MSG_BAD_TEXT or MH_ERR_MSG_RESERVED_KEY; returns nothing when the value is fine. */
export function checkUntrusted(value: unknown): void {
  walk(value, 1, '');
}

function walk(v: unknown, depth: number, at: string): void {
  if (typeof v === 'string') {
    if (!v.isWellFormed()) throw new MhError('MH_ERR_MSG_BAD_TEXT', [where(at)]);
    return;
  }
  if (v === null || typeof v !== 'object') return;
  if (depth > MAX_JSON_DEPTH) throw new MhError('MH_ERR_MSG_TOO_DEEP', [MAX_JSON_DEPTH]);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, at);
    return;
  }
  for (const key in v) {
    if (!Object.hasOwn(v, key)) continue;
    if (key === '__proto__') throw new MhError('MH_ERR_MSG_RESERVED_KEY', ['__proto__']);
    if (!key.isWellFormed()) throw new MhError('MH_ERR_MSG_BAD_TEXT', ['a key']);
    walk((v as Record<string, unknown>)[key], depth + 1, at === '' ? key : at);
  }
}

/** Names the top-level key a bad string sits under, without echoing the string (or a huge key) back. */
function where(at: string): string {
  if (at === '') return 'the message';
  return at.length > 40 ? `key "${at.slice(0, 40)}…"` : `key "${at}"`;
}
