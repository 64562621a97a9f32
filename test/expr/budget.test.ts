import { describe, expect, it } from 'vitest';
import { compileExpression } from '../../src/expr/index.js';
import { errorOf, evalMsg, MSG_HOOK, runError } from './support.js';

/** Runs `f`, asserting it took less than `ms` milliseconds. */
function quickly<T>(ms: number, f: () => T): T {
  const start = performance.now();
  const result = f();
  expect(performance.now() - start).toBeLessThan(ms);
  return result;
}

const BIG = 'x'.repeat(1_000_000);

describe('expression budget', () => {
  describe('at compile time', () => {
    it('accepts many template interpolations, which are not nesting', () => {
      const source = '`' + Array.from({ length: 100 }, (_, i) => `\${msg.a}${i}`).join('') + '`';
      expect(evalMsg(source, { a: 'x' })).toBe(Array.from({ length: 100 }, (_, i) => `x${i}`).join(''));
    });

    it('refuses brackets nested deeper than the limit, inside templates too', () => {
      expect(errorOf(() => compileExpression(`${'['.repeat(65)}${']'.repeat(65)}`, MSG_HOOK)).code).toBe('MH_ERR_EXPR_BUDGET');
      expect(errorOf(() => compileExpression(`${'`${'.repeat(65)}1${'}`'.repeat(65)}`, MSG_HOOK)).code).toBe('MH_ERR_EXPR_BUDGET');
      expect(evalMsg(`${'['.repeat(60)}${']'.repeat(60)}.length`)).toBe(1);
    });
  });

  describe('steps', () => {
    it('counts every node, callback bodies included', () => {
      const fn = compileExpression('msg.xs.map(x => x + 1)', { ...MSG_HOOK, limits: { steps: 40 } });
      expect(fn({ msg: { xs: [1, 2, 3] } })).toEqual([2, 3, 4]);
      expect(errorOf(() => fn({ msg: { xs: new Array(20).fill(1) } })).code).toBe('MH_ERR_EXPR_BUDGET');
    });

    it('starts from zero on every evaluation', () => {
      const fn = compileExpression('msg.a + msg.b', { ...MSG_HOOK, limits: { steps: 5 } });
      for (let i = 0; i < 100; i++) expect(fn({ msg: { a: i, b: 1 } })).toBe(i + 1);
    });

    it('stops a reduce that rebuilds its accumulator each step', () => {
      quickly(1000, () => runError('msg.xs.reduce((acc, x) => [...acc, ...acc, x], [])', 'MH_ERR_EXPR_BUDGET', { xs: new Array(100).fill(1) }));
    });

    it('charges built-ins for the data they touch', () => {
      const fn = compileExpression('msg.xs.map(x => msg.s.toUpperCase().length)', MSG_HOOK);
      expect(errorOf(() => quickly(2000, () => fn({ msg: { xs: new Array(200).fill(0), s: BIG } }))).code).toBe('MH_ERR_EXPR_BUDGET');
    });
  });

  describe('strings', () => {
    it('are measured before repeat, padStart and padEnd allocate', () => {
      for (const src of ['"x".repeat(1e9)', '"ab".repeat(Infinity)', '"x".padStart(2 ** 31)', '"x".padEnd(1e9, "ab")']) {
        quickly(100, () => runError(src, 'MH_ERR_EXPR_BUDGET'));
      }
      expect(evalMsg('"ab".repeat(3) + "".repeat(1e9) + "x".padStart(3, "-")')).toBe('ababab--x');
    });

    it('are measured when concatenated with +, +=, concat and templates', () => {
      runError('msg.s + msg.s', 'MH_ERR_EXPR_BUDGET', { s: 'y'.repeat(600_000) });
      runError('msg.t = msg.s; msg.t += msg.s', 'MH_ERR_EXPR_BUDGET', { s: 'y'.repeat(600_000) });
      runError('msg.s.concat(msg.s)', 'MH_ERR_EXPR_BUDGET', { s: 'y'.repeat(600_000) });
      runError('`${msg.s}${msg.s}`', 'MH_ERR_EXPR_BUDGET', { s: 'y'.repeat(600_000) });
    });

    it('are measured while join, String(), JSON.stringify and replace build them', () => {
      const xs = new Array(100).fill('z'.repeat(20_000));
      quickly(1000, () => runError('msg.xs.join("")', 'MH_ERR_EXPR_BUDGET', { xs }));
      quickly(1000, () => runError('String(msg.xs)', 'MH_ERR_EXPR_BUDGET', { xs }));
      quickly(1000, () => runError('JSON.stringify(msg.xs)', 'MH_ERR_EXPR_BUDGET', { xs }));
      quickly(1000, () => runError('msg.s.replaceAll("a", msg.r)', 'MH_ERR_EXPR_BUDGET', { s: 'a'.repeat(10_000), r: 'b'.repeat(200) }));
      quickly(1000, () => runError('msg.s.replace(/a/g, "$`$`")', 'MH_ERR_EXPR_BUDGET', { s: 'a'.repeat(10_000) }));
    });

    it('doubling through reduce is stopped at the limit', () => {
      quickly(1000, () => runError('msg.xs.reduce(acc => acc + acc, "x")', 'MH_ERR_EXPR_BUDGET', { xs: new Array(64).fill(0) }));
    });
  });

  describe('arrays', () => {
    it('are measured for literals, spreads and call arguments', () => {
      const a = new Array(6000).fill(0);
      runError('[...msg.a, ...msg.a]', 'MH_ERR_EXPR_BUDGET', { a });
      runError('Math.max(...msg.a, ...msg.a)', 'MH_ERR_EXPR_BUDGET', { a });
      runError('[...msg.s]', 'MH_ERR_EXPR_BUDGET', { s: BIG });
      runError('({...msg.s})', 'MH_ERR_EXPR_BUDGET', { s: BIG });
    });

    it('are measured for concat, flat, split, push, unshift, splice and index writes', () => {
      const a = new Array(6000).fill(0);
      runError('msg.a.concat(msg.a)', 'MH_ERR_EXPR_BUDGET', { a });
      runError('[msg.a, msg.a].flat()', 'MH_ERR_EXPR_BUDGET', { a });
      quickly(500, () => runError('msg.s.split("")', 'MH_ERR_EXPR_BUDGET', { s: BIG }));
      runError('msg.a.push(...msg.a)', 'MH_ERR_EXPR_BUDGET', { a: [...a] });
      runError('msg.a.unshift(...msg.a)', 'MH_ERR_EXPR_BUDGET', { a: [...a] });
      runError('msg.a.splice(0, 0, ...msg.a)', 'MH_ERR_EXPR_BUDGET', { a: [...a] });
      runError('msg.a[1e9] = 1', 'MH_ERR_EXPR_BUDGET', { a: [] });
    });

    it('are measured for JSON.parse, Object.keys and match', () => {
      runError('JSON.parse(msg.s)', 'MH_ERR_EXPR_BUDGET', { s: JSON.stringify(new Array(20_000).fill(0)) });
      runError('Object.keys(msg.o)', 'MH_ERR_EXPR_BUDGET', { o: Object.fromEntries(new Array(20_000).fill(0).map((_, i) => [`k${i}`, i])) });
      runError('msg.s.match(/x/g)', 'MH_ERR_EXPR_BUDGET', { s: 'x'.repeat(15_000) });
    });
  });
});
