/**
 * @module expr/methods-array
 * Allowlisted array methods. Elements are read as own data (`readOwn`), results are sized before they are
 * allocated, callbacks are sandbox arrows run through `invoke` (each of their nodes costs steps), and the
 * mutating methods are reached only when `callMethod` has checked that the receiver is writable.
 */

import { Callback, invoke } from './callback.js';
import { chargeChars, chargeItems, checkArray, type Ctx } from './context.js';
import { runtime } from './fail.js';
import type { Method } from './methods.js';
import { readOwn } from './own.js';
import { joinArray, toNum, toStr } from './values.js';

type Args = readonly unknown[];
type Arr = unknown[];

/** One element, as own data: an index getter is refused, a hole is undefined. */
function el(cx: Ctx, arr: Arr, i: number): unknown {
  return readOwn(cx, arr, i);
}

/** The callback argument of an iteration method: only an arrow written in the expression qualifies. */
function fn(cx: Ctx, name: string, v: unknown): Callback {
  if (!(v instanceof Callback)) return runtime(cx.path, `"${name}" expects an arrow function, e.g. x => x.id`);
  return v;
}

/** ToIntegerOrInfinity of an optional index argument. */
function int(cx: Ctx, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Math.trunc(toNum(cx, v));
  return Number.isNaN(n) ? 0 : n;
}

/** A relative index (negative counts from the end) clamped to [0, len]. */
function rel(n: number, len: number): number {
  return n < 0 ? Math.max(len + n, 0) : Math.min(n, len);
}

/** Visits elements in order until `stop` says so; returns the index it stopped at, or -1. */
function scan(cx: Ctx, arr: Arr, a: Args, name: string, stop: (r: unknown) => boolean): number {
  const cb = fn(cx, name, a[0]);
  const len = arr.length;
  for (let i = 0; i < len; i++) if (stop(invoke(cx, cb, el(cx, arr, i), i, arr))) return i;
  return -1;
}

/** `map(cb)`: the result has the receiver's length, so it is checked before the loop. */
function map(cx: Ctx, arr: Arr, a: Args): Arr {
  const cb = fn(cx, 'map', a[0]);
  const len = arr.length;
  checkArray(cx, len);
  const out: Arr = new Array<unknown>(len);
  for (let i = 0; i < len; i++) out[i] = invoke(cx, cb, el(cx, arr, i), i, arr);
  return out;
}

function filter(cx: Ctx, arr: Arr, a: Args): Arr {
  const cb = fn(cx, 'filter', a[0]);
  const out: Arr = [];
  for (let i = 0, len = arr.length; i < len; i++) {
    const v = el(cx, arr, i);
    if (invoke(cx, cb, v, i, arr)) out.push(v);
  }
  checkArray(cx, out.length);
  return out;
}

/** `reduce(cb, init?)`: every callback runs under the step budget, so an explosive accumulator is bounded. */
function reduce(cx: Ctx, arr: Arr, a: Args): unknown {
  const cb = fn(cx, 'reduce', a[0]);
  const len = arr.length;
  let i = 0;
  let acc: unknown;
  if (a.length >= 2) acc = a[1];
  else if (len === 0) return runtime(cx.path, 'reduce of an empty array with no initial value');
  else acc = el(cx, arr, i++);
  for (; i < len; i++) acc = invoke(cx, cb, acc, el(cx, arr, i), i, arr);
  return acc;
}

/**
 * Characters a strict comparison of `x` with `v` reads: a string against a string of the same length is
 * compared character by character; anything else is decided at once.
 */
function compared(x: unknown, v: unknown): number {
  return typeof x === 'string' && typeof v === 'string' && v.length === x.length ? x.length : 0;
}

/**
 * `indexOf` (strict equality) and `includes` (SameValueZero: NaN finds NaN), written out rather than native so
 * that elements are read as own data and the scan is charged, string comparisons by their length.
 */
function indexOf(cx: Ctx, arr: Arr, x: unknown, from: number, zero: boolean): number {
  const len = arr.length;
  chargeItems(cx, len);
  for (let i = rel(from, len); i < len; i++) {
    const v = el(cx, arr, i);
    chargeChars(cx, compared(x, v));
    if (v === x || (zero && Number.isNaN(x) && Number.isNaN(v))) return i;
  }
  return -1;
}

function lastIndexOf(cx: Ctx, arr: Arr, a: Args): number {
  const len = arr.length;
  chargeItems(cx, len);
  const from = int(cx, a[1], len - 1);
  for (let i = from < 0 ? len + from : Math.min(from, len - 1); i >= 0; i--) {
    const v = el(cx, arr, i);
    chargeChars(cx, compared(a[0], v));
    if (v === a[0]) return i;
  }
  return -1;
}

/** `slice(start, end)`: a fresh array, sized before it is allocated. */
function slice(cx: Ctx, arr: Arr, a: Args): Arr {
  const len = arr.length;
  const start = rel(int(cx, a[0], 0), len);
  const end = rel(int(cx, a[1], len), len);
  const n = Math.max(end - start, 0);
  checkArray(cx, n);
  chargeItems(cx, n);
  const out: Arr = new Array<unknown>(n);
  for (let i = 0; i < n; i++) out[i] = el(cx, arr, start + i);
  return out;
}

/** `concat(...items)`: array items are spread one level (no Symbol.isConcatSpreadable: it would run code). */
function concat(cx: Ctx, arr: Arr, a: Args): Arr {
  checkArray(cx, a.reduce<number>((n, x) => n + (Array.isArray(x) ? x.length : 1), arr.length));
  const out: Arr = slice(cx, arr, []);
  for (const x of a) {
    if (Array.isArray(x)) for (let i = 0; i < x.length; i++) out.push(el(cx, x, i));
    else out.push(x);
  }
  chargeItems(cx, out.length);
  return out;
}

/** `flat()` / `flat(1)` only: deeper flattening would multiply sizes faster than one check can follow. */
function flat(cx: Ctx, arr: Arr, a: Args): Arr {
  const depth = a[0] === undefined ? 1 : toNum(cx, a[0]);
  if (depth !== 1) return runtime(cx.path, 'flat only supports depth 1');
  const items: Arr = [];
  for (let i = 0; i < arr.length; i++) items.push(el(cx, arr, i));
  return concat(cx, [], items);
}

/** The default sort order (by string, undefined last), with each element converted once and under budget. */
function sort(cx: Ctx, arr: Arr, a: Args): Arr {
  if (a[0] !== undefined) {
    const cb = fn(cx, 'sort', a[0]);
    return arr.sort((x, y) => {
      const r = toNum(cx, invoke(cx, cb, x, y));
      return Number.isNaN(r) ? 0 : r;
    });
  }
  const len = arr.length;
  const rounds = Math.max(1, Math.ceil(Math.log2(len + 1)));
  chargeItems(cx, len * rounds);
  const keyed: [string, unknown][] = [];
  let undef = 0;
  let chars = 0;
  for (let i = 0; i < len; i++) {
    const v = el(cx, arr, i);
    if (v === undefined) undef++;
    else {
      const k = toStr(cx, v);
      chars += k.length;
      keyed.push([k, v]);
    }
  }
  chargeChars(cx, chars * rounds); // each key takes part in about log2(n) comparisons
  keyed.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  keyed.forEach(([, v], i) => (arr[i] = v));
  for (let i = keyed.length; i < keyed.length + undef; i++) arr[i] = undefined;
  return arr;
}

/** `splice(start, deleteCount, ...items)`: the final length is computed and checked before the native call. */
function splice(cx: Ctx, arr: Arr, a: Args): Arr {
  const len = arr.length;
  const start = rel(int(cx, a[0], 0), len);
  const del = a.length < 2 ? len - start : Math.min(Math.max(int(cx, a[1], 0), 0), len - start);
  const items = a.slice(2);
  checkArray(cx, len - del + items.length);
  chargeItems(cx, len);
  return arr.splice(start, del, ...items);
}

/** `push` and `unshift`, checked against the array cap first (unshift also pays for moving every element). */
function grow(cx: Ctx, arr: Arr, a: Args, front: boolean): number {
  checkArray(cx, arr.length + a.length);
  chargeItems(cx, front ? arr.length + a.length : a.length);
  return front ? arr.unshift(...a) : arr.push(...a);
}

const CB = { callbacks: true } as const;
const MUT = { mutates: true } as const;

/**
 * Array methods by name. Iteration visits every index from 0 to the length the array had when the call began
 * (holes read as undefined), so a callback that pushes onto the array it walks cannot make the walk endless.
 */
export const ARRAY_METHODS: ReadonlyMap<string, Method> = new Map<string, Method>([
  ['at', { call: (cx, arr: Arr, a) => { const i = int(cx, a[0], 0); return el(cx, arr, i < 0 ? arr.length + i : i); } }],
  ['includes', { call: (cx, arr: Arr, a) => indexOf(cx, arr, a[0], int(cx, a[1], 0), true) >= 0 }],
  ['indexOf', { call: (cx, arr: Arr, a) => indexOf(cx, arr, a[0], int(cx, a[1], 0), false) }],
  ['lastIndexOf', { call: lastIndexOf }],
  ['join', { call: (cx, arr: Arr, a) => joinArray(cx, arr, a[0] === undefined ? ',' : toStr(cx, a[0])) }],
  ['slice', { call: slice }],
  ['concat', { call: concat }],
  ['flat', { call: flat }],
  ['map', { ...CB, call: map }],
  ['filter', { ...CB, call: filter }],
  ['reduce', { ...CB, call: reduce }],
  ['forEach', { ...CB, call: (cx, arr: Arr, a) => void scan(cx, arr, a, 'forEach', () => false) }],
  ['some', { ...CB, call: (cx, arr: Arr, a) => scan(cx, arr, a, 'some', (r) => !!r) >= 0 }],
  ['every', { ...CB, call: (cx, arr: Arr, a) => scan(cx, arr, a, 'every', (r) => !r) < 0 }],
  ['find', { ...CB, call: (cx, arr: Arr, a) => { const i = scan(cx, arr, a, 'find', (r) => !!r); return i < 0 ? undefined : el(cx, arr, i); } }],
  ['findIndex', { ...CB, call: (cx, arr: Arr, a) => scan(cx, arr, a, 'findIndex', (r) => !!r) }],
  ['push', { ...MUT, call: (cx, arr: Arr, a) => grow(cx, arr, a, false) }],
  ['unshift', { ...MUT, call: (cx, arr: Arr, a) => grow(cx, arr, a, true) }],
  ['pop', { ...MUT, call: (_cx, arr: Arr) => arr.pop() }],
  ['shift', { ...MUT, call: (cx, arr: Arr) => (chargeItems(cx, arr.length), arr.shift()) }],
  ['splice', { ...MUT, call: splice }],
  ['sort', { ...MUT, callbacks: true, call: sort }],
  ['reverse', { ...MUT, call: (cx, arr: Arr) => (chargeItems(cx, arr.length), arr.reverse()) }],
]);
