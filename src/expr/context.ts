/**
 * @module expr/context
 * The per-evaluation state every compiled closure receives: the caller's scope, the step counter, the limits,
 * the arrow-parameter frames and a memo of read-only snapshots. One small object per evaluation; nothing else
 * is allocated on the hot path.
 */

import { budget } from './fail.js';
import { CHARS_PER_STEP, type ExprLimits } from './limits.js';

/** Parameters of the arrow functions being evaluated, innermost first via `up`. */
export interface Frame {
  readonly v: readonly unknown[];
  readonly up: Frame | null;
}

/** State of one evaluation. */
export interface Ctx {
  readonly scope: Readonly<Record<string, unknown>>;
  /** YAML path of the expression, carried into every runtime error. */
  readonly path: string;
  readonly limits: ExprLimits;
  steps: number;
  frame: Frame | null;
  /** Read-only values already snapshotted in this evaluation, so the same source gives the same copy. */
  snaps: Map<object, unknown> | null;
  /** Arrays being turned into strings right now: a cycle gives '' as in JavaScript, not a stack overflow. */
  joining: Set<object> | null;
}

/** A compiled node: evaluates to a value, or to a `Pending` when a module function went asynchronous. */
export type Run = (cx: Ctx) => unknown;

/** Creates the state of one evaluation. */
export function createCtx(scope: Readonly<Record<string, unknown>>, path: string, limits: ExprLimits): Ctx {
  return { scope, path, limits, steps: 0, frame: null, snaps: null, joining: null };
}

/** Charges one evaluation step. Called first thing by every compiled node. */
export function step(cx: Ctx): void {
  if (++cx.steps > cx.limits.steps) overSteps(cx);
}

/**
 * Charges the work of a built-in that reads or writes `chars` characters: one step per `CHARS_PER_STEP` (256).
 * Callers whose work per character is heavier pass `chars * weight` (see `WEIGHT_*` in limits.ts), so that one
 * step stands for at most a few microseconds of work whatever the built-in, and the step budget bounds time.
 * An integer shift and add: no allocation, cheap enough for every string operation.
 */
export function chargeChars(cx: Ctx, chars: number): void {
  cx.steps += Math.floor(chars / CHARS_PER_STEP);
  if (cx.steps > cx.limits.steps) overSteps(cx);
}

/** Charges `steps` steps at once (work estimated by the caller, e.g. a regex search). */
export function chargeSteps(cx: Ctx, steps: number): void {
  cx.steps += steps;
  if (cx.steps > cx.limits.steps) overSteps(cx);
}

/** Charges the work of a built-in that visits `items` array elements or object keys: one step per 16. */
export function chargeItems(cx: Ctx, items: number): void {
  cx.steps += Math.floor(items / 16);
  if (cx.steps > cx.limits.steps) overSteps(cx);
}

/** Refuses a string of `length` code units before it is built. */
export function checkString(cx: Ctx, length: number): void {
  if (length > cx.limits.stringLength) {
    budget(cx.path, `a string of ${length} characters is longer than the limit of ${cx.limits.stringLength}`);
  }
}

/** Refuses an array of `length` elements before it is built. */
export function checkArray(cx: Ctx, length: number): void {
  if (length > cx.limits.arrayLength) {
    budget(cx.path, `an array of ${length} elements is longer than the limit of ${cx.limits.arrayLength}`);
  }
}

function overSteps(cx: Ctx): never {
  budget(cx.path, `more than ${cx.limits.steps} evaluation steps`);
}
