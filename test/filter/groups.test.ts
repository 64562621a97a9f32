/**
 * Issue 15 item 5: any-of groups in filters. "To me or from me" (Texto) and "to me or any of my tags"
 * (SimpleBus) are one subscription: one filter, one key, one predicate that stops at the first group that
 * passes, one SQL clause, with the same bounds as a query string. (SQL/predicate agreement on every database:
 * agreement-*.test.ts; history through a real store: history-any-of.test.ts.)
 */
import fc from 'fast-check';
import knex from 'knex';
import { describe, expect, it } from 'vitest';
import { MhError } from '../../src/errors.js';
import {
  FilterBudget,
  anyOf,
  applyWhere,
  compilePredicate,
  filterComparisons,
  filterGroups,
  filterKey,
  filterScans,
  parseFilter,
  parseFilterGroups,
  type Condition,
  type Filter,
} from '../../src/filter/index.js';
import type { Args, Row } from '../../src/types.js';
import { MESSAGES, argsOf, columnMap } from './fixtures.js';

const CHAT = columnMap({ id: 'text', body: 'text', recipient: 'text', sender: 'text', to: 'text', channel: 'text', n: 'integer' });
const groups = (shared: Args, gs: Args[], options = {}): Filter => parseFilterGroups(shared, gs, CHAT, options);

const errorOf = (fn: () => unknown): MhError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof MhError) return err;
    throw err;
  }
  throw new Error('did not throw');
};

const sqliteSql = (filter: Filter): string => {
  const db = knex({ client: 'better-sqlite3', useNullAsDefault: true });
  return applyWhere(db('t').select('id'), filter, 'sqlite').andWhere('n', '>', 0).toSQL().sql;
};

describe('the three adapters', () => {
  it('x0: one group is the plain AND-only filter, key and all', () => {
    const f = groups({}, [{ recipient: ['s1'] }]);
    expect(f).toEqual({ where: [{ column: 'recipient', op: 'eq', values: ['s1'] }], sort: [] });
    expect(filterKey(f)).toBe(filterKey(parseFilter({ recipient: ['s1'] }, CHAT)));
  });

  it('Texto: to me or from me, one subscription', () => {
    const f = groups({}, [{ recipient: ['me'] }, { sender: ['me'] }]);
    expect(filterGroups(f)).toEqual([
      [{ column: 'recipient', op: 'eq', values: ['me'] }],
      [{ column: 'sender', op: 'eq', values: ['me'] }],
    ]);
    const test = compilePredicate(f);
    expect([{ recipient: 'me' }, { sender: 'me' }, { recipient: 'me', sender: 'me' }, { recipient: 'you', sender: 'them' }, {}].map(test)).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
    expect(sqliteSql(f)).toBe('select `id` from `t` where ((`recipient` COLLATE BINARY IN (?)) OR (`sender` COLLATE BINARY IN (?))) and `n` > ?');
    const nulls = groups({}, [{ 'recipient!': [''], sender: ['me'] }, { 'n<': ['0'] }]);
    expect(sqliteSql(nulls)).toBe('select `id` from `t` where ((`n` < ?) OR (`recipient` IS NULL AND (`sender` COLLATE BINARY IN (?)))) and `n` > ?');
  });

  it('SimpleBus: to me or any of my tags merges into one condition (the AND-only fast path)', () => {
    const f = groups({}, [{ 'to~': ['@me'] }, { 'to~': ['#tag2'] }, { 'to~': ['#tag1'] }]);
    expect(f).toEqual({ where: [{ column: 'to', op: 'contains', values: ['#tag1', '#tag2', '@me'] }], sort: [] });
    expect(filterKey(f)).toBe(filterKey(parseFilter({ 'to~': ['@me', '#tag1', '#tag2'] }, CHAT)));
    expect(['to @me', 'about #tag1', 'nothing'].map((to) => compilePredicate(f)({ to }))).toEqual([true, true, false]);
  });

  it('ANDs the shared args into every group and takes the controls from them alone', () => {
    const f = groups({ channel: ['ops'], _c: ['body'], _sort: ['-n'], _limit: ['5'], _offset: ['1'] }, [{ recipient: ['me'] }, { sender: ['me'] }]);
    expect(filterGroups(f)).toEqual([
      [{ column: 'channel', op: 'eq', values: ['ops'] }, { column: 'recipient', op: 'eq', values: ['me'] }],
      [{ column: 'channel', op: 'eq', values: ['ops'] }, { column: 'sender', op: 'eq', values: ['me'] }],
    ]);
    expect([f.columns, f.sort, f.limit, f.offset]).toEqual([['body'], [{ column: 'n', desc: true }], 5, 1]);
    const test = compilePredicate(f);
    expect([{ channel: 'ops', sender: 'me' }, { channel: 'dev', sender: 'me' }, { channel: 'ops', sender: 'you' }].map(test)).toEqual([true, false, false]);
  });
});

describe('the Filter value', () => {
  it('is frozen and survives a JSON round trip unchanged, key included', () => {
    const f = groups({ _c: ['body'] }, [{ recipient: ['me'], 'n>': ['3'] }, { sender: ['me'] }]);
    expect(Object.isFrozen(f) && Object.isFrozen(f.where) && Object.isFrozen(f.or) && Object.isFrozen(f.or![0]) && Object.isFrozen(f.or![0]![0]!.values)).toBe(true);
    const copy = JSON.parse(JSON.stringify(f)) as Filter;
    expect(copy).toEqual(f);
    expect(filterKey(copy)).toBe(filterKey(f));
  });

  it('copies hand-built conditions rather than freezing the caller’s', () => {
    const mine: Condition = { column: 'recipient', op: 'eq', values: ['me'] };
    anyOf([[mine], [{ column: 'sender', op: 'eq', values: ['me'] }]]);
    expect(Object.isFrozen(mine) || Object.isFrozen(mine.values)).toBe(false);
  });

  it('passes every row when a group is empty, in the predicate and in SQL', () => {
    const f = groups({}, [{ recipient: ['me'] }, {}]);
    expect(f).toEqual({ where: [], sort: [] });
    const handBuilt: Filter = { where: [{ column: 'recipient', op: 'eq', values: ['me'] }], or: [[]], sort: [] };
    expect(compilePredicate(handBuilt)({ recipient: 'you' })).toBe(true);
    expect(sqliteSql(handBuilt)).toBe('select `id` from `t` where `n` > ?');
    expect(filterKey(handBuilt)).toBe(filterKey(parseFilter({}, CHAT)));
  });

  it('refuses a filter of no groups (it would match nothing: never what a subscription means)', () => {
    expect(errorOf(() => groups({}, [])).code).toBe('MH_ERR_FILTER_VALUE');
    expect(errorOf(() => anyOf([])).code).toBe('MH_ERR_FILTER_VALUE');
  });

  it.each(['_c', '_sort', '_limit', '_offset', '_since'])('refuses the control or reserved key %s inside a group', (key) => {
    const err = errorOf(() => groups({}, [{ recipient: ['me'] }, { [key]: ['body'] }], { reserved: new Set(['_since']) }));
    expect([err.code, err.message]).toEqual(['MH_ERR_FILTER_COLUMN', `Unknown filter column "${key}"`]);
  });

  it('refuses what a group gets wrong as a query string would', () => {
    expect(errorOf(() => groups({}, [{ recipient: ['me'] }, { nosuch: ['1'] }])).code).toBe('MH_ERR_FILTER_COLUMN');
    expect(errorOf(() => groups({}, [{ recipient: ['me'] }, { 'n>': ['x'] }])).code).toBe('MH_ERR_FILTER_VALUE');
    expect(errorOf(() => groups({}, [{ recipient: ['me'] }, { 'to~': ['x'.repeat(11)] }], { maxNeedle: 10 })).message).toContain('max_filter_needle');
  });

  it('has no query-string syntax: `_or` is an unknown key, never a silent widening', () => {
    expect(errorOf(() => parseFilter(argsOf('recipient=me&_or=sender%3Dme'), CHAT)).code).toBe('MH_ERR_FILTER_COLUMN');
  });
});

describe('the predicate', () => {
  it('stops at the first group that passes', () => {
    const f = groups({}, [{ recipient: ['me'] }, { 'body~': ['x'] }, { sender: ['me'] }]);
    // Groups run in canonical order (body, recipient, sender): count what each reads.
    const reads: string[] = [];
    const row = (values: Row): Row =>
      new Proxy(values, {
        get: (target, key) => {
          reads.push(String(key));
          return target[key as string];
        },
      });
    expect(compilePredicate(f)(row({ body: 'x', recipient: 'me', sender: 'me' }))).toBe(true);
    expect(reads).toEqual(['body']);
    reads.length = 0;
    expect(compilePredicate(f)(row({ body: 'y', recipient: 'me', sender: 'me' }))).toBe(true);
    expect(reads).toEqual(['body', 'recipient']);
    reads.length = 0;
    expect(compilePredicate(f)(row({ body: 'y', recipient: 'you', sender: 'you' }))).toBe(false);
    expect(reads).toEqual(['body', 'recipient', 'sender']);
  });

  it('compiles an AND-only filter exactly as before: no group loop around it', () => {
    const plain = parseFilter(argsOf('recipient=me&sender=you'), CHAT);
    // The any-of wrapper is a different function body; the AND-only one is the conjunction itself.
    expect(compilePredicate(plain).toString()).not.toMatch(/group/);
    expect(compilePredicate(groups({}, [{ recipient: ['me'] }, { sender: ['me'] }, { channel: ['x'] }])).toString()).toMatch(/group/);
  });
});

describe('filterKey of any-of filters', () => {
  const key = (shared: Args, gs: Args[]): string => filterKey(groups(shared, gs));

  it.each<[string, [Args, Args[]], [Args, Args[]]]>([
    ['groups in any order', [{}, [{ recipient: ['a'] }, { sender: ['b'] }]], [{}, [{ sender: ['b'] }, { recipient: ['a'] }]]],
    ['conditions in any order', [{}, [{ recipient: ['a'], 'n>': ['1'] }, { sender: ['b'] }]], [{}, [{ sender: ['b'] }, { 'n>': ['1'], recipient: ['a'] }]]],
    ['a repeated group', [{}, [{ recipient: ['a'] }, { sender: ['b'] }]], [{}, [{ recipient: ['a'] }, { sender: ['b'] }, { recipient: ['a'] }]]],
    ['values in any order, repeated', [{}, [{ recipient: ['a', 'c'], sender: ['x'] }, { sender: ['b'] }]], [{}, [{ sender: ['b'] }, { sender: ['x'], recipient: ['c', 'a', 'c'] }]]],
    ['a shared condition or the same one in each group', [{ channel: ['o'] }, [{ recipient: ['a'] }, { sender: ['b'] }]], [{}, [{ channel: ['o'], recipient: ['a'] }, { sender: ['b'], channel: ['o'] }]]],
    ['one-condition equality groups or one IN list', [{}, [{ recipient: ['a'] }, { recipient: ['b'] }]], [{ recipient: ['b', 'a'] }, [{}]]],
  ])('is equal for %s', (_name, [s1, g1], [s2, g2]) => {
    expect(key(s1, g1)).toBe(key(s2, g2));
  });

  it.each<[string, [Args, Args[]], [Args, Args[]]]>([
    ['AND versus OR of the same conditions', [{ recipient: ['a'], sender: ['b'] }, [{}]], [{}, [{ recipient: ['a'] }, { sender: ['b'] }]]],
    ['a different group', [{}, [{ recipient: ['a'] }, { sender: ['b'] }]], [{}, [{ recipient: ['a'] }, { sender: ['c'] }]]],
    ['one more group', [{}, [{ recipient: ['a'] }, { sender: ['b'] }]], [{}, [{ recipient: ['a'] }, { sender: ['b'] }, { channel: ['c'] }]]],
    ['a condition moved between groups', [{}, [{ recipient: ['a'], sender: ['b'] }, { channel: ['c'] }]], [{}, [{ recipient: ['a'] }, { sender: ['b'], channel: ['c'] }]]],
    ['another projection', [{ _c: ['body'] }, [{ recipient: ['a'] }, { sender: ['b'] }]], [{}, [{ recipient: ['a'] }, { sender: ['b'] }]]],
  ])('differs for %s', (_name, [s1, g1], [s2, g2]) => {
    expect(key(s1, g1)).not.toBe(key(s2, g2));
  });

  it('differs between AND and OR of the same two conditions, hand-built', () => {
    const a: Condition = { column: 'recipient', op: 'eq', values: ['a'] };
    const b: Condition = { column: 'sender', op: 'eq', values: ['b'] };
    expect(filterKey({ where: [a, b], sort: [] })).not.toBe(filterKey({ where: [a], or: [[b]], sort: [] }));
    // Which group sits in `where` does not matter.
    expect(filterKey({ where: [a], or: [[b]], sort: [] })).toBe(filterKey({ where: [b], or: [[a]], sort: [] }));
  });

  it('does not depend on the order of groups, conditions or values (property)', () => {
    const valuesFor: Record<string, fc.Arbitrary<string>> = {
      recipient: fc.constantFrom('a', 'b', 'c'),
      'sender!': fc.constantFrom('a', 'b'),
      'n>': fc.constantFrom('1', '02', '-3'),
      'body*': fc.constantFrom('a', 'A', 'b'),
      'to~': fc.constantFrom('@me', '#t'),
    };
    const entry = fc.constantFrom(...Object.keys(valuesFor)).chain((k) => fc.tuple(fc.constant(k), fc.array(valuesFor[k]!, { minLength: 1, maxLength: 3 })));
    const group = fc.uniqueArray(entry, { selector: ([k]) => k, minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(fc.array(group, { minLength: 1, maxLength: 4 }), fc.infiniteStream(fc.nat()), (gs, seeds) => {
        const shuffle = <T>(xs: readonly T[]): T[] => xs.map((x) => [seeds.next().value, x] as const).sort((p, q) => p[0] - q[0]).map(([, x]) => x);
        const a = gs.map((g): Args => Object.fromEntries(g));
        const b = shuffle([...gs, ...gs]).map((g): Args => Object.fromEntries(shuffle(g).map(([k, vs]) => [k, shuffle([...vs, ...vs])])));
        const [fa, fb] = [parseFilterGroups({}, a, MESSAGES_AND_CHAT), parseFilterGroups({}, b, MESSAGES_AND_CHAT)];
        expect(filterKey(fb)).toBe(filterKey(fa));
        // Canonical: the same filter value, and so the same SQL text.
        expect(fb).toEqual(fa);
      }),
      { numRuns: 200 },
    );
  });
});

const MESSAGES_AND_CHAT = new Map([...MESSAGES, ...CHAT]);

describe('bounds', () => {
  it('counts comparisons over every group, shared conditions once per group (max_filter_args)', () => {
    const f = groups({ channel: ['o'] }, [{ recipient: ['a', 'b'] }, { sender: ['c'], 'n>': ['1'] }, { 'to~': ['x', 'y', 'z'] }]);
    expect(filterComparisons(f)).toBe(3 + 3 + 4);
    expect(() => groups({ channel: ['o'] }, [{ recipient: ['a', 'b'] }, { sender: ['c'], 'n>': ['1'] }], { maxConditions: 6 })).not.toThrow();
    const err = errorOf(() => groups({ channel: ['o'] }, [{ recipient: ['a', 'b'] }, { sender: ['c'], 'n>': ['1'] }], { maxConditions: 5 }));
    expect([err.code, err.message]).toEqual(['MH_ERR_FILTER_VALUE', 'Bad filter value for filter: 6 comparisons; the limit is 5']);
  });

  it('refuses more groups than comparisons allowed before parsing any of them', () => {
    const many = Array.from({ length: 65 }, (_, i): Args => (i === 64 ? { nosuch: ['1'] } : { recipient: [`u${i}`], sender: ['x'] }));
    const err = errorOf(() => groups({}, many));
    expect([err.code, err.message]).toEqual(['MH_ERR_FILTER_VALUE', 'Bad filter value for filter: 65 groups; the limit is 64']);
  });

  it('counts substring scans in every group (max_filter_scans)', () => {
    const f = groups({ 'body*': ['q'] }, [{ 'to~': ['@me'], recipient: ['x'] }, { 'to!~': ['#a', '#b'] }, { channel: ['c'] }]);
    // body*=q runs in each of the 3 groups, plus 1 + 2 scans of their own.
    expect(filterScans(f)).toBe(3 + 1 + 2);
    const budget = new FilterBudget(8);
    expect(typeof budget.admit(f)).toBe('function');
    expect(budget.scans).toBe(6);
    const refused = budget.admit(groups({}, [{ 'to~': ['@you'], recipient: ['y'] }, { 'to!~': ['#c', '#d'] }, { channel: ['d'] }]));
    expect(refused instanceof MhError && refused.code).toBe('MH_ERR_FILTER_BUDGET');
    // The same filter again, groups in another order: already live, costs nothing more.
    expect(typeof budget.admit(groups({ 'body*': ['Q'] }, [{ channel: ['c'] }, { 'to!~': ['#b', '#a'] }, { recipient: ['x'], 'to~': ['@me'] }]))).toBe('function');
    expect(budget.scans).toBe(6);
  });
});
