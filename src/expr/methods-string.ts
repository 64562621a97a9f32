/**
 * @module expr/methods-string
 * Allowlisted string methods. Arguments are converted by the sandbox (`toStr`/`toNum`) before any native call,
 * so no object's `toString` runs. Methods that can grow a string check the size before building it
 * (`repeat`, `padStart`, `padEnd`, `concat`, `replace`); the rest produce at most a few times their input and
 * are checked after.
 */

import { chargeChars, checkString, type Ctx } from './context.js';
import { forbidden } from './fail.js';
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

/** Checks the size of a string a method produced and charges for it. */
function made(cx: Ctx, s: string): string {
  checkString(cx, s.length);
  chargeChars(cx, s.length);
  return s;
}

function pad(cx: Ctx, s: string, a: Args, start: boolean): string {
  const length = toNum(cx, a[0]);
  if (length > s.length) checkString(cx, length);
  const fill = a[1] === undefined ? ' ' : toStr(cx, a[1]);
  return made(cx, start ? s.padStart(length, fill) : s.padEnd(length, fill));
}

function repeat(cx: Ctx, s: string, a: Args): string {
  const count = toNum(cx, a[0]);
  if (s.length > 0 && count > 0) checkString(cx, s.length * count);
  return made(cx, s.repeat(count));
}

function concat(cx: Ctx, s: string, a: Args): string {
  const parts = a.map((x) => toStr(cx, x));
  checkString(cx, parts.reduce((n, p) => n + p.length, s.length));
  return made(cx, s.concat(...parts));
}

/**
 * String methods by name. `trim`, `slice` and the search methods produce at most their input and need no check;
 * `toUpperCase`/`toLowerCase` can grow a string a little (ß → SS) and are checked after.
 */
export const STRING_METHODS: ReadonlyMap<string, Method> = new Map<string, Method>([
  ['at', { call: (cx, s: string, a) => s.at(toNum(cx, a[0])) }],
  ['charAt', { call: (cx, s: string, a) => s.charAt(toNum(cx, a[0])) }],
  ['charCodeAt', { call: (cx, s: string, a) => s.charCodeAt(toNum(cx, a[0])) }],
  ['codePointAt', { call: (cx, s: string, a) => s.codePointAt(toNum(cx, a[0])) }],
  ['concat', { call: concat }],
  ['endsWith', { call: (cx, s: string, a) => s.endsWith(toStr(cx, a[0]), optNum(cx, a[1])) }],
  ['startsWith', { call: (cx, s: string, a) => s.startsWith(toStr(cx, a[0]), optNum(cx, a[1])) }],
  ['includes', { call: (cx, s: string, a) => s.includes(toStr(cx, a[0]), optNum(cx, a[1])) }],
  ['indexOf', { call: (cx, s: string, a) => s.indexOf(toStr(cx, a[0]), optNum(cx, a[1])) }],
  ['lastIndexOf', { call: (cx, s: string, a) => s.lastIndexOf(toStr(cx, a[0]), optNum(cx, a[1])) }],
  ['match', { regex: true, call: (cx, s: string, a) => regexMatch(cx, needRegex(cx, 'match', a[0]), s) }],
  ['search', { regex: true, call: (cx, s: string, a) => regexSearch(cx, needRegex(cx, 'search', a[0]), s) }],
  ['padStart', { call: (cx, s: string, a) => pad(cx, s, a, true) }],
  ['padEnd', { call: (cx, s: string, a) => pad(cx, s, a, false) }],
  ['repeat', { call: repeat }],
  ['replace', { regex: true, call: (cx, s: string, a) => replaceString(cx, s, pattern(cx, a[0]), toStr(cx, a[1]), false) }],
  ['replaceAll', { regex: true, call: (cx, s: string, a) => replaceString(cx, s, pattern(cx, a[0]), toStr(cx, a[1]), true) }],
  ['slice', { call: (cx, s: string, a) => s.slice(optNum(cx, a[0]), optNum(cx, a[1])) }],
  ['substring', { call: (cx, s: string, a) => s.substring(toNum(cx, a[0]), optNum(cx, a[1])) }],
  [
    'split',
    {
      regex: true,
      call: (cx, s: string, a) => splitString(cx, s, a[0] === undefined ? undefined : pattern(cx, a[0]), optNum(cx, a[1])),
    },
  ],
  ['toLowerCase', { call: (cx, s: string) => made(cx, s.toLowerCase()) }],
  ['toUpperCase', { call: (cx, s: string) => made(cx, s.toUpperCase()) }],
  ['toString', { call: (_cx, s: string) => s }],
  ['trim', { call: (_cx, s: string) => s.trim() }],
  ['trimStart', { call: (_cx, s: string) => s.trimStart() }],
  ['trimEnd', { call: (_cx, s: string) => s.trimEnd() }],
]);
