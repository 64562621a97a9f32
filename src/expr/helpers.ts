/**
 * @module expr/helpers
 * The names every expression may use besides its scope: a handful of functions (`uuid()`, `now()`,
 * `reject(…)`, conversions), a few namespaces (`Math`, `JSON`, `Object`, `Array`, `Number`) and the constants
 * `undefined`, `NaN`, `Infinity`. Helpers are called by the sandbox, never handed out: `uuid` without `()` is a
 * compile error. Each takes its arguments already evaluated, converts them with the sandbox rules and returns
 * plain data.
 */

import { randomUUID } from 'node:crypto';
import { MhError } from '../errors.js';
import { ownKeys, toKey } from './access.js';
import { chargeChars, chargeItems, checkArray, checkString, type Ctx } from './context.js';
import { runtime } from './fail.js';
import { parseJson, stringifyJson } from './json.js';
import { readOwn } from './own.js';
import { toNum, toStr } from './values.js';

/** A helper function. */
export interface Helper {
  readonly call: (cx: Ctx, args: readonly unknown[]) => unknown;
  /**
   * The helper only reads its arguments and returns a primitive or fresh data, so a value from a read-only
   * root may be passed as it is instead of being copied first.
   */
  readonly readsOnly: boolean;
}

/** A helper namespace: functions called as `NS.fn(…)` and constants read as `NS.NAME`. */
export interface Namespace {
  readonly fns: ReadonlyMap<string, Helper>;
  readonly consts: ReadonlyMap<string, unknown>;
}

const reads = (call: Helper['call']): Helper => ({ call, readsOnly: true });
const copies = (call: Helper['call']): Helper => ({ call, readsOnly: false });

/** `reject(message)`: refuses the message with exactly this text, as Gramex's `raise ValueError(...)` did. */
function reject(cx: Ctx, args: readonly unknown[]): never {
  const message = args[0] === undefined ? 'Message rejected' : toStr(cx, args[0]);
  throw new MhError('MH_ERR_MSG_REJECTED', [], { message });
}

function base64url(cx: Ctx, args: readonly unknown[]): string {
  const s = toStr(cx, args[0]);
  // UTF-8 encoding then base64: up to 3 bytes per character and 4 characters per 3 bytes, charged up front.
  chargeChars(cx, s.length * 4);
  const out = Buffer.from(s, 'utf8').toString('base64url');
  checkString(cx, out.length);
  return out;
}

/** A string argument that a helper reads whole, charged by its length. */
function scanned(cx: Ctx, v: unknown): string {
  const s = toStr(cx, v);
  chargeChars(cx, s.length);
  return s;
}

/**
 * Helper functions called by bare name. The conversions mirror JavaScript's global functions but convert their
 * argument with the sandbox rules, so `String(obj)` never runs an object's own `toString`.
 */
export const HELPER_FUNCTIONS: ReadonlyMap<string, Helper> = new Map<string, Helper>([
  ['uuid', reads(() => randomUUID())],
  ['now', reads(() => new Date().toISOString())],
  ['base64url', reads(base64url)],
  ['reject', reads(reject)],
  ['String', reads((cx, a) => (a.length === 0 ? '' : toStr(cx, a[0])))],
  ['Number', reads((cx, a) => (a.length === 0 ? 0 : toNum(cx, a[0])))],
  ['Boolean', reads((_cx, a) => Boolean(a[0]))],
  ['parseInt', reads((cx, a) => parseInt(scanned(cx, a[0]), a[1] === undefined ? undefined : toNum(cx, a[1])))],
  ['parseFloat', reads((cx, a) => parseFloat(scanned(cx, a[0])))],
  ['isNaN', reads((cx, a) => Number.isNaN(toNum(cx, a[0])))],
  ['isFinite', reads((cx, a) => Number.isFinite(toNum(cx, a[0])))],
]);

/** Math functions take numbers and return a number: safe to expose by name, wrapped to convert arguments. */
const MATH_FUNCTIONS = [
  'abs', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atan2', 'atanh', 'cbrt', 'ceil', 'clz32', 'cos', 'cosh', 'exp',
  'expm1', 'floor', 'fround', 'hypot', 'imul', 'log', 'log10', 'log1p', 'log2', 'max', 'min', 'pow', 'random',
  'round', 'sign', 'sin', 'sinh', 'sqrt', 'tan', 'tanh', 'trunc',
] as const;
const MATH_CONSTANTS = ['E', 'LN10', 'LN2', 'LOG10E', 'LOG2E', 'PI', 'SQRT1_2', 'SQRT2'] as const;

function mathFn(name: (typeof MATH_FUNCTIONS)[number]): Helper {
  const f = Math[name] as (...xs: number[]) => number;
  return reads((cx, a) => f(...a.map((x) => toNum(cx, x))));
}

// Object.keys/values/entries build arrays as long as the object has keys: the array cap applies to them too.
function objectKeys(cx: Ctx, v: unknown): string[] {
  const keys = ownKeys(cx, v);
  checkArray(cx, keys.length);
  return keys;
}

function objectValues(cx: Ctx, v: unknown, entries: boolean): unknown[] {
  const keys = ownKeys(cx, v);
  checkArray(cx, keys.length);
  const get = (k: string): unknown => (typeof v === 'string' ? v[Number(k)] : readOwn(cx, v as object, k));
  return keys.map((k) => (entries ? [k, get(k)] : get(k)));
}

/** `Object.fromEntries(pairs)` for an array of `[key, value]` arrays (no iterables: they would run code). */
function fromEntries(cx: Ctx, pairs: unknown): Record<string, unknown> {
  if (!Array.isArray(pairs)) return runtime(cx.path, 'Object.fromEntries expects an array of [key, value] pairs');
  chargeItems(cx, pairs.length);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < pairs.length; i++) {
    const pair = readOwn(cx, pairs, i);
    if (!Array.isArray(pair)) return runtime(cx.path, 'Object.fromEntries expects an array of [key, value] pairs');
    out[toKey(cx, readOwn(cx, pair, 0))] = readOwn(cx, pair, 1); // toKey refused __proto__ & co.
  }
  return out;
}

/**
 * Helper namespaces. Only the members listed here exist: `Object.assign`, `Object.defineProperty`,
 * `Object.getPrototypeOf`, `Array.from`, `JSON.rawJSON`… are compile errors, not undefined.
 */
export const HELPER_NAMESPACES: ReadonlyMap<string, Namespace> = new Map<string, Namespace>([
  [
    'Math',
    {
      fns: new Map(MATH_FUNCTIONS.map((name) => [name, mathFn(name)])),
      consts: new Map(MATH_CONSTANTS.map((name) => [name, Math[name]])),
    },
  ],
  [
    'JSON',
    {
      fns: new Map([
        ['parse', copies((cx, a) => (a[1] === undefined ? parseJson(cx, toStr(cx, a[0])) : runtime(cx.path, 'JSON.parse takes no reviver')))],
        [
          'stringify',
          reads((cx, a) =>
            a[1] === undefined || a[1] === null ? stringifyJson(cx, a[0], a[2]) : runtime(cx.path, 'JSON.stringify takes no replacer (pass null)'),
          ),
        ],
      ]),
      consts: new Map(),
    },
  ],
  [
    'Object',
    {
      fns: new Map([
        ['keys', reads((cx, a) => objectKeys(cx, a[0]))],
        ['values', copies((cx, a) => objectValues(cx, a[0], false))],
        ['entries', copies((cx, a) => objectValues(cx, a[0], true))],
        ['fromEntries', copies((cx, a) => fromEntries(cx, a[0]))],
      ]),
      consts: new Map(),
    },
  ],
  ['Array', { fns: new Map([['isArray', reads((_cx, a) => Array.isArray(a[0]))]]), consts: new Map() }],
  [
    'Number',
    {
      fns: new Map([
        ['isInteger', reads((_cx, a) => Number.isInteger(a[0]))],
        ['isFinite', reads((_cx, a) => Number.isFinite(a[0]))],
        ['isNaN', reads((_cx, a) => Number.isNaN(a[0]))],
      ]),
      consts: new Map([
        ['MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER],
        ['MIN_SAFE_INTEGER', Number.MIN_SAFE_INTEGER],
      ]),
    },
  ],
]);

/** Constant names. `undefined` is not a keyword in JavaScript either; here it cannot be shadowed by data. */
export const HELPER_CONSTANTS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ['undefined', undefined],
  ['NaN', NaN],
  ['Infinity', Infinity],
]);
