/**
 * @module expr/values
 * Conversions that JavaScript would do implicitly (`'' + x`, `x < y`, `` `${x}` ``), done by the sandbox instead.
 * Native coercion of an object calls its `toString`/`valueOf`/`Symbol.toPrimitive`; here no object method ever
 * runs: arrays join through a budgeted loop, every other object is `[object Object]`. Primitives convert
 * natively, which runs no user code.
 */

import { chargeChars, chargeItems, checkString, type Ctx } from './context.js';
import { WEIGHT_BUILD } from './limits.js';
import { readOwn } from './own.js';

/** ToPrimitive without calling anything: arrays join, dates and regexes print as built-ins do, others are tagged. */
export function toPrim(cx: Ctx, v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return joinArray(cx, v, ',');
  if (v instanceof RegExp) return RegExp.prototype.toString.call(v);
  if (v instanceof Date) return Date.prototype.toString.call(v);
  return '[object Object]';
}

/** `String(v)` under the sandbox rules. */
export function toStr(cx: Ctx, v: unknown): string {
  if (typeof v === 'string') return v;
  return String(toPrim(cx, v));
}

/** `Number(v)` under the sandbox rules. Parsing a string reads it whole, so it is charged. */
export function toNum(cx: Ctx, v: unknown): number {
  if (typeof v === 'number') return v;
  const p = toPrim(cx, v);
  if (typeof p === 'string') chargeChars(cx, p.length);
  return Number(p);
}

/**
 * `arr.join(sep)` that reads only own data elements, charges for the work, refuses a result over the string
 * limit as soon as it gets there, and treats a cycle as '' as JavaScript does.
 */
export function joinArray(cx: Ctx, arr: readonly unknown[], sep: string): string {
  const joining = (cx.joining ??= new Set());
  if (joining.has(arr)) return '';
  joining.add(arr);
  try {
    chargeItems(cx, arr.length);
    const parts: string[] = [];
    let total = 0;
    for (let i = 0; i < arr.length; i++) {
      const el = readOwn(cx, arr, i);
      const s = el === null || el === undefined ? '' : toStr(cx, el);
      total += s.length + (i > 0 ? sep.length : 0);
      checkString(cx, total);
      parts.push(s);
    }
    chargeChars(cx, total * WEIGHT_BUILD);
    return parts.join(sep);
  } finally {
    joining.delete(arr);
  }
}

/**
 * `a == b` with objects converted by `toPrim` (two objects compare by identity, as in JavaScript). A string
 * operand is charged by its length: it is compared or parsed as a number character by character.
 */
export function looseEquals(cx: Ctx, a: unknown, b: unknown): boolean {
  const ao = typeof a === 'object' && a !== null;
  const bo = typeof b === 'object' && b !== null;
  if (ao && bo) return a === b;
  const x = ao ? toPrim(cx, a) : a;
  const y = bo ? toPrim(cx, b) : b;
  if (typeof x === 'string') chargeChars(cx, typeof y === 'string' ? Math.min(x.length, y.length) : x.length);
  else if (typeof y === 'string') chargeChars(cx, y.length);
  // eslint-disable-next-line eqeqeq -- loose equality is the operator being implemented; both sides are primitives here
  return x == y;
}
