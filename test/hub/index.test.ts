/**
 * The hub's equality index (hub/hub.ts) gives exactly the answers of scanning every filter's predicate: for random
 * mixes of directed filters (`recipient=…`, one or several text values), other filters and OR filters, and random
 * POST/PUT/DELETE events (including PUTs that move a row from one value to another, numbers and nulls in the
 * column), every member hears exactly the events `matches(compilePredicate(filter), event)` says, once each, in
 * publish order; and members that leave hear nothing more.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anyOf, compilePredicate, parseFilter, type Filter } from '../../src/filter/index.js';
import { Hub, matches } from '../../src/hub/hub.js';
import { msghubCodec } from '../../src/protocol/msghub.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import type { StoredEvent } from '../../src/store/store.js';
import { emptyArgs, type Row } from '../../src/types.js';

const COLS = withBuiltins([
  parseColumn('recipient', 'TEXT').def!,
  parseColumn('topic', 'TEXT').def!,
  parseColumn('n', 'INTEGER').def!,
  parseColumn('recipients', 'TEXT').def!,
]);
/** Delimited lists and near misses: a token at either end without its delimiter, doubled, empty segments. */
const LISTS = ['|alice|bob|', '|alice|', '|alice', 'bob|', 'x|bob|y', '', '|', '||', '|alice|alice|', '|carol||bob|', 'alice'];
const TOKENS = ['|alice|', '|bob|', '|carol|'];
const NAMES = ['alice', 'bob', 'carol', '5', ''];

function filterOf(spec: Record<string, string[]>): Filter {
  const args = emptyArgs();
  for (const [k, v] of Object.entries(spec)) args[k] = v;
  return parseFilter(args, COLS);
}

const filterArb: fc.Arbitrary<Filter> = fc.oneof(
  fc.constantFrom(...NAMES).map((v) => filterOf({ recipient: [v] })),
  fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 2, maxLength: 3 }).map((vs) => filterOf({ recipient: vs })),
  fc.constantFrom(...NAMES).map((v) => filterOf({ topic: [v] })),
  fc.constantFrom(...NAMES).map((v) => filterOf({ recipient: [v], topic: ['x'] })),
  fc.constantFrom(...NAMES).map((v) => filterOf({ 'recipient!': [v] })),
  fc.constant(filterOf({ n: ['5'] })),
  fc.constant(filterOf({})),
  fc.constantFrom(...TOKENS).map((t) => filterOf({ 'recipients~': [t] })),
  fc.uniqueArray(fc.constantFrom(...TOKENS), { minLength: 2, maxLength: 3 }).map((ts) => filterOf({ 'recipients~': ts })),
  fc.constantFrom('||', 'alice', '|alice').map((t) => filterOf({ 'recipients~': [t] })),
  fc.constantFrom(...TOKENS).map((t) => filterOf({ 'recipients~': [t], topic: ['x'] })),
  fc.tuple(fc.constantFrom(...NAMES), fc.constantFrom(...NAMES)).map(([a, b]) => anyOf([filterOf({ recipient: [a] }).where, filterOf({ topic: [b] }).where])),
);

const valueArb = fc.oneof(fc.constantFrom<unknown>(...NAMES), fc.constant(null), fc.constant(5), fc.constant(undefined));
const listArb = fc.oneof(fc.constantFrom<unknown>(...LISTS), fc.constant(null), fc.constant(undefined));
const rowArb: fc.Arbitrary<Row> = fc.record({ recipient: valueArb, topic: valueArb, n: fc.constantFrom<unknown>(5, null, '5'), recipients: listArb }).map((r) => {
  const row: Row = { id: 'r' };
  for (const [k, v] of Object.entries(r)) if (v !== undefined) row[k] = v;
  return row;
});
const eventArb: fc.Arbitrary<Omit<StoredEvent, 'seq'>> = fc.oneof(
  rowArb.map((after) => ({ method: 'POST' as const, id: 'r', before: null, after, changed: [] })),
  fc.tuple(rowArb, rowArb).map(([before, after]) => ({ method: 'PUT' as const, id: 'r', before, after, changed: ['recipient'] })),
  rowArb.map((before) => ({ method: 'DELETE' as const, id: 'r', before, after: null, changed: [] })),
);

describe('the hub equality index', () => {
  it('delivers exactly what scanning every predicate would, once, in order', () => {
    fc.assert(
      fc.property(fc.array(filterArb, { minLength: 1, maxLength: 12 }), fc.array(eventArb, { minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 20 }), (filters, events, leaveAt) => {
        const hub = new Hub();
        const heard: number[][] = filters.map(() => []);
        const leave: (() => void)[] = filters.map((filter, i) =>
          hub.subscribe({ filter, codec: msghubCodec, deliver: (_p, e) => void heard[i]!.push(e.seq) }),
        );
        const expected: number[][] = filters.map(() => []);
        const predicates = filters.map(compilePredicate);
        events.forEach((e, j) => {
          const event: StoredEvent = { ...e, seq: j + 1 };
          if (j === leaveAt) leave[0]!();
          hub.publish(event, { _method: event.method, id: 'r', _seq: event.seq });
          predicates.forEach((p, i) => {
            if ((i !== 0 || j < leaveAt) && matches(p, event)) expected[i]!.push(event.seq);
          });
        });
        expect(heard).toEqual(expected);
        for (const f of leave) f();
        expect(hub.size).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('costs one lookup per token, not one substring test per subscriber', () => {
    const hub = new Hub();
    let delivered = 0;
    for (let i = 0; i < 20_000; i++) hub.subscribe({ filter: filterOf({ 'recipients~': [`|user${i}|`] }), codec: msghubCodec, deliver: () => void delivered++ });
    const started = performance.now();
    for (let j = 1; j <= 2000; j++) {
      const recipients = `|user${j}|user${j + 1}|`;
      hub.publish({ seq: j, method: 'POST', id: 'r', before: null, after: { id: 'r', recipients }, changed: [] }, { _method: 'POST', _seq: j });
    }
    expect(delivered).toBe(4000);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('costs one lookup, not one predicate per directed subscriber', () => {
    const hub = new Hub();
    let delivered = 0;
    for (let i = 0; i < 20_000; i++) hub.subscribe({ filter: filterOf({ recipient: [`user${i}`] }), codec: msghubCodec, deliver: () => void delivered++ });
    const started = performance.now();
    for (let j = 1; j <= 2000; j++) {
      hub.publish({ seq: j, method: 'POST', id: 'r', before: null, after: { id: 'r', recipient: `user${j}` }, changed: [] }, { _method: 'POST', _seq: j });
    }
    const ms = performance.now() - started;
    expect(delivered).toBe(2000);
    // Scanning would test 40 million predicates (seconds); the index answers 2000 events in milliseconds.
    expect(ms).toBeLessThan(500);
  });
});
