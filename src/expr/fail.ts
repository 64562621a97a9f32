/**
 * @module expr/fail
 * The four ways an expression fails, as catalog errors carrying the YAML path of the expression. Each helper
 * throws, so call sites read `forbidden(path, 'the name "eval"')` and TypeScript knows control stops there.
 */

import { MhError } from '../errors.js';

/** The expression (or its data) tried something the sandbox never allows. */
export function forbidden(path: string, detail: string): never {
  throw new MhError('MH_ERR_EXPR_FORBIDDEN', [detail], { path });
}

/** A step, string or array limit was exceeded. */
export function budget(path: string, detail: string): never {
  throw new MhError('MH_ERR_EXPR_BUDGET', [detail], { path });
}

/** A TypeError-like failure: reading a member of null, calling a non-function, a bad argument. */
export function runtime(path: string, detail: string, cause?: unknown): never {
  throw new MhError('MH_ERR_EXPR_RUNTIME', [detail], { path, cause });
}

/** A syntax error at a 1-based column of the expression. */
export function syntax(path: string, column: number, detail: string): never {
  throw new MhError('MH_ERR_EXPR_SYNTAX', [column, detail], { path });
}

/**
 * Maps anything thrown during an evaluation to a catalog error. MhErrors (ours, `reject()`, a module's own) pass
 * through; a stack overflow (deep data) is a budget error; any other host exception is a runtime error whose
 * detail is its message, since it comes from a built-in, never from a stack trace.
 */
export function normalize(err: unknown, path: string): MhError {
  if (err instanceof MhError) return err;
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return new MhError('MH_ERR_EXPR_BUDGET', ['data nested too deeply'], { path, cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new MhError('MH_ERR_EXPR_RUNTIME', [detail], { path, cause: err });
}
