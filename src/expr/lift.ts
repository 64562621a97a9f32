/**
 * @module expr/lift
 * Builders for the closures of compiled nodes. Each charges one step, evaluates its operands in order and
 * combines them. When no operand can go asynchronous (known at compile time) the closure is a plain function
 * call chain with no allocation; otherwise operands are awaited one by one through `Pending`.
 */

import { after, evalAll, map, Pending } from './async.js';
import { snapshot } from './access.js';
import { step, type Ctx, type Run } from './context.js';
import { node, SHORT, type C } from './lex.js';

/** A node with one operand. */
export function lift1(a: C, f: (cx: Ctx, x: unknown) => unknown): Run {
  const ra = a.run;
  if (!a.async) {
    return (cx) => {
      step(cx);
      return f(cx, ra(cx));
    };
  }
  return (cx) => {
    step(cx);
    return map(ra(cx), (x) => f(cx, x));
  };
}

/** A node with two operands, evaluated left to right. */
export function lift2(a: C, b: C, f: (cx: Ctx, x: unknown, y: unknown) => unknown): Run {
  const ra = a.run;
  const rb = b.run;
  if (!a.async && !b.async) {
    return (cx) => {
      step(cx);
      return f(cx, ra(cx), rb(cx));
    };
  }
  return (cx) => {
    step(cx);
    const x = ra(cx);
    if (x instanceof Pending) return after(x, (xv) => map(rb(cx), (yv) => f(cx, xv, yv)));
    return map(rb(cx), (yv) => f(cx, x, yv));
  };
}

/** A node with any number of operands. */
export function liftN(cs: readonly C[], f: (cx: Ctx, vals: unknown[]) => unknown): Run {
  const runs = cs.map((c) => c.run);
  if (!cs.some((c) => c.async)) {
    return (cx) => {
      step(cx);
      const vals = new Array<unknown>(runs.length);
      for (let i = 0; i < runs.length; i++) vals[i] = runs[i]!(cx);
      return f(cx, vals);
    };
  }
  return (cx) => {
    step(cx);
    return evalAll(cx, runs, new Array<unknown>(runs.length), 0, (vals) => f(cx, vals));
  };
}

/**
 * The value of `c` made safe to store, return or iterate: a raw read-only value becomes a snapshot. Nodes that
 * only inspect a value (tests, comparisons, member reads, conversions) use the raw form and skip the copy.
 */
export function safe(c: C): C {
  if (!c.ro) return c;
  const r = c.run;
  const run: Run = c.async ? (cx) => map(r(cx), (v) => snapshot(cx, v)) : (cx) => snapshot(cx, r(cx));
  return node(run, false, c.async, c.short);
}

/** Ends an optional chain: its short-circuit marker becomes `undefined`. */
export function unshort(c: C): C {
  if (!c.short) return c;
  const r = c.run;
  const fix = (v: unknown): unknown => (v === SHORT ? undefined : v);
  const run: Run = c.async ? (cx) => map(r(cx), fix) : (cx) => fix(r(cx));
  return node(run, c.ro, c.async, false);
}
