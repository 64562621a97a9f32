/**
 * @module expr/callback
 * Arrow functions as the sandbox sees them. An arrow is not a JavaScript function: it is a compiled body plus
 * the frame it was created in, and only the allowlisted array methods know how to run one. So an arrow can never
 * be stored, returned, called by host code or handed to anything that would call it later.
 */

import type { Ctx, Frame, Run } from './context.js';

/** An arrow function argument, bound to the frame of the expression that created it. */
export class Callback {
  constructor(
    readonly body: Run,
    readonly up: Frame | null,
  ) {}
}

/**
 * Runs `cb` with up to four arguments (element, index, array for most methods; accumulator first for `reduce`).
 * Arrow bodies are synchronous by construction (a module promise inside one is an error), so the frame can be
 * swapped in and restored around a plain call.
 */
export function invoke(cx: Ctx, cb: Callback, a: unknown, b?: unknown, c?: unknown, d?: unknown): unknown {
  const saved = cx.frame;
  cx.frame = { v: [a, b, c, d], up: cb.up };
  try {
    return cb.body(cx);
  } finally {
    cx.frame = saved;
  }
}
