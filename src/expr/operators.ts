/**
 * @module expr/operators
 * Arithmetic, comparison, bitwise and unary operators. Operands are converted with the sandbox rules first
 * (`toPrim`), after which the native operator runs on primitives only, where JavaScript runs no user code.
 * `+` checks the length of a string result before it is built. Operators on strings charge their length
 * (`chargeChars`): comparing or converting a megabyte is work, not one step. Numbers take the same path with
 * one `typeof` test more.
 */

import { chargeChars, checkString, type Ctx } from './context.js';
import { WEIGHT_BUILD } from './limits.js';
import { looseEquals, toPrim } from './values.js';

/** A binary operator on evaluated operands. */
export type BinaryOp = (cx: Ctx, a: unknown, b: unknown) => unknown;
/** A unary operator on an evaluated operand. */
export type UnaryOp = (cx: Ctx, a: unknown) => unknown;

/* eslint-disable @typescript-eslint/no-explicit-any -- the native operators are applied to primitives of any kind */
type P = any;
/** An operand as a primitive; a string operand is charged, since comparing or converting it reads it whole. */
function prim(cx: Ctx, v: unknown): P {
  const p = toPrim(cx, v);
  if (typeof p === 'string') chargeChars(cx, p.length);
  return p;
}

/** `===`: two strings of the same length are compared character by character. */
function strictEquals(cx: Ctx, a: unknown, b: unknown): boolean {
  if (typeof a === 'string' && typeof b === 'string' && a.length === b.length) chargeChars(cx, a.length);
  return a === b;
}

/** `a + b`: string concatenation if either side converts to a string, numeric addition otherwise. */
export function add(cx: Ctx, a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  const x: P = prim(cx, a);
  const y: P = prim(cx, b);
  if (typeof x === 'string' || typeof y === 'string') {
    const s = String(x);
    const t = String(y);
    checkString(cx, s.length + t.length);
    chargeChars(cx, (s.length + t.length) * WEIGHT_BUILD); // V8 concatenates lazily; the copy comes on first read
    return s + t;
  }
  return x + y;
}

/** Non-short-circuit binary operators by symbol; anything else jsep parses (`in`, `instanceof`) is refused. */
export const BINARY_OPS: ReadonlyMap<string, BinaryOp> = new Map<string, BinaryOp>([
  ['+', add],
  ['-', (cx, a, b) => prim(cx, a) - prim(cx, b)],
  ['*', (cx, a, b) => prim(cx, a) * prim(cx, b)],
  ['/', (cx, a, b) => prim(cx, a) / prim(cx, b)],
  ['%', (cx, a, b) => prim(cx, a) % prim(cx, b)],
  ['**', (cx, a, b) => prim(cx, a) ** prim(cx, b)],
  ['==', (cx, a, b) => looseEquals(cx, a, b)],
  ['!=', (cx, a, b) => !looseEquals(cx, a, b)],
  ['===', strictEquals],
  ['!==', (cx, a, b) => !strictEquals(cx, a, b)],
  ['<', (cx, a, b) => prim(cx, a) < prim(cx, b)],
  ['>', (cx, a, b) => prim(cx, a) > prim(cx, b)],
  ['<=', (cx, a, b) => prim(cx, a) <= prim(cx, b)],
  ['>=', (cx, a, b) => prim(cx, a) >= prim(cx, b)],
  ['&', (cx, a, b) => prim(cx, a) & prim(cx, b)],
  ['|', (cx, a, b) => prim(cx, a) | prim(cx, b)],
  ['^', (cx, a, b) => prim(cx, a) ^ prim(cx, b)],
  ['<<', (cx, a, b) => prim(cx, a) << prim(cx, b)],
  ['>>', (cx, a, b) => prim(cx, a) >> prim(cx, b)],
  ['>>>', (cx, a, b) => prim(cx, a) >>> prim(cx, b)],
]);

/** Short-circuit operators: the right operand is evaluated only when needed. */
export const LOGICAL_OPS: ReadonlySet<string> = new Set(['&&', '||', '??']);

/** Unary operators. `typeof` is registered with jsep by parse.ts; `delete` and `void` do not exist. */
export const UNARY_OPS: ReadonlyMap<string, UnaryOp> = new Map<string, UnaryOp>([
  ['-', (cx, a) => -prim(cx, a)],
  ['+', (cx, a) => +prim(cx, a)],
  ['!', (_cx, a) => !a],
  ['~', (cx, a) => ~prim(cx, a)],
  ['typeof', (_cx, a) => typeof a],
]);
