import { describe, expect, it } from 'vitest';
import { MhError } from '../../src/errors.js';
import { compileExpression, DEFAULT_EXPR_LIMITS } from '../../src/expr/index.js';
import { compileError, errorOf, MSG_HOOK, runError } from './support.js';

describe('expression errors', () => {
  describe('MH_ERR_EXPR_SYNTAX', () => {
    it('reports the 1-based column where parsing stopped, with the YAML path', () => {
      const cases: [string, number][] = [
        ['msg.a +', 8],
        ['msg.a msg.b', 7],
        ['msg.a = (1', 11],
        ['"unclosed', 10],
        ['msg.a = #', 9],
        ['{ a: 1 b: 2 }', 8],
        ['x => ', 6],
      ];
      for (const [source, column] of cases) {
        const err = compileError(source, 'MH_ERR_EXPR_SYNTAX');
        expect(err.message, source).toMatch(new RegExp(`^Syntax error in expression at column ${column}: `));
        expect(err.status).toBe(500);
      }
    });

    it('names the unsupported keyword that jsep would read as a name', () => {
      expect(compileError('new Date()', 'MH_ERR_EXPR_SYNTAX').message).toBe('Syntax error in expression at column 5: "new" is not supported');
      expect(compileError('delete msg.a', 'MH_ERR_EXPR_SYNTAX').message).toContain('"delete" is not supported');
      expect(compileError('"a" in msg', 'MH_ERR_EXPR_SYNTAX').message).toContain('"in" is not supported');
    });

    it('refuses an empty expression and a non-string source', () => {
      compileError('   ', 'MH_ERR_EXPR_SYNTAX');
      expect(errorOf(() => compileExpression(42 as unknown as string, MSG_HOOK)).code).toBe('MH_ERR_EXPR_SYNTAX');
    });
  });

  describe('MH_ERR_EXPR_FORBIDDEN', () => {
    it('is raised at compile time for unknown names, forbidden members and misuse of helpers', () => {
      for (const src of ['process.exit()', 'require("fs")', 'globalThis', 'Function("x")', 'eval("1")', 'import("fs")', 'this', 'msg.constructor', 'msg["__proto__"]', 'uuid']) {
        const err = compileError(src, 'MH_ERR_EXPR_FORBIDDEN');
        expect(err.message).toMatch(/^Expression may not use /);
        expect(err.status).toBe(400);
      }
    });

    it('is raised at run time for computed forbidden members and unlisted methods', () => {
      runError('msg[msg.k]', 'MH_ERR_EXPR_FORBIDDEN', { k: 'constructor' });
      runError('msg.s[msg.k]()', 'MH_ERR_EXPR_FORBIDDEN', { s: '', k: 'big' });
    });
  });

  describe('MH_ERR_EXPR_BUDGET', () => {
    it('is raised when steps, string length or array length pass their limit', () => {
      expect(runError('msg.xs.map(x => x + 1)', 'MH_ERR_EXPR_BUDGET', { xs: new Array(5000).fill(1) }).message).toContain('steps');
      expect(runError('"ab".repeat(msg.n)', 'MH_ERR_EXPR_BUDGET', { n: 600_000 }).message).toContain('string');
      expect(runError('[...msg.a, ...msg.a]', 'MH_ERR_EXPR_BUDGET', { a: new Array(6000).fill(0) }).message).toContain('array');
    });

    it('uses the limits given in the options', () => {
      const fn = compileExpression('msg.s + msg.s', { ...MSG_HOOK, limits: { stringLength: 5 } });
      expect(fn({ msg: { s: 'ab' } })).toBe('abab');
      expect(errorOf(() => fn({ msg: { s: 'abc' } })).code).toBe('MH_ERR_EXPR_BUDGET');
    });

    it('documents its defaults', () => {
      expect(DEFAULT_EXPR_LIMITS).toEqual({ steps: 10_000, stringLength: 1_048_576, arrayLength: 10_000 });
      expect(Object.isFrozen(DEFAULT_EXPR_LIMITS)).toBe(true);
    });

    it('keeps the default for a limit given as undefined', () => {
      const fn = compileExpression('"ab".repeat(3)', { ...MSG_HOOK, limits: { steps: undefined } });
      expect(fn({ msg: {} })).toBe('ababab');
    });

    it('refuses limits that are not positive integers at compile time', () => {
      for (const limits of [{ steps: 0 }, { stringLength: -1 }, { arrayLength: 1.5 }, { steps: Number.NaN }]) {
        expect(errorOf(() => compileExpression('1', { ...MSG_HOOK, limits })).code).toBe('MH_ERR_CONFIG_INVALID');
      }
    });
  });

  describe('MH_ERR_EXPR_RUNTIME', () => {
    it('is raised for TypeError-like failures, with the path', () => {
      const err = runError('msg.a.b', 'MH_ERR_EXPR_RUNTIME');
      expect(err.message).toBe('Expression failed: cannot read "b" of undefined');
      expect(err.path).toBe(MSG_HOOK.path);
      runError('msg.n.x = 1', 'MH_ERR_EXPR_RUNTIME', { n: null });
      runError('msg.none.trim()', 'MH_ERR_EXPR_RUNTIME');
      runError('"x".repeat(-1)', 'MH_ERR_EXPR_RUNTIME');
      runError('[...msg]', 'MH_ERR_EXPR_RUNTIME');
    });
  });

  describe('MH_ERR_MSG_REJECTED', () => {
    it('carries the exact text given to reject()', () => {
      const err = runError('reject(`Too long: ${msg.n}`)', 'MH_ERR_MSG_REJECTED', { n: 3 });
      expect(err.message).toBe('Too long: 3');
      expect(err.toJSON()).toEqual({ code: 'MH_ERR_MSG_REJECTED', message: 'Too long: 3' });
    });
  });

  it('never lets a host exception escape as anything but an MhError', () => {
    for (const src of ['msg.a.b', '(1).toFixed(500)', 'JSON.parse("[")', 'msg.big ** msg.big', '"a".normalize']) {
      try {
        compileExpression(src, MSG_HOOK)({ msg: { big: 1n } });
      } catch (err) {
        expect(err).toBeInstanceOf(MhError);
      }
    }
  });
});
