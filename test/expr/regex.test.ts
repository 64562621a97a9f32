import { describe, expect, it } from 'vitest';
import { compileExpression } from '../../src/expr/index.js';
import { REGEX_INPUT_LIMIT } from '../../src/expr/limits.js';
import { regexHazard } from '../../src/expr/regex.js';
import { compileError, evalMsg, MSG_HOOK, runError } from './support.js';

describe('regular expressions', () => {
  describe('regexHazard', () => {
    it('refuses nested quantifiers', () => {
      for (const src of ['(a+)+', '(a*)*b', '(\\w+\\s?)*$', '(a|b?)+', '((ab)+)+', '(x+x+)+y', '(?:a+){2,}', '(\\d+\\.){3}']) {
        expect(regexHazard(src, ''), src).toMatch(/nested quantifiers/);
      }
    });

    it('refuses repeated alternations whose branches can start alike', () => {
      for (const src of ['(a|a)*', '(a|ab)+', '(\\w|_)+', '(.|x)*', '(a|)+', '(A|a)+']) {
        const flags = src === '(A|a)+' ? 'i' : '';
        expect(regexHazard(src, flags), src).toMatch(/alternation/);
      }
    });

    it('accepts ordinary patterns', () => {
      for (const src of ['^[a-z0-9_-]+$', '\\s+', '(\\d{4})-(\\d\\d)', '(foo|bar)+', '(ab)*c', '(?<y>\\d+)', 'a{2,3}', '[(+*]+', '\\(a+\\)+', '(a+)?', '(a|b)*', 'x{', '(?:https?|ftp)://\\S+']) {
        expect(regexHazard(src, ''), src).toBeNull();
      }
    });
  });

  it('refuses catastrophic literals at compile time, wherever they are used', () => {
    for (const src of ['/(a+)+$/.test(msg.s)', 'msg.s.replace(/(x|x)*y/g, "")', 'msg.s.split(/(\\s*)*/)', 'msg.s.match(/(.*a){12}/)']) {
      expect(compileError(src, 'MH_ERR_EXPR_FORBIDDEN').message).toContain('regular expression');
    }
  });

  it('refuses regex input longer than the cap', () => {
    const s = 'a'.repeat(REGEX_INPUT_LIMIT + 1);
    for (const src of ['/a/.test(msg.s)', 'msg.s.replace(/a/, "")', 'msg.s.match(/a/)', 'msg.s.search(/a/)', 'msg.s.split(/a/)']) {
      expect(runError(src, 'MH_ERR_EXPR_BUDGET', { s }).message).toContain('regular expression');
    }
    expect(evalMsg('msg.s.replace("a", "b").length', { s })).toBe(s.length); // string patterns are linear: no cap
  });

  it('stops a quadratic pattern on a long input before it runs', () => {
    const start = performance.now();
    runError('/\\s+$/.test(msg.s)', 'MH_ERR_EXPR_BUDGET', { s: ' '.repeat(REGEX_INPUT_LIMIT - 1) + 'x' });
    expect(performance.now() - start).toBeLessThan(50);
  });

  it('resets global and sticky state between uses and evaluations', () => {
    const fn = compileExpression('[/a/g.test(msg.s), /a/g.test(msg.s), /b/y.test(msg.s)]', MSG_HOOK);
    expect(fn({ msg: { s: 'ab' } })).toEqual([true, true, false]);
    expect(fn({ msg: { s: 'ab' } })).toEqual([true, true, false]);
    const m = compileExpression('msg.s.match(/\\d/g)', MSG_HOOK);
    expect(m({ msg: { s: 'a1b2' } })).toEqual(['1', '2']);
    expect(m({ msg: { s: '3' } })).toEqual(['3']);
  });

  it('handles empty matches in global match without looping', () => {
    expect(evalMsg('"abc".match(/x*/g)')).toEqual(['', '', '', '']);
    expect(evalMsg('"😀😀".match(/(?:)/gu).length')).toBe(3);
  });

  it('never turns message data into a pattern', () => {
    runError('msg.s.match(msg.p)', 'MH_ERR_EXPR_FORBIDDEN', { s: 'aaaa', p: '(a+)+$' });
    expect(evalMsg('msg.s.replace(msg.p, "!")', { s: 'a.b', p: '.' })).toBe('a!b');
    expect(evalMsg('msg.s.split(msg.p)', { s: 'a.b', p: '.' })).toEqual(['a', 'b']);
  });
});
