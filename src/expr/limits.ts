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
   * Evaluation steps: one per AST node evaluated (callback bodies included), plus the work of built-ins: one per
   * `CHARS_PER_STEP` characters a string operation reads or writes (times its `WEIGHT_*`), one per 16 array
   * elements, and a regex search's worst case (see regex.ts). So the budget bounds time, not just calls.
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

/*
 * Work units. Measured on the 2-core development machine (Node 20), the cheapest string scans (`===`, `<`,
 * `includes` of a rare character) take about 1 ns per character, ordinary ones (`trim`, `toUpperCase` of ASCII,
 * `lastIndexOf`, `Number`, `base64url`) up to 12 ns, and the worst ones 40 ns (`indexOf` of a near-match
 * needle) to 76 ns (`toUpperCase` of non-ASCII text). One step is worth at most about 2.5 µs of work, so the
 * default 10 000 steps bound one evaluation to a few tens of milliseconds whatever it does.
 */

/** Characters of ordinary string work per step. */
export const CHARS_PER_STEP = 256;
/** Weight of building a string (`repeat`, `padStart`, `concat`, JSON output…): allocation and copying. */
export const WEIGHT_BUILD = 2;
/** Weight of searching a string for a substring (`indexOf`, `includes`, `split`/`replace` by string…). */
export const WEIGHT_SEARCH = 4;
/** Weight of JSON parsing (per character of text). */
export const WEIGHT_JSON = 4;
/** Weight of case mapping (`toUpperCase`/`toLowerCase`), slow on non-ASCII text. */
export const WEIGHT_CASE = 8;
/** Replacements or matches per step of a global `replace`/`replaceAll`/`match` (each builds a piece). */
export const MATCHES_PER_STEP = 4;

/**
 * Regular-expression operations (`test`, `match`, `search`, `split`, `replace` with a regex) refuse inputs longer
 * than this. Pattern checks at compile time remove the super-quadratic cases; the rest is charged to the step
 * budget by its worst case (see regex.ts), which stops quadratic patterns on much shorter inputs.
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
