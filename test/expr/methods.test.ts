import { describe, expect, it } from 'vitest';
import { compileError, evalMsg, runError } from './support.js';

describe('allowlisted methods', () => {
  describe('of strings', () => {
    it('trim, change case, slice, search and pad', () => {
      const msg = { s: '  Hello World  ' };
      expect(
        evalMsg(
          '[msg.s.trim(), msg.s.trimStart(), msg.s.trimEnd(), msg.s.toLowerCase(), msg.s.toUpperCase(), msg.s.trim().slice(-5), msg.s.substring(2, 7), msg.s.includes("World"), msg.s.startsWith("  H"), msg.s.endsWith("d  "), msg.s.indexOf("o"), msg.s.lastIndexOf("o"), "7".padStart(3, "0"), "a".padEnd(3), "ab".repeat(2), "abc".at(-1), "abc".charAt(1), "A".charCodeAt(0), "a".concat("b", 1), (5).toString(), "x".toString()]',
          msg,
        ),
      ).toEqual([
        'Hello World', 'Hello World  ', '  Hello World', '  hello world  ', '  HELLO WORLD  ', 'World', 'Hello', true, true, true, 6, 9, '007', 'a  ', 'abab', 'c', 'b', 65, 'ab1', '5', 'x',
      ]);
    });

    it('split with a string, a regex and a limit', () => {
      expect(evalMsg('["a,b,,c".split(","), "a1b22c".split(/\\d+/), "a,b,c".split(",", 2), "abc".split(""), "abc".split()]')).toEqual([
        ['a', 'b', '', 'c'], ['a', 'b', 'c'], ['a', 'b'], ['a', 'b', 'c'], ['abc'],
      ]);
    });

    it('replace and replaceAll with string or regex patterns and $ substitutions', () => {
      expect(
        evalMsg(
          '["a-b-c".replace("-", "+"), "a-b-c".replaceAll("-", "+"), "John Smith".replace(/(\\w+) (\\w+)/, "$2, $1"), "2024-05".replace(/(?<y>\\d+)-(?<m>\\d+)/, "$<m>/$<y>"), "abc".replace("b", "[$&|$`|$\'|$$]"), "aaa".replace(/a/g, "b"), "x".replace(/x/, "$9")]',
        ),
      ).toEqual(['a+b-c', 'a+b+c', 'Smith, John', '05/2024', 'a[b|a|c|$]c', 'bbb', '$9']);
    });

    it('match returns plain data with captures, index and groups', () => {
      expect(evalMsg('"x12y345".match(/\\d+/g)')).toEqual(['12', '345']);
      expect(evalMsg('"x12".match(/z/g)')).toBeNull();
      const m = evalMsg('"id: 42".match(/(?<n>\\d+)/)') as string[] & { index: number; groups: Record<string, string> };
      expect([...m]).toEqual(['42', '42']);
      expect(m.index).toBe(4);
      expect(m.groups).toEqual({ n: '42' });
    });

    it('refuse function replacers and non-regex patterns where a string would become a regex', () => {
      runError('"abc".replace(/b/, x => "y")', 'MH_ERR_EXPR_FORBIDDEN');
      runError('"abc".match("b")', 'MH_ERR_EXPR_FORBIDDEN');
      runError('"abc".search(msg.pattern)', 'MH_ERR_EXPR_FORBIDDEN', { pattern: '(a+)+$' });
    });
  });

  describe('of numbers and booleans', () => {
    it('format numbers', () => {
      expect(evalMsg('[(3.14159).toFixed(2), msg.n.toFixed(), (255).toString(16), (1234.5).toPrecision(2), true.toString()]', { n: 2.5 })).toEqual([
        '3.14', '3', 'ff', '1.2e+3', 'true',
      ]);
    });

    it('fail cleanly on a bad argument', () => {
      runError('(1).toFixed(1000)', 'MH_ERR_EXPR_RUNTIME');
    });
  });

  describe('of arrays', () => {
    it('read without changing the array', () => {
      const msg = { xs: [1, 2, 3, 2] };
      expect(
        evalMsg(
          '[msg.xs.includes(2), msg.xs.indexOf(2), msg.xs.lastIndexOf(2), msg.xs.join("-"), msg.xs.slice(1, -1), msg.xs.concat([5], 6), [[1], [2, [3]]].flat(), msg.xs.at(-1), [NaN].includes(NaN), [NaN].indexOf(NaN)]',
          msg,
        ),
      ).toEqual([true, 1, 3, '1-2-3-2', [2, 3], [1, 2, 3, 2, 5, 6], [1, 2, [3]], 2, true, -1]);
      expect(msg.xs).toEqual([1, 2, 3, 2]);
    });

    it('change a writable array in place', () => {
      const msg = { xs: [3, 1, 2] };
      expect(evalMsg('[msg.xs.push(4, 5), msg.xs.pop(), msg.xs.shift(), msg.xs.unshift(0), msg.xs.splice(1, 1, "a", "b"), msg.xs.reverse().length]', msg)).toEqual([
        5, 5, 3, 4, [1], 5,
      ]);
      expect(msg.xs).toEqual([4, 2, 'b', 'a', 0]);
    });

    it('sort by string by default and by a comparator arrow', () => {
      expect(evalMsg('[[10, 9, 1, undefined, "b", "a"].sort(), [10, 9, 1].sort((a, b) => a - b), [{ n: 2 }, { n: 1 }].sort((a, b) => a.n - b.n).map(x => x.n)]')).toEqual([
        [1, 10, 9, 'a', 'b', undefined], [1, 9, 10], [1, 2],
      ]);
    });

    it('run forEach for its side effects', () => {
      const msg: Record<string, unknown> = { xs: [1, 2], total: 0 };
      evalMsg('msg.xs.forEach(x => msg.total += x)', msg);
      expect(msg.total).toBe(3);
    });

    it('require arrow functions for callbacks', () => {
      expect(runError('[1].map(1)', 'MH_ERR_EXPR_RUNTIME').message).toContain('arrow function');
      runError('[].reduce((a, b) => a)', 'MH_ERR_EXPR_RUNTIME');
      runError('[1].flat(2)', 'MH_ERR_EXPR_RUNTIME');
    });

    it('refuse arrows and regexes as plain values', () => {
      runError('[].push(x => x)', 'MH_ERR_EXPR_FORBIDDEN');
      runError('[].push(/x/)', 'MH_ERR_EXPR_FORBIDDEN');
      compileError('msg.f = x => x', 'MH_ERR_EXPR_FORBIDDEN');
      compileError('msg.re = /x/', 'MH_ERR_EXPR_FORBIDDEN');
    });
  });

  describe('outside the allowlist', () => {
    it('are refused at compile time when the name is written out', () => {
      for (const src of ['msg.s.sub()', 'msg.s.localeCompare("x")', '[].fill(1)', 'msg.s.normalize()', 'msg.x.call(1)', 'msg.x.apply()', 'msg.x.bind()', 'msg.x.valueOf()', 'msg.x.hasOwnProperty("a")']) {
        compileError(src, 'MH_ERR_EXPR_FORBIDDEN');
      }
    });

    it('are refused at run time when the name is computed or the receiver has the wrong kind', () => {
      runError('msg.s[msg.m]()', 'MH_ERR_EXPR_FORBIDDEN', { s: 'x', m: 'sub' });
      runError('msg.o.trim()', 'MH_ERR_EXPR_FORBIDDEN', { o: { trim: 1 } });
      runError('msg.n.map(x => x)', 'MH_ERR_EXPR_FORBIDDEN', { n: 5 });
      runError('msg.o.toString()', 'MH_ERR_EXPR_FORBIDDEN', { o: {} });
      expect(runError('msg.none.trim()', 'MH_ERR_EXPR_RUNTIME').message).toContain('cannot call "trim" of undefined');
    });

    it('allow a computed name that is on the allowlist', () => {
      expect(evalMsg('msg.s[msg.m]()', { s: ' x ', m: 'trim' })).toBe('x');
    });
  });
});
