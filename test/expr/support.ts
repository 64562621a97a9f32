import { expect } from 'vitest';
import { MhError, type MhErrorCode } from '../../src/errors.js';
import { compileExpression, type ExprOptions } from '../../src/expr/index.js';

/** Options of the message hooks (message_default, prepare, modify). */
export const MSG_HOOK = { path: 'url.test.kwargs.prepare', names: ['msg', 'handler'], writable: ['msg'] } as const;
/** Options of the open hook. */
export const OPEN_HOOK = { path: 'url.test.kwargs.open', names: ['args', 'handler'], writable: ['args'] } as const;

/** A typical read-only handler view, as the core builds it. */
export function makeHandler(user: { id: string } | null = { id: 'alice' }): Record<string, unknown> {
  return {
    name: 'chat',
    current_user: user,
    session: { id: 'sess-1' },
    args: { topic: ['help'] },
    request: { ip: '127.0.0.1', headers: { 'user-agent': 'vitest' } },
  };
}

/** Compiles with the message-hook options (overridable) and evaluates once, synchronously. */
export function evalMsg(source: string, msg: Record<string, unknown> = {}, options: Partial<ExprOptions> = {}, handler = makeHandler()): unknown {
  const fn = compileExpression(source, { ...MSG_HOOK, ...options });
  const result = fn({ msg, handler });
  expect(result).not.toBeInstanceOf(Promise);
  return result;
}

/** The MhError thrown by `f`, failing the test if none (or another kind of error) is thrown. */
export function errorOf(f: () => unknown): MhError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(MhError);
    return err as MhError;
  }
  throw new Error('expected an MhError, but nothing was thrown');
}

/** The MhError `p` rejects with. */
export async function rejectionOf(p: unknown): Promise<MhError> {
  expect(p).toBeInstanceOf(Promise);
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(MhError);
    return err as MhError;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** Asserts that compiling (with message-hook options) throws `code`. */
export function compileError(source: string, code: MhErrorCode, options: Partial<ExprOptions> = {}): MhError {
  const err = errorOf(() => compileExpression(source, { ...MSG_HOOK, ...options }));
  expect(err.code).toBe(code);
  expect(err.path).toBe(options.path ?? MSG_HOOK.path);
  return err;
}

/** Asserts that compiling succeeds and evaluating throws `code`. */
export function runError(source: string, code: MhErrorCode, msg: Record<string, unknown> = {}, options: Partial<ExprOptions> = {}): MhError {
  const fn = compileExpression(source, { ...MSG_HOOK, ...options });
  const err = errorOf(() => fn({ msg, handler: makeHandler() }));
  expect(err.code).toBe(code);
  return err;
}
