/**
 * @module expr/access
 * Member reads, member writes and read-only snapshots: the sandbox's whole model of data.
 *
 * - Reads see own data properties of objects and arrays, and `length`/indices of strings (see `own.ts`).
 * - Writes go to objects reachable from a writable root or created by the expression. Read-only roots (e.g.
 *   `handler`) are refused at compile time; values that come out of them are deep-frozen copies ("snapshots"),
 *   so `msg.u = handler.current_user; msg.u.id = 'x'` fails instead of rewriting who the user is.
 * - A write never runs a setter: existing accessors and non-writable properties are refused, new keys on
 *   objects with an unusual prototype are defined, not assigned.
 */

import { chargeChars, chargeItems, checkArray, type Ctx } from './context.js';
import { forbidden, runtime } from './fail.js';
import { checkKey, describe, FORBIDDEN_KEYS, isIndexString, readOwn } from './own.js';
import { toStr } from './values.js';

/** Snapshots made by any evaluation: deep-frozen plain data, safe to hand out again as is. */
const SNAPSHOTS = new WeakSet<object>();

/** Turns a computed member (`a[k]`) into a property key: integers stay numbers, anything else becomes a string. */
export function toKey(cx: Ctx, k: unknown): string | number {
  if (typeof k === 'number') return Number.isInteger(k) && k >= 0 ? k : String(k);
  const key = typeof k === 'string' ? k : toStr(cx, k);
  chargeChars(cx, key.length); // a property lookup hashes the whole key
  checkKey(cx, key);
  return key;
}

/** `obj[key]` for a key that passed `checkKey`/`toKey`. */
export function getMember(cx: Ctx, obj: unknown, key: string | number): unknown {
  if (typeof obj === 'object') {
    if (obj === null) return runtime(cx.path, `cannot read "${key}" of null`);
    return readOwn(cx, obj, key);
  }
  if (typeof obj === 'string') {
    if (key === 'length') return obj.length;
    if (typeof key === 'number') return obj[key];
    return isIndexString(key) ? obj[Number(key)] : undefined;
  }
  if (obj === undefined) return runtime(cx.path, `cannot read "${key}" of undefined`);
  if (typeof obj === 'function') return forbidden(cx.path, `a member of a function ("${key}")`);
  return undefined; // numbers, booleans, bigints: no own properties
}

/** `obj[key] = value`, under the write rules in the module comment. */
export function setMember(cx: Ctx, obj: unknown, key: string | number, value: unknown): void {
  if (typeof obj !== 'object' || obj === null) return runtime(cx.path, `cannot set "${key}" on ${describe(obj)}`);
  checkKey(cx, key);
  if (!Object.isExtensible(obj)) return forbidden(cx.path, `a write to a read-only value (setting "${key}")`);
  if (Array.isArray(obj)) {
    if (key === 'length') return setLength(cx, obj, value);
    const index = typeof key === 'number' ? key : isIndexString(key) ? Number(key) : -1;
    if (index >= 0) checkArray(cx, Math.max(obj.length, index + 1));
  }
  const d = Object.getOwnPropertyDescriptor(obj, key);
  if (d !== undefined) {
    if (!('value' in d) || !d.writable) return forbidden(cx.path, `a write to the read-only property "${key}"`);
    (obj as Record<string | number, unknown>)[key] = value;
    return;
  }
  const proto: unknown = Object.getPrototypeOf(obj);
  if (proto === Object.prototype || proto === Array.prototype || proto === null) {
    // These prototypes have no setters except __proto__, which checkKey refused: assignment is a plain define.
    (obj as Record<string | number, unknown>)[key] = value;
  } else {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  }
}

/** `arr.length = n` may only shrink an array: growing it would make holes up to any size. */
function setLength(cx: Ctx, arr: unknown[], n: unknown): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > arr.length) {
    return runtime(cx.path, `array length can only be set to an integer between 0 and ${arr.length}`);
  }
  arr.length = n;
}

/**
 * A deep-frozen plain copy of a value read from a read-only root: own enumerable data only, accessors and
 * functions refused. Made once per source object per evaluation; snapshots are reused as they are.
 */
export function snapshot(cx: Ctx, v: unknown): unknown {
  if (typeof v !== 'object' || v === null) {
    if (typeof v === 'function') return forbidden(cx.path, 'a function as a value');
    return v;
  }
  if (SNAPSHOTS.has(v)) return v;
  const memo = (cx.snaps ??= new Map());
  const seen = memo.get(v);
  if (seen !== undefined) return seen;
  if (Array.isArray(v)) {
    checkArray(cx, v.length);
    chargeItems(cx, v.length);
    const out: unknown[] = new Array<unknown>(v.length);
    memo.set(v, out);
    for (let i = 0; i < v.length; i++) out[i] = snapshot(cx, readOwn(cx, v, i));
    return seal(out);
  }
  const keys = Object.keys(v);
  chargeItems(cx, keys.length);
  const out: Record<string, unknown> = {};
  memo.set(v, out);
  for (const k of keys) {
    checkKey(cx, k);
    out[k] = snapshot(cx, readOwn(cx, v, k));
  }
  return seal(out);
}

function seal<T extends object>(o: T): T {
  Object.freeze(o);
  SNAPSHOTS.add(o);
  return o;
}

/** Own enumerable keys of what a spread or `Object.keys` may see: objects, arrays and strings. */
export function ownKeys(cx: Ctx, v: unknown): string[] {
  if (typeof v === 'string') return Object.keys(v);
  if (typeof v !== 'object' || v === null) return [];
  const keys = Object.keys(v);
  chargeItems(cx, keys.length);
  return keys;
}

/** Copies own enumerable data properties of `src` into `dst` (object spread), refusing forbidden keys. */
export function assignOwn(cx: Ctx, dst: Record<string, unknown>, src: unknown): void {
  if (typeof src === 'string') {
    checkArray(cx, src.length); // one key per character: the same cap as an array of them
    chargeItems(cx, src.length);
    for (let i = 0; i < src.length; i++) dst[i] = src[i];
    return;
  }
  if (typeof src !== 'object' || src === null) return; // {...null}, {...1}: nothing, as in JavaScript
  for (const k of ownKeys(cx, src)) {
    if (FORBIDDEN_KEYS.has(k)) forbidden(cx.path, `the member "${k}" in a spread`);
    dst[k] = readOwn(cx, src, k);
  }
}
