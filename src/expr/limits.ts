/**
 * @module expr/limits
 * Resource limits of the expression sandbox. One evaluation of one expression may take at most `steps` steps
 * and never build a string or an array larger than the caps, so a config typo or a hostile message cannot pin
 * the CPU or exhaust memory. Defaults live here and only here.
 */

import { MhError } from '../errors.js';

/** Per-evaluation limits. Every field is a positive integer. */
export interface ExprLimits {
  /**
   * Evaluation steps: one per AST node evaluated (callback bodies included), plus one per KiB of string and one
   * per 16 array elements that a built-in operation reads or writes.
   */
  steps: number;
  /** Longest string (in UTF-16 code units) an expression may produce. */
  stringLength: number;
  /** Longest array an expression may produce. */
  arrayLength: number;
}

/** 10 000 steps, 1 MiB strings, 10 000-element arrays: far above what a message hook needs, far below harm. */
export const DEFAULT_EXPR_LIMITS: ExprLimits = Object.freeze({
  steps: 10_000,
  stringLength: 1_048_576, // 1 MiB of UTF-16 code units
  arrayLength: 10_000,
});

/**
 * Regular-expression operations (`test`, `match`, `search`, `split`, `replace` with a regex) refuse inputs longer
 * than this. Pattern checks at compile time remove the exponential cases; this cap bounds the polynomial ones
 * (e.g. `/\s+$/` is quadratic in the length of a run of spaces).
 */
export const REGEX_INPUT_LIMIT = 20_000;

/** Longest expression source accepted at compile time (characters). */
export const MAX_SOURCE_LENGTH = 65_536;

/** Deepest bracket nesting and AST depth accepted at compile time. Keeps the parser and compiler off the stack limit. */
export const MAX_NESTING = 64;
/** Deepest AST the compiler walks (a long `a + b + …` chain is deep even without brackets). */
export const MAX_AST_DEPTH = 256;

/** Fills missing fields from the defaults and refuses anything that is not a positive integer. */
export function resolveLimits(partial: Partial<ExprLimits> | undefined, path: string): ExprLimits {
  const limits: ExprLimits = { ...DEFAULT_EXPR_LIMITS };
  for (const key of ['steps', 'stringLength', 'arrayLength'] as const) {
    if (partial?.[key] !== undefined) limits[key] = partial[key];
  }
  for (const key of ['steps', 'stringLength', 'arrayLength'] as const) {
    const value = limits[key];
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new MhError('MH_ERR_CONFIG_INVALID', [`${path}: expression limit ${key} must be a positive integer`], {
        path,
      });
    }
  }
  return Object.freeze(limits);
}
