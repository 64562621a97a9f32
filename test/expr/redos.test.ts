import { describe, expect, it } from 'vitest';
import { compileExpression } from '../../src/expr/index.js';
import { DEFAULT_EXPR_LIMITS, REGEX_INPUT_LIMIT } from '../../src/expr/limits.js';
import { PAIRS_PER_STEP, regexHazard } from '../../src/expr/regex.js';
import { planRegex } from '../../src/expr/regex-plan.js';
import { compileError, evalMsg, MSG_HOOK, runError } from './support.js';

/**
 * Milliseconds `f` takes: the least of three runs, so another process on this 2-core machine (the other test
 * worker) cannot make a bounded pattern look slow. The unbounded ones take 300 ms to seconds in one run.
 */
function ms(f: () => unknown): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    f();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

/** The worst 20 KB frames for a pattern: long runs of what its quantifiers consume, ending in a mismatch. */
const WORST = [' '.repeat(REGEX_INPUT_LIMIT - 1) + 'x', 'a'.repeat(REGEX_INPUT_LIMIT), '1'.repeat(REGEX_INPUT_LIMIT - 1) + '!', 'ab'.repeat(REGEX_INPUT_LIMIT / 2)];

describe('ReDoS (issue 14, item 10)', () => {
  it("refuses the issue's super-quadratic patterns at load, naming the pattern, why, and the YAML path", () => {
    for (const src of ['/a*a*b/.test(msg.s)', '/\\d*\\d*\\d*x/.test(msg.s)', 'msg.s.replace(/\\s*\\s+$/, "")', 'msg.s.match(/\\d+\\.?\\d*/)', 'msg.s.split(/\\w+\\s*\\w+/)']) {
      const err = compileError(src, 'MH_ERR_EXPR_FORBIDDEN', { path: 'url.chat.kwargs.prepare' });
      expect(err.message, src).toMatch(/regular expression \/.+\/: two quantifiers in a row whose characters overlap/);
      expect(err.path).toBe('url.chat.kwargs.prepare');
    }
  });

  it('tells overlapping neighbours from distinct ones', () => {
    for (const src of ['a*a*b', '\\d*\\d*\\d*x', 'a?a?a?a?aaaa', '[a-z]+\\w+@', '(ab)*(ab)*c', '(a*)a*', '\\s*-?\\s*x', '.*.*=.*']) {
      expect(regexHazard(src, ''), src).toMatch(/overlap/);
    }
    expect(regexHazard('A*a*b', 'i')).toMatch(/overlap/); // case folding makes them the same
    for (const src of ['\\d+\\.\\d+', '[a-z]+\\d+', '\\w+@\\w+\\.\\w+', '\\s*,\\s*', 'https?://\\S+', '^\\s+|\\s+$', 'a+b+c+', '\\d{4}-\\d{2}', '\\d+(?:\\.\\d*)?', '(a+b)a*', 'https?:']) {
      expect(regexHazard(src, ''), src).toBeNull();
    }
  });

  it('classes what it admits: anchored or tail repetitions are linear, rescanning ones quadratic', () => {
    for (const src of ['\\s+', '#\\w+', '^\\s+$', '^[a-z0-9_-]+$', 'https?://\\S+', '\\d{4}-\\d{2}']) expect(planRegex(src, '').quadratic, src).toBe(false);
    for (const src of ['\\s+$', '\\w+@', '\\s*,\\s*', '^a|\\d+x', '\\d{1,100}x']) expect(planRegex(src, '').quadratic, src).toBe(true);
    expect(planRegex('^\\s+$', 'm').quadratic).toBe(true); // with /m, ^ matches after every newline
  });

  it('bounds the documented /\\s+$/ by the budget: refused on a long run before any work, fine on short text', () => {
    const source = "msg.s.replace(/\\s+$/, '')";
    expect(ms(() => runError(source, 'MH_ERR_EXPR_BUDGET', { s: WORST[0] }))).toBeLessThan(50);
    expect(evalMsg(source, { s: 'hello   ' })).toBe('hello');
    expect(evalMsg('msg.s.trimEnd()', { s: WORST[0] })).toBe(WORST[0]); // the documented safe equivalent
  });

  it('finishes a safe pattern on the worst-case 20 KB input in under 50 ms', () => {
    const safe = ["msg.s.replace(/\\s+/g, ' ')", '/^[a-z0-9_-]+$/i.test(msg.s)', 'msg.s.match(/#\\w+/g)', 'msg.s.split(/,/)', 'msg.s.search(/https?:\\/\\/\\S+/)', '/^\\s+|\\s+$/.test(msg.s) && 1'];
    for (const source of safe) {
      const fn = compileExpression(source, MSG_HOOK);
      for (const s of WORST) {
        let out: unknown;
        const t = ms(() => {
          try {
            out = fn({ msg: { s } });
          } catch (err) {
            out = err;
          }
        });
        expect(t, `${source} on ${JSON.stringify(s.slice(0, 8))}…`).toBeLessThan(50);
        expect((out as { code?: string })?.code, source).not.toBe('MH_ERR_EXPR_RUNTIME');
      }
    }
  });

  it('keeps every admitted quadratic pattern under 50 ms on its worst input within the default budget', () => {
    for (const [pattern, source] of [['\\s+$', '/\\s+$/.test(msg.s)'], ['\\w+@', '/\\w+@/.test(msg.s)'], ['\\d+\\.\\d+', '/\\d+\\.\\d+/.test(msg.s)'], ['\\s*,\\s*', 'msg.s.split(/\\s*,\\s*/).length']] as const) {
      // About the longest input the default budget lets this pattern scan (a few steps go to the expression itself).
      const n = Math.floor(Math.sqrt((PAIRS_PER_STEP * (DEFAULT_EXPR_LIMITS.steps - 20)) / planRegex(pattern, '').weight));
      const fn = compileExpression(source, MSG_HOOK);
      for (const run of [' ', 'a', '1']) {
        const s = run.repeat(n - 200) + '!';
        expect(ms(() => fn({ msg: { s } })), source).toBeLessThan(50);
        expect(() => fn({ msg: { s: run.repeat(n + 200) } })).toThrow(/evaluation steps/);
      }
    }
  });
});
