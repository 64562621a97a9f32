import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asciiLower, canonicalValues, compareCodePoints, compareScalar } from '../../src/filter/compare.js';

describe('compareCodePoints', () => {
  it('puts astral characters above U+E000–U+FFFF, unlike UTF-16 order', () => {
    expect('😀' < '\uE000').toBe(true); // the JavaScript default this module corrects
    expect(compareCodePoints('😀', '\uE000')).toBeGreaterThan(0);
    expect(compareCodePoints('\uFFFD', '😀')).toBeLessThan(0);
    expect(compareCodePoints('😀', '😁')).toBeLessThan(0);
  });

  it('orders strings exactly as their UTF-8 bytes do (SQLite BINARY, PostgreSQL "C", MySQL binary)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        expect(Math.sign(compareCodePoints(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { numRuns: 2000 },
    );
  });

  it('treats a prefix as smaller and equal strings as equal', () => {
    expect(compareCodePoints('ab', 'abc')).toBeLessThan(0);
    expect(compareCodePoints('abc', 'abc')).toBe(0);
  });
});

describe('asciiLower', () => {
  it('lower-cases A–Z and leaves every other character alone', () => {
    expect(asciiLower('AZaz ÉİK\u212Aǅ😀')).toBe('azaz Éİk\u212Aǅ😀');
  });
});

describe('compareScalar', () => {
  it('compares booleans and numbers as 0 and 1 and refuses mixed text and numbers', () => {
    expect(compareScalar(true, false)).toBe(1);
    expect(compareScalar(1, true)).toBe(0);
    expect(compareScalar('1', 1)).toBeUndefined();
    expect(compareScalar(1, '1')).toBeUndefined();
    expect(compareScalar(NaN, 1)).toBeUndefined();
    expect(compareScalar(null, 1)).toBeUndefined();
  });
});

describe('canonicalValues', () => {
  it('sorts and removes duplicates, keeping values of different types apart', () => {
    expect(canonicalValues(['b', 'a', 'b', 2, 1, 2, true, false, '1'])).toEqual([false, true, 1, 2, '1', 'a', 'b']);
  });
});
