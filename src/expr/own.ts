/**
 * @module expr/own
 * The only way the sandbox looks inside an object: own data properties, read through their descriptor. A getter
 * is never invoked, a prototype is never consulted, a function is never handed out, and the names that lead to
 * constructors or prototypes are refused outright, whether written literally or computed at run time.
 */

import type { Ctx } from './context.js';
import { forbidden } from './fail.js';

/**
 * Member names an expression may never read or write. Together they are every door from data to code in
 * JavaScript: constructors (`x.constructor.constructor('...')()`), prototypes (`__proto__`, `prototype`), legacy
 * accessor definers, and the function internals `caller`/`callee`/`arguments`.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  'constructor',
  '__proto__',
  'prototype',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
  'caller',
  'callee',
  'arguments',
]);

/** Refuses a forbidden member name. Numbers are never forbidden. */
export function checkKey(cx: Ctx, key: string | number): void {
  if (typeof key === 'string' && FORBIDDEN_KEYS.has(key)) forbidden(cx.path, `the member "${key}"`);
}

/** Describes a value's kind for error messages, without converting it (which could run code). */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'undefined':
      return 'undefined';
    case 'object':
      return 'an object';
    case 'function':
      return 'a function';
    default:
      return `a ${typeof v}`;
  }
}

/**
 * Reads an own data property of `obj`. Absent → undefined (JavaScript semantics). An accessor or a function is
 * refused: expressions see data, never code. The key must already have passed `checkKey`.
 */
export function readOwn(cx: Ctx, obj: object, key: string | number): unknown {
  const d = Object.getOwnPropertyDescriptor(obj, key);
  if (d === undefined) return undefined;
  if (!('value' in d)) forbidden(cx.path, `the accessor property "${String(key)}" (getters are never run)`);
  const v: unknown = d.value;
  if (typeof v === 'function') forbidden(cx.path, `the function "${String(key)}" as a value`);
  return v;
}

/** True for the canonical array-index strings "0", "1", … */
export function isIndexString(key: string): boolean {
  return /^(?:0|[1-9]\d{0,15})$/.test(key);
}

/** Compile-time form of `checkKey`, for member names written literally (`x.constructor`, `x['__proto__']`). */
export function checkKeyStatic(key: string, path: string): void {
  if (FORBIDDEN_KEYS.has(key)) forbidden(path, `the member "${key}"`);
}
