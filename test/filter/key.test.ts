import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { filterKey, parseFilter, projectRow } from '../../src/filter/index.js';
import type { Args } from '../../src/types.js';
import { MESSAGES, argsOf } from './fixtures.js';

const keyOf = (query: string): string => filterKey(parseFilter(argsOf(query), MESSAGES));
const KEEP = ['_method', 'id', '_seq'];

describe('filterKey', () => {
  it.each([
    ['topic=Help&length>=3', 'length>=3&topic=Help'],
    ['topic=a&topic=b', 'topic=b&topic=a&topic=a'],
    ['length=1', 'length=01&length=%2B1'],
    ['body*=Hello', 'body*=hELLO'],
    ['_c=body&_c=id', '_c=id&_c=body&_c=body'],
    ['_c=-body', '_c=id&_c=topic&_c=user&_c=timestamp&_c=length&_c=score&_c=read'],
    ['topic=a', 'topic=a&_sort=-id&_limit=5&_offset=2'],
    ['length>=3&length>=5', 'length>=3'],
    ['topic', 'topic='],
  ])('gives %s and %s the same key', (a, b) => {
    expect(keyOf(a)).toBe(keyOf(b));
  });

  it.each([
    ['topic=Help', 'topic=help'],
    ['topic=Help', 'topic!=Help'],
    ['length>=3', 'length>~=3'],
    ['topic=a', 'user=a'],
    ['topic=a', 'topic=a&topic=b'],
    ['body~=Hello', 'body~=hello'],
    ['body~=a', 'body*=a'],
    ['topic=1', 'length=1'],
    ['topic=a', 'topic=a&_c=id'],
    ['_c=id', '_c=id&_c=body'],
    ['topic', 'topic!'],
  ])('gives %s and %s different keys', (a, b) => {
    expect(keyOf(a)).not.toBe(keyOf(b));
  });

  it('does not depend on the order of keys or of repeated values', () => {
    const valuesFor: Record<string, fc.Arbitrary<string>> = {
      topic: fc.constantFrom('a', 'B', '1'),
      'topic!': fc.constantFrom('a', 'B', ''),
      'length>': fc.constantFrom('1', '02', '-3'),
      'length<~': fc.constantFrom('1', '02', '-3'),
      'body~': fc.constantFrom('a', 'B'),
      'body!*': fc.constantFrom('a', 'A', 'b'),
      read: fc.constantFrom('true', '0', 'FALSE'),
      _c: fc.constantFrom('id', 'body', '-topic'),
    };
    const entry = fc
      .constantFrom(...Object.keys(valuesFor))
      .chain((k) => fc.tuple(fc.constant(k), fc.array(valuesFor[k], { minLength: 1, maxLength: 3 })));
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: ([k]) => k, maxLength: 5 }), fc.infiniteStream(fc.nat()), (entries, seeds) => {
        const shuffle = <T>(xs: T[]): T[] => xs.map((x) => [seeds.next().value, x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
        const a: Args = Object.fromEntries(entries);
        const b: Args = Object.fromEntries(shuffle(entries).map(([k, vs]) => [k, shuffle([...vs, ...vs])]));
        expect(filterKey(parseFilter(b, MESSAGES))).toBe(filterKey(parseFilter(a, MESSAGES)));
      }),
      { numRuns: 200 },
    );
  });
});

describe('projectRow', () => {
  const frame = { _method: 'POST', body: 'hi', topic: 'Help', id: 'x1', user: null, _seq: 7, extra: 1 };

  it('returns the row itself when there is no _c', () => {
    const filter = parseFilter(argsOf('topic=Help'), MESSAGES);
    expect(projectRow(frame, filter, KEEP)).toBe(frame);
  });

  it('keeps the selected columns and every keep key present, in the row order', () => {
    const filter = parseFilter(argsOf('_c=topic&_c=body'), MESSAGES);
    const out = projectRow(frame, filter, KEEP);
    expect(out).toEqual({ _method: 'POST', body: 'hi', topic: 'Help', id: 'x1', _seq: 7 });
    expect(Object.keys(out)).toEqual(['_method', 'body', 'topic', 'id', '_seq']);
  });

  it('keeps id and the transport keys even when _c excludes id', () => {
    const filter = parseFilter(argsOf('_c=-id&_c=-body'), MESSAGES);
    expect(projectRow(frame, filter, KEEP)).toEqual({ _method: 'POST', topic: 'Help', id: 'x1', user: null, _seq: 7 });
  });

  it('does not invent keep keys the row lacks', () => {
    const filter = parseFilter(argsOf('_c=body'), MESSAGES);
    expect(projectRow({ id: 'h1', body: 'b', topic: 't' }, filter, KEEP)).toEqual({ id: 'h1', body: 'b' });
  });

  it('follows a replaced columns list rather than a cached one', () => {
    const filter = parseFilter(argsOf('_c=body'), MESSAGES);
    projectRow(frame, filter, []);
    filter.columns = ['topic'];
    expect(projectRow(frame, filter, [])).toEqual({ topic: 'Help' });
  });
});
