import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileExpression } from '../../src/expr/index.js';
import { evalMsg, MSG_HOOK, makeHandler, runError } from './support.js';

describe('expression grammar', () => {
  describe('literals and operators', () => {
    it('evaluates numbers, strings, booleans, null and the constants', () => {
      expect(evalMsg('[1.5, "a", \'b\', true, false, null, undefined, NaN, Infinity]')).toEqual([
        1.5, 'a', 'b', true, false, null, undefined, NaN, Infinity,
      ]);
    });

    it('follows JavaScript precedence and associativity', () => {
      expect(evalMsg('1 + 2 * 3 - 4 / 2')).toBe(5);
      expect(evalMsg('2 ** 3 ** 2')).toBe(512);
      expect(evalMsg('(1 + 2) * 3')).toBe(9);
      expect(evalMsg('10 % 4 + -3 + +"2"')).toBe(1);
    });

    it('concatenates strings with + as JavaScript does', () => {
      expect(evalMsg('"a" + 1 + 2')).toBe('a12');
      expect(evalMsg('1 + 2 + "a"')).toBe('3a');
      expect(evalMsg('"x" + [1, 2] + {}')).toBe('x1,2[object Object]');
    });

    it('compares loosely and strictly', () => {
      expect(evalMsg('[1 == "1", 1 === "1", null == undefined, null === undefined, "2" > "10", 2 > 10, [1] == 1]')).toEqual([
        true, false, true, false, true, false, true,
      ]);
    });

    it('applies typeof, !, ~ and the bitwise operators', () => {
      expect(evalMsg('[typeof 1, typeof "s", typeof msg, typeof msg.nope, !0, ~5, 6 & 3, 6 | 3, 6 ^ 3, 1 << 3, -16 >> 2, -16 >>> 28]')).toEqual([
        'number', 'string', 'object', 'undefined', true, -6, 2, 7, 5, 8, -4, 15,
      ]);
    });

    it('short-circuits &&, || and ?? and returns the deciding operand', () => {
      const msg = { n: 0, s: '', z: null };
      expect(evalMsg('[msg.n || "a", msg.n ?? "a", msg.z ?? "b", msg.s && reject("never"), 1 && 2]', msg)).toEqual(['a', 0, 'b', '', 2]);
      expect(evalMsg('msg.missing ?? msg.other ?? "fallback"', msg)).toBe('fallback');
    });

    it('evaluates the ternary operator, nested to the right', () => {
      expect(evalMsg('msg.n > 1 ? "big" : msg.n > 0 ? "one" : "none"', { n: 1 })).toBe('one');
      expect(evalMsg('msg.n > 1 ? "big" : msg.n > 0 ? "one" : "none"', { n: 0 })).toBe('none');
    });

    it('matches native JavaScript operators on every pair of primitives', () => {
      const ops: Record<string, (a: never, b: never) => unknown> = {
        '+': (a, b) => a + b, '-': (a, b) => a - b, '*': (a, b) => a * b, '<': (a, b) => a < b, '>=': (a, b) => a >= b,
        // eslint-disable-next-line eqeqeq
        '==': (a, b) => a == b, '===': (a, b) => a === b, '%': (a, b) => a % b, '&': (a, b) => a & b,
      };
      const compiled = Object.fromEntries(
        Object.keys(ops).map((op) => [op, compileExpression(`msg.a ${op} msg.b`, MSG_HOOK)]),
      );
      const prim = fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 8 }), fc.boolean(), fc.constant(null), fc.constant(undefined));
      fc.assert(
        fc.property(prim, prim, fc.constantFrom(...Object.keys(ops)), (a, b, op) => {
          const got = compiled[op]!({ msg: { a, b }, handler: {} });
          expect(Object.is(got, ops[op]!(a as never, b as never)) || (Number.isNaN(got) && Number.isNaN(ops[op]!(a as never, b as never)))).toBe(true);
        }),
        { numRuns: 500 },
      );
    });
  });

  describe('compound expressions', () => {
    it('runs statements separated by ; in order and returns the last value', () => {
      const msg: Record<string, unknown> = {};
      expect(evalMsg('msg.a = 1; msg.b = msg.a + 1; msg.b * 10', msg)).toBe(20);
      expect(msg).toEqual({ a: 1, b: 2 });
    });

    it('accepts , as a statement separator and (a, b) as a sequence', () => {
      const msg: Record<string, unknown> = {};
      expect(evalMsg('msg.a = 1, msg.b = 2', msg)).toBe(2);
      expect(evalMsg('(msg.c = 3, msg.c + 1)', msg)).toBe(4);
      expect(msg).toEqual({ a: 1, b: 2, c: 3 });
    });
  });

  describe('templates', () => {
    it('interpolates values with the sandbox string conversion', () => {
      expect(evalMsg('`Hi ${msg.name}, you have ${msg.n + 1} (${[1, 2]}) ${msg.none}`', { name: 'Ann', n: 1 })).toBe(
        'Hi Ann, you have 2 (1,2) undefined',
      );
    });

    it('nests templates and keeps escapes', () => {
      expect(evalMsg('`a${`b${msg.x}`}\\n`', { x: 'c' })).toBe('abc\n');
    });
  });

  describe('arrow functions', () => {
    it('work as arguments of map, filter, some, every, find, findIndex and reduce', () => {
      const msg = { xs: [3, 1, 4, 1, 5] };
      expect(
        evalMsg(
          '[msg.xs.map(x => x * 2), msg.xs.filter((x, i) => i > 2), msg.xs.some(x => x > 4), msg.xs.every(x => x > 0), msg.xs.find(x => x > 3), msg.xs.findIndex(x => x === 1), msg.xs.reduce((a, b) => a + b, 0), msg.xs.reduce((a, b) => a > b ? a : b)]',
          msg,
        ),
      ).toEqual([[6, 2, 8, 2, 10], [1, 5], true, true, 4, 1, 14, 5]);
    });

    it('see their own parameters, the enclosing ones and the scope', () => {
      expect(evalMsg('msg.a.map(x => msg.b.map(y => x + y + msg.c))', { a: [1, 2], b: [10, 20], c: 100 })).toEqual([
        [111, 121],
        [112, 122],
      ]);
    });

    it('let a parameter shadow a scope name', () => {
      expect(evalMsg('msg.items.map(msg => msg.id)', { items: [{ id: 'a' }, { id: 'b' }] })).toEqual(['a', 'b']);
    });

    it('take no parameters, or an index and the array', () => {
      expect(evalMsg('[1, 2].map(() => 0)')).toEqual([0, 0]);
      expect(evalMsg('["a", "b"].map((x, i, all) => x + i + all.length)')).toEqual(['a02', 'b12']);
    });

    it('return an object literal from an expression body', () => {
      expect(evalMsg('[1].map(x => ({ v: x }))')).toEqual([{ v: 1 }]);
      expect(evalMsg('[1].map(x => { v: x })')).toEqual([{ v: 1 }]);
    });
  });

  describe('spread', () => {
    it('spreads arrays and strings into arrays', () => {
      expect(evalMsg('[0, ...msg.xs, ...[], ..."ab", 9]', { xs: [1, 2] })).toEqual([0, 1, 2, 'a', 'b', 9]);
    });

    it('spreads objects into objects, later keys winning', () => {
      const r = evalMsg('{ a: 0, ...msg, b: 2, ...null }', { a: 1, c: 3 });
      expect(r).toEqual({ a: 1, c: 3, b: 2 });
    });

    it('spreads arrays into call arguments', () => {
      expect(evalMsg('Math.max(...msg.xs, 0)', { xs: [3, 7, 5] })).toBe(7);
    });
  });

  describe('objects and arrays', () => {
    it('builds object literals with identifier, string, number, computed and shorthand keys', () => {
      expect(evalMsg('{ a: 1, "b c": 2, 3: 3, ["d" + 1]: 4, msg }', { x: 1 })).toEqual({ a: 1, 'b c': 2, 3: 3, d1: 4, msg: { x: 1 } });
    });

    it('keeps array holes as undefined', () => {
      expect(evalMsg('[1, , 3]')).toEqual([1, undefined, 3]);
    });
  });

  describe('member access', () => {
    it('reads members with dots, brackets and computed keys', () => {
      const msg = { a: { b: [10, 20] }, k: 'b' };
      expect(evalMsg('[msg.a.b[1], msg["a"][msg.k][0], msg.a.b.length, "hey".length, "hey"[1]]', msg)).toEqual([20, 10, 2, 3, 'e']);
    });

    it('yields undefined for a missing key and fails for a member of undefined', () => {
      expect(evalMsg('msg.nope')).toBeUndefined();
      expect(runError('msg.nope.deeper', 'MH_ERR_EXPR_RUNTIME').message).toContain('cannot read "deeper" of undefined');
    });

    it('short-circuits a whole optional chain', () => {
      expect(evalMsg('msg.a?.b.c.d', {})).toBeUndefined();
      expect(evalMsg('msg.a?.b.c', { a: { b: { c: 5 } } })).toBe(5);
      expect(evalMsg('msg.a?.[msg.k]', { k: 'x' })).toBeUndefined();
      expect(evalMsg('msg.s?.trim().length', {})).toBeUndefined();
      expect(evalMsg('msg.s?.trim().length', { s: ' ab ' })).toBe(2);
    });
  });

  describe('assignment', () => {
    it('assigns members, deep members and computed members of a writable root', () => {
      const msg: Record<string, unknown> = { deep: { list: [0] } };
      evalMsg('msg.a = 1; msg["b c"] = 2; msg.deep.x = 3; msg.deep.list[0] = 4; msg[msg.a + "k"] = 5', msg);
      expect(msg).toEqual({ deep: { list: [4], x: 3 }, a: 1, 'b c': 2, '1k': 5 });
    });

    it('chains assignments right to left and returns the value', () => {
      const msg: Record<string, unknown> = {};
      expect(evalMsg('msg.a = msg.b = 7', msg)).toBe(7);
      expect(msg).toEqual({ a: 7, b: 7 });
    });

    it('supports the compound operators', () => {
      const msg: Record<string, unknown> = { n: 10, s: 'a', z: null, t: 1, f: 0 };
      evalMsg('msg.n += 5; msg.n -= 1; msg.n *= 2; msg.n /= 4; msg.n **= 2; msg.n %= 40; msg.s += "b"; msg.z ??= "set"; msg.t ||= "kept"; msg.f ||= "filled"; msg.t &&= "and"', msg);
      expect(msg).toEqual({ n: 9, s: 'ab', z: 'set', t: 'and', f: 'filled' });
    });

    it('does not evaluate the right side of a logical assignment it does not need', () => {
      const msg: Record<string, unknown> = { a: 1 };
      evalMsg('msg.a ||= reject("never"); msg.b ??= 2', msg);
      expect(msg).toEqual({ a: 1, b: 2 });
    });

    it('groups assignments, arrows and ** as JavaScript does, parentheses included', () => {
      const msg: Record<string, unknown> = { xs: [1, 2, 3], total: 0 };
      expect(evalMsg('msg.xs.forEach(x => msg.total += x); msg.total', msg)).toBe(6);
      expect(evalMsg('msg.p = 2 ** 3 ** 2; msg.p', msg)).toBe(512);
      expect(evalMsg('msg.xs.map(x => msg.sq = x ** 2); msg.sq', msg)).toBe(9);
      expect(evalMsg('(msg.q = 2) ** 3', msg)).toBe(8);
      expect(msg.q).toBe(2);
      expect(evalMsg('msg.xs.map(x => msg.xs.map(y => msg.z = x * y)); msg.z', msg)).toBe(9);
    });

    it('increments and decrements, prefix and postfix', () => {
      const msg: Record<string, unknown> = { n: 1 };
      expect(evalMsg('[msg.n++, msg.n, ++msg.n, msg.n--, --msg.n]', msg)).toEqual([1, 2, 3, 3, 1]);
      expect(msg.n).toBe(1);
    });

    it('writes to objects and arrays the expression created', () => {
      expect(evalMsg('msg.o = {}; msg.o.a = [1]; msg.o.a.push(2); msg.o.a[2] = 3; msg.o', {})).toEqual({ a: [1, 2, 3] });
    });
  });

  describe('regex literals', () => {
    it('are usable as method arguments and as the receiver of test', () => {
      const msg = { s: 'Hello World' };
      expect(evalMsg('[/world/i.test(msg.s), msg.s.replace(/o/g, "0"), msg.s.split(/\\s+/), msg.s.match(/(\\w+) (\\w+)/)[2], msg.s.search(/W/)]', msg)).toEqual([
        true, 'Hell0 W0rld', ['Hello', 'World'], 'World', 6,
      ]);
    });
  });

  it('evaluates against the scope it is given, not the one it was compiled with', () => {
    const fn = compileExpression('msg.a + 1', MSG_HOOK);
    expect(fn({ msg: { a: 1 }, handler: makeHandler() })).toBe(2);
    expect(fn({ msg: { a: 41 }, handler: makeHandler() })).toBe(42);
  });
});
