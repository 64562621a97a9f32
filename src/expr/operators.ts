/**
 * @module expr/operators
 * Arithmetic, comparison, bitwise and unary operators. Operands are converted with the sandbox rules first
 * (`toPrim`), after which the native operator runs on primitives only, where JavaScript runs no user code.
 * `+` checks the length of a string result before it is built.
 */

import { checkString, type Ctx } from './context.js';
import { looseEquals, toPrim } from './values.js';

/** A binary operator on evaluated operands. */
export type BinaryOp = (cx: Ctx, a: unknown, b: unknown) => unknown;
/** A unary operator on an evaluated operand. */
export type UnaryOp = (cx: Ctx, a: unknown) => unknown;

/* eslint-disable @typescript-eslint/no-explicit-any -- the native operators are applied to primitives of any kind */
type P = any;
const prim = (cx: Ctx, v: unknown): P => toPrim(cx, v);

/** `a + b`: string concatenation if either side converts to a string, numeric addition otherwise. */
export function add(cx: Ctx, a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  const x: P = prim(cx, a);
  const y: P = prim(cx, b);
  if (typeof x === 'string' || typeof y === 'string') {
    const s = String(x);
    const t = String(y);
    checkString(cx, s.length + t.length);
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
  ['===', (_cx, a, b) => a === b],
  ['!==', (_cx, a, b) => a !== b],
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
