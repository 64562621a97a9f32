/**
 * @module expr/async
 * Asynchronous continuation without Promises on the hot path. Only a module function can go asynchronous; when
 * it returns a thenable, its call node yields a `Pending` and every enclosing node continues in `.then`. Nodes
 * that cannot contain a module call never check for it (the compiler knows), so a synchronous evaluation
 * allocates no Promise at all. Operands are awaited in evaluation order, so side effects keep their order.
 */

import type { Ctx, Run } from './context.js';

/**
 * The marker of an evaluation that is waiting. Wrapping the Promise (rather than testing values for a `then`
 * method) means data that merely looks like a thenable is never awaited by accident.
 */
export class Pending {
  constructor(readonly p: Promise<unknown>) {}
}

/** Continues with `k` once `v` (a Pending) settles. `k` may itself return a Pending. */
export function after(v: Pending, k: (value: unknown) => unknown): Pending {
  return new Pending(v.p.then((x) => settle(k(x))));
}

/** Applies `k` now, or after `v` settles when it is a Pending. */
export function map(v: unknown, k: (value: unknown) => unknown): unknown {
  return v instanceof Pending ? after(v, k) : k(v);
}

/** Unwraps a Pending into its Promise so that `.then` adopts it. */
function settle(v: unknown): unknown {
  return v instanceof Pending ? v.p : v;
}

/**
 * Evaluates `runs` left to right into `out`, awaiting each Pending before the next run starts, then calls `k`.
 * Used by nodes with asynchronous children; synchronous children complete in the same tick.
 */
export function evalAll(cx: Ctx, runs: readonly Run[], out: unknown[], from: number, k: (vals: unknown[]) => unknown): unknown {
  for (let i = from; i < runs.length; i++) {
    const v = runs[i]!(cx);
    if (v instanceof Pending) {
      return after(v, (x) => {
        out[i] = x;
        return evalAll(cx, runs, out, i + 1, k);
      });
    }
    out[i] = v;
  }
  return k(out);
}

/** True for anything `await` would adopt. Module results are tested with it before they become a Pending. */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
