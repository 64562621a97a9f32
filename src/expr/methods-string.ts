/**
 * @module expr/methods-string
 * Allowlisted string methods. Arguments are converted by the sandbox (`toStr`/`toNum`) before any native call,
 * so no object's `toString` runs. Methods that can grow a string check the size before building it
 * (`repeat`, `padStart`, `padEnd`, `concat`, `replace`); the rest produce at most a few times their input and
 * are checked after. Every method that scans or builds a string charges the characters involved (see
 * `chargeChars`): the step budget counts work, so a million-character `indexOf` is not one step.
 */

import { chargeChars, checkString, type Ctx } from './context.js';
import { forbidden } from './fail.js';
import { WEIGHT_BUILD, WEIGHT_CASE, WEIGHT_SEARCH } from './limits.js';
import type { Method } from './methods.js';
import { regexMatch, regexSearch, replaceString, splitString } from './regex.js';
import { toNum, toStr } from './values.js';

type Args = readonly unknown[];

/** An optional numeric argument: undefined keeps the native default. */
function optNum(cx: Ctx, v: unknown): number | undefined {
  return v === undefined ? undefined : toNum(cx, v);
}

function needRegex(cx: Ctx, name: string, v: unknown): RegExp {
  // A string would be compiled into a pattern: message data must never become a regex.
  if (!(v instanceof RegExp)) return forbidden(cx.path, `"${name}" with a non-regex argument (use a regex literal)`);
  return v;
}

function pattern(cx: Ctx, v: unknown): RegExp | string {
  return v instanceof RegExp ? v : toStr(cx, v);
}

/**
 * Charges the work of building a string of `length` characters, before it is built: size and steps are both
 * known from the arguments, so an over-budget call never runs.
 */
function building(cx: Ctx, length: number, weight: number = WEIGHT_BUILD): void {
  checkString(cx, length);
  chargeChars(cx, length * weight);
}

function pad(cx: Ctx, s: string, a: Args, start: boolean): string {
  const length = toNum(cx, a[0]);
  const fill = a[1] === undefined ? ' ' : toStr(cx, a[1]);
  if (length > s.length && fill.length > 0) building(cx, length);
  return start ? s.padStart(length, fill) : s.padEnd(length, fill);
}

function repeat(cx: Ctx, s: string, a: Args): string {
  const count = toNum(cx, a[0]);
  if (s.length > 0 && count > 0) building(cx, s.length * count);
  return s.repeat(count);
}

function concat(cx: Ctx, s: string, a: Args): string {
  const parts = a.map((x) => toStr(cx, x));
  building(cx, parts.reduce((n, p) => n + p.length, s.length));
  return s.concat(...parts);
}

/**
 * `toUpperCase`/`toLowerCase`: charged by the input before the work (non-ASCII case mapping is the slowest
 * string work there is), and measured after, since a few characters grow (ß → SS).
 */
function caseMap(cx: Ctx, s: string, upper: boolean): string {
  chargeChars(cx, s.length * WEIGHT_CASE);
  const out = upper ? s.toUpperCase() : s.toLowerCase();
  checkString(cx, out.length);
  return out;
}

/** `indexOf`, `lastIndexOf`, `includes`: a search costs up to the receiver's and the needle's length. */
function search(cx: Ctx, s: string, a: Args, kind: 0 | 1 | 2): number | boolean {
  const needle = toStr(cx, a[0]);
  const from = optNum(cx, a[1]);
  chargeChars(cx, (s.length + needle.length) * WEIGHT_SEARCH);
  return kind === 0 ? s.indexOf(needle, from) : kind === 1 ? s.lastIndexOf(needle, from) : s.includes(needle, from);
}

/** `startsWith`/`endsWith`: compare at most the needle's length. */
function affix(cx: Ctx, s: string, a: Args, start: boolean): boolean {
  const x = toStr(cx, a[0]);
  const at = optNum(cx, a[1]);
  chargeChars(cx, x.length);
  return start ? s.startsWith(x, at) : s.endsWith(x, at);
}

/** `slice`/`substring`: charged by the length of the piece. */
function piece(cx: Ctx, s: string, a: Args, sub: boolean): string {
  const out = sub ? s.substring(toNum(cx, a[0]), optNum(cx, a[1])) : s.slice(optNum(cx, a[0]), optNum(cx, a[1]));
  chargeChars(cx, out.length);
  return out;
}

/** `trim`, `trimStart`, `trimEnd`: a string of spaces is read whole. */
function trim(cx: Ctx, s: string, which: 0 | 1 | 2): string {
  chargeChars(cx, s.length);
  return which === 0 ? s.trim() : which === 1 ? s.trimStart() : s.trimEnd();
}

/**
 * String methods by name. `trim`, `slice` and the search methods produce at most their input and need no size
 * check; `toUpperCase`/`toLowerCase` can grow a string a little (ß → SS) and are checked after. `at`, `charAt`,
 * `charCodeAt`, `codePointAt` and `toString` are constant-time and cost only their call's step.
 */
export const STRING_METHODS: ReadonlyMap<string, Method> = new Map<string, Method>([
  ['at', { call: (cx, s: string, a) => s.at(toNum(cx, a[0])) }],
  ['charAt', { call: (cx, s: string, a) => s.charAt(toNum(cx, a[0])) }],
  ['charCodeAt', { call: (cx, s: string, a) => s.charCodeAt(toNum(cx, a[0])) }],
  ['codePointAt', { call: (cx, s: string, a) => s.codePointAt(toNum(cx, a[0])) }],
  ['concat', { call: concat }],
  ['endsWith', { call: (cx, s: string, a) => affix(cx, s, a, false) }],
  ['startsWith', { call: (cx, s: string, a) => affix(cx, s, a, true) }],
  ['includes', { call: (cx, s: string, a) => search(cx, s, a, 2) }],
  ['indexOf', { call: (cx, s: string, a) => search(cx, s, a, 0) }],
  ['lastIndexOf', { call: (cx, s: string, a) => search(cx, s, a, 1) }],
  ['match', { regex: true, call: (cx, s: string, a) => regexMatch(cx, needRegex(cx, 'match', a[0]), s) }],
  ['search', { regex: true, call: (cx, s: string, a) => regexSearch(cx, needRegex(cx, 'search', a[0]), s) }],
  ['padStart', { call: (cx, s: string, a) => pad(cx, s, a, true) }],
  ['padEnd', { call: (cx, s: string, a) => pad(cx, s, a, false) }],
  ['repeat', { call: repeat }],
  ['replace', { regex: true, call: (cx, s: string, a) => replaceString(cx, s, pattern(cx, a[0]), toStr(cx, a[1]), false) }],
  ['replaceAll', { regex: true, call: (cx, s: string, a) => replaceString(cx, s, pattern(cx, a[0]), toStr(cx, a[1]), true) }],
  ['slice', { call: (cx, s: string, a) => piece(cx, s, a, false) }],
  ['substring', { call: (cx, s: string, a) => piece(cx, s, a, true) }],
  [
    'split',
    {
      regex: true,
      call: (cx, s: string, a) => splitString(cx, s, a[0] === undefined ? undefined : pattern(cx, a[0]), optNum(cx, a[1])),
    },
  ],
  ['toLowerCase', { call: (cx, s: string) => caseMap(cx, s, false) }],
  ['toUpperCase', { call: (cx, s: string) => caseMap(cx, s, true) }],
  ['toString', { call: (_cx, s: string) => s }],
  ['trim', { call: (cx, s: string) => trim(cx, s, 0) }],
  ['trimStart', { call: (cx, s: string) => trim(cx, s, 1) }],
  ['trimEnd', { call: (cx, s: string) => trim(cx, s, 2) }],
]);
