/**
 * @module expr/methods
 * The allowlist of callable methods, and the one place that calls them. A method is looked up in a Map by the
 * receiver's kind (string, number, boolean, array, regex literal), never on the receiver itself, so no
 * prototype is ever consulted and nothing outside these tables is reachable: not `call`, `bind`, `apply`,
 * `constructor`, `toString` of objects, nor any host method.
 */

import { ARRAY_METHODS } from './methods-array.js';
import { STRING_METHODS } from './methods-string.js';
import { Callback } from './callback.js';
import type { Ctx } from './context.js';
import { forbidden, runtime } from './fail.js';
import { describe } from './own.js';
import { regexTest } from './regex.js';
import { toNum, toStr } from './values.js';

/** One allowlisted method. */
export interface Method {
  readonly call: (cx: Ctx, self: never, args: readonly unknown[]) => unknown;
  /** Accepts arrow-function arguments (array iteration methods). */
  readonly callbacks?: boolean;
  /** Accepts a regex literal argument. */
  readonly regex?: boolean;
  /** Changes its receiver: refused on read-only values. */
  readonly mutates?: boolean;
}

const NUMBER_METHODS: ReadonlyMap<string, Method> = new Map<string, Method>([
  ['toFixed', { call: (cx, n: number, a) => n.toFixed(a[0] === undefined ? 0 : toNum(cx, a[0])) }],
  ['toPrecision', { call: (cx, n: number, a) => n.toPrecision(a[0] === undefined ? undefined : toNum(cx, a[0])) }],
  ['toString', { call: (cx, n: number, a) => n.toString(a[0] === undefined ? 10 : toNum(cx, a[0])) }],
]);

const BOOLEAN_METHODS: ReadonlyMap<string, Method> = new Map<string, Method>([
  ['toString', { call: (_cx, b: boolean) => String(b) }],
]);

const REGEX_METHODS: ReadonlyMap<string, Method> = new Map<string, Method>([
  ['test', { call: (cx, re: RegExp, a) => regexTest(cx, re, toStr(cx, a[0])) }],
]);

/** Every allowlisted method name: a static call of any other name is refused at compile time. */
export const METHOD_NAMES: ReadonlySet<string> = new Set([
  ...STRING_METHODS.keys(),
  ...ARRAY_METHODS.keys(),
  ...NUMBER_METHODS.keys(),
  ...BOOLEAN_METHODS.keys(),
  ...REGEX_METHODS.keys(),
]);

/** Names of methods that change their receiver, refused at compile time on read-only roots. */
export const MUTATING_NAMES: ReadonlySet<string> = new Set(
  [...ARRAY_METHODS].filter(([, m]) => m.mutates).map(([name]) => name),
);

function lookup(self: unknown, name: string): Method | undefined {
  switch (typeof self) {
    case 'string':
      return STRING_METHODS.get(name);
    case 'number':
      return NUMBER_METHODS.get(name);
    case 'boolean':
      return BOOLEAN_METHODS.get(name);
    case 'object':
      if (Array.isArray(self)) return ARRAY_METHODS.get(name);
      if (self instanceof RegExp) return REGEX_METHODS.get(name);
      return undefined;
    default:
      return undefined;
  }
}

/** `self[name](...args)` if, and only if, the allowlist says so. */
export function callMethod(cx: Ctx, self: unknown, name: string, args: readonly unknown[]): unknown {
  const m = lookup(self, name);
  if (m === undefined) {
    if (self === null || self === undefined) return runtime(cx.path, `cannot call "${name}" of ${String(self)}`);
    return forbidden(cx.path, `a call to "${name}" on ${describe(self)}`);
  }
  for (const a of args) {
    if (a instanceof Callback && !m.callbacks) forbidden(cx.path, `an arrow function as an argument of "${name}"`);
    if (a instanceof RegExp && !m.regex) forbidden(cx.path, `a regular expression as an argument of "${name}"`);
  }
  if (m.mutates && !Object.isExtensible(self)) forbidden(cx.path, `"${name}" on a read-only array`);
  return m.call(cx, self as never, args);
}
