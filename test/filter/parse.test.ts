import { describe, expect, it } from 'vitest';
import { MhError } from '../../src/errors.js';
import { parseFilter, type Filter } from '../../src/filter/index.js';
import { MESSAGES, argsOf, columnMap } from './fixtures.js';

const parse = (query: string, options?: Parameters<typeof parseFilter>[2]): Filter => parseFilter(argsOf(query), MESSAGES, options);

function errorOf(fn: () => unknown): MhError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MhError) return err;
    throw err;
  }
  throw new Error('expected an MhError');
}

describe('parseFilter', () => {
  describe('operators', () => {
    it.each([
      ['topic=Help', { column: 'topic', op: 'eq', values: ['Help'] }],
      ['topic!=Help', { column: 'topic', op: 'ne', values: ['Help'] }],
      ['topic', { column: 'topic', op: 'notnull', values: [] }],
      ['topic=', { column: 'topic', op: 'notnull', values: [] }],
      ['topic!', { column: 'topic', op: 'null', values: [] }],
      ['topic!=', { column: 'topic', op: 'null', values: [] }],
      ['length>=5', { column: 'length', op: 'gt', values: [5], numeric: 'integer' }],
      ['length>~=5', { column: 'length', op: 'ge', values: [5], numeric: 'integer' }],
      ['length<=5', { column: 'length', op: 'lt', values: [5], numeric: 'integer' }],
      ['length<~=5', { column: 'length', op: 'le', values: [5], numeric: 'integer' }],
      ['body~=ell', { column: 'body', op: 'contains', values: ['ell'] }],
      ['body!~=ell', { column: 'body', op: 'notcontains', values: ['ell'] }],
      ['body*=ELL', { column: 'body', op: 'icontains', values: ['ell'] }],
      ['body!*=ELL', { column: 'body', op: 'noticontains', values: ['ell'] }],
    ])('reads %s as the documented condition', (query, condition) => {
      expect(parse(query).where).toEqual([condition]);
    });

    it('keeps every value of a repeated equality key, sorted and without duplicates', () => {
      expect(parse('topic=b&topic=a&topic=b').where).toEqual([{ column: 'topic', op: 'eq', values: ['a', 'b'] }]);
    });

    it('reduces repeated lower bounds to the least and upper bounds to the greatest (any of them)', () => {
      expect(parse('length>=7&length>=3&score<~=1.5&score<~=-2').where).toEqual([
        { column: 'length', op: 'gt', values: [3], numeric: 'integer' },
        { column: 'score', op: 'le', values: [1.5], numeric: 'real' },
      ]);
    });

    it('orders text bounds by code point, so an astral character is above U+FFFD', () => {
      expect(parse('topic<=%EF%BF%BD&topic<=%F0%9F%98%80').where[0].values).toEqual(['😀']);
    });

    it('folds only ASCII letters in case-insensitive values', () => {
      expect(parse('body*=%C3%89A&body*=a').where[0].values).toEqual(['a', 'Éa']);
    });

    it('drops empty values before deciding the operator', () => {
      expect(parse('topic=&topic=Help').where).toEqual([{ column: 'topic', op: 'eq', values: ['Help'] }]);
      expect(parse('topic!=&topic!=Help').where).toEqual([{ column: 'topic', op: 'ne', values: ['Help'] }]);
    });

    it('ignores a comparison or substring key that has only empty values', () => {
      expect(parse('length>=&length<~=&body~=&body!*=').where).toEqual([]);
    });

    it('ANDs different keys, in a canonical order whatever the query order', () => {
      expect(parse('topic=Help&length>=3')).toEqual(parse('length>=3&topic=Help'));
      expect(parse('topic=Help&length>=3').where.map((c) => c.column)).toEqual(['length', 'topic']);
    });

    it('prefers an exact column name over a suffix reading', () => {
      const columns = columnMap({ a: 'text', 'a!': 'text' });
      expect(parseFilter(argsOf('a!=x'), columns).where).toEqual([{ column: 'a!', op: 'eq', values: ['x'] }]);
    });

    it('tries suffixes in Gramex order, so ">~" beats "~" when both name a column', () => {
      const columns = columnMap({ x: 'integer', 'x>': 'text' });
      expect(parseFilter({ 'x>~': ['3'] }, columns).where).toEqual([{ column: 'x', op: 'ge', values: [3], numeric: 'integer' }]);
    });
  });

  describe('value conversion', () => {
    it.each([
      ['length=%2B3', 3],
      ['length=007', 7],
      ['length=-0', 0],
      ['length=-42', -42],
      ['score=.5', 0.5],
      ['score=2.', 2],
      ['score=1e-7', 1e-7],
      ['score=-0.0', 0],
      ['read=true', true],
      ['read=FALSE', false],
      ['read=1', true],
      ['read=0', false],
      ['topic=%20Help%20', ' Help '],
    ])('converts %s to the column kind', (query, value) => {
      const [condition] = parse(query).where;
      expect(condition.values).toEqual([value]);
      expect(Object.is(condition.values[0], -0)).toBe(false);
    });

    it('merges values that convert to the same number', () => {
      expect(parse('length=1&length=01&length=%2B1').where[0].values).toEqual([1]);
    });

    it.each([
      'length=1.5',
      'length=5e3',
      'length=abc',
      'length=%201',
      'length=9007199254740993',
      'score=Infinity',
      'score=NaN',
      'score=0x10',
      'score=1e999',
      'score=1,5',
      'read=yes',
      'read=2',
      'topic=a%00b',
    ])('refuses %s with MH_ERR_FILTER_VALUE', (query) => {
      const err = errorOf(() => parse(query));
      expect(err.code).toBe('MH_ERR_FILTER_VALUE');
      expect(err.status).toBe(400);
    });

    it('refuses text with an unpaired surrogate', () => {
      expect(errorOf(() => parseFilter({ topic: ['\uD83D'] }, MESSAGES)).code).toBe('MH_ERR_FILTER_VALUE');
    });

    it('refuses substring operators on non-text columns', () => {
      for (const query of ['length~=1', 'score!~=1', 'read*=t', 'length!*=1']) {
        expect(errorOf(() => parse(query)).code).toBe('MH_ERR_FILTER_VALUE');
      }
    });

    it('names the key and the reason in the message', () => {
      expect(errorOf(() => parse('length>=abc')).message).toBe('Bad filter value for length>: "abc" is not an integer');
    });
  });

  describe('controls', () => {
    it('reads repeated _sort in order, with - for descending, keeping the first mention of a column', () => {
      expect(parse('_sort=-timestamp&_sort=id&_sort=timestamp').sort).toEqual([
        { column: 'timestamp', desc: true },
        { column: 'id', desc: false },
      ]);
    });

    it('takes the minimum of repeated _limit and _offset', () => {
      const filter = parse('_limit=10&_limit=3&_offset=7&_offset=2');
      expect(filter.limit).toBe(3);
      expect(filter.offset).toBe(2);
    });

    it('accepts _limit=0 and leaves limit and offset unset when absent', () => {
      expect(parse('_limit=0').limit).toBe(0);
      expect(parse('topic=x')).not.toHaveProperty('limit');
      expect(parse('topic=x')).not.toHaveProperty('offset');
    });

    it.each(['_limit=-1', '_limit=abc', '_limit=1.5', '_limit=', '_offset=%2B1', '_offset=1e2', '_limit=99999999999999999'])(
      'refuses %s with MH_ERR_FILTER_VALUE',
      (query) => {
        expect(errorOf(() => parse(query)).code).toBe('MH_ERR_FILTER_VALUE');
      },
    );

    it('projects the _c columns in the order given', () => {
      expect(parse('_c=body&_c=id&_c=body').columns).toEqual(['body', 'id']);
    });

    it('starts from every column when _c only excludes', () => {
      expect(parse('_c=-body&_c=-user').columns).toEqual(['id', 'topic', 'timestamp', 'length', 'score', 'read']);
    });

    it('removes exclusions from inclusions', () => {
      expect(parse('_c=body&_c=id&_c=-body').columns).toEqual(['id']);
    });

    it('leaves columns undefined without _c', () => {
      expect(parse('topic=x').columns).toBeUndefined();
    });

    it.each(['_sort=nope', '_sort=-nope', '_sort=', '_c=nope', '_c=-nope', '_c='])('refuses %s with MH_ERR_FILTER_COLUMN', (query) => {
      expect(errorOf(() => parse(query)).code).toBe('MH_ERR_FILTER_COLUMN');
    });
  });

  describe('keys', () => {
    it('skips reserved transport keys whatever their value', () => {
      const filter = parse('_since=abc&access_token=x&_wait=1&topic=a', { reserved: new Set(['_since', '_wait', 'access_token']) });
      expect(filter).toEqual({ where: [{ column: 'topic', op: 'eq', values: ['a'] }], sort: [] });
    });

    it.each(['_format=json', '_by=topic', '_method=POST', 'nope=1', 'nope>=1', 'Topic=Help', 'topic>>=1'])(
      'refuses %s with MH_ERR_FILTER_COLUMN',
      (query) => {
        const err = errorOf(() => parse(query));
        expect(err.code).toBe('MH_ERR_FILTER_COLUMN');
        expect(err.closeCode).toBe(4400);
      },
    );

    it('allows 64 comparisons by default and refuses the 65th', () => {
      const values = (n: number) => Array.from({ length: n }, (_, i) => `length=${i}`).join('&');
      expect(parse(values(64)).where[0].values).toHaveLength(64);
      expect(errorOf(() => parse(values(65))).code).toBe('MH_ERR_FILTER_VALUE');
    });

    it('counts each value and each NULL test against maxConditions', () => {
      expect(() => parse('topic=a&topic=b&user!', { maxConditions: 3 })).not.toThrow();
      expect(errorOf(() => parse('topic=a&topic=b&user!&body', { maxConditions: 3 })).code).toBe('MH_ERR_FILTER_VALUE');
    });

    it('returns an empty filter for no arguments', () => {
      expect(parse('')).toEqual({ where: [], sort: [] });
    });
  });
});
