/**
 * Issue 15 item 5: a filter may be any of several all-of groups. The store plans history from `filter.where`
 * (empty: "no filter"; otherwise an index or bounded `_seq` spans) and `applyWhere`, and adds its own conditions
 * after the filter's; an any-of filter must come out of every plan as exactly the rows that pass one group.
 * A real SQLite store, with rows moved by PUTs and removed by DELETEs, so `_seq` order is not insertion order.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePredicate, parseFilter, parseFilterGroups, type Filter } from '../../src/filter/index.js';
import { SPAN } from '../../src/store/base-store.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl } from '../../src/store/db-url.js';
import { createStore } from '../../src/store/sql-store.js';
import type { Store, WriteRequest } from '../../src/store/store.js';
import type { Args, ColumnDef, Row } from '../../src/types.js';
import { tempDir } from '../support/tmp.js';

const COLS: Map<string, ColumnDef> = withBuiltins(
  Object.entries({ body: 'TEXT', topic: 'TEXT', recipient: 'TEXT', sender: 'TEXT', n: 'INTEGER' }).map(([name, s]) => parseColumn(name, s).def!),
);
const ROWS = 2.5 * SPAN; // several spans, so a filter no index serves is counted back span by span

const post = (id: string, values: Record<string, unknown>): WriteRequest => ({ method: 'POST', id, values: { id, user: null, ...values }, userId: null, editAny: false });
const idOf = (k: number): string => `r${String(k).padStart(6, '0')}`;

async function fill(file: string, indexes: string[][]): Promise<Store> {
  const store = createStore(parseDbUrl(`sqlite:///${file}`, '/'), 'msgs', COLS, indexes);
  await store.init();
  for (let i = 0; i < ROWS; i += 1000) {
    await store.write(
      Array.from({ length: Math.min(1000, ROWS - i) }, (_, j) => {
        const k = i + j;
        // `rare` only among the oldest rows; people a..e address and send to each other; some rows have no sender.
        return post(idOf(k), { body: `row ${k}`, topic: k < 40 ? 'rare' : `t${k % 50}`, recipient: `u${k % 5}`, sender: k % 7 ? `u${k % 3}` : null, n: k });
      }),
    );
  }
  let x = 4242;
  const rnd = (m: number): number => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % m);
  for (let i = 0; i < 900; i++) {
    const id = idOf(rnd(ROWS));
    await store.write([
      i % 3 === 0
        ? { method: 'DELETE', id, values: {}, userId: null, editAny: true }
        : { method: 'PUT', id, values: { recipient: `u${rnd(5)}`, body: `moved ${i}` }, userId: null, editAny: true },
    ]);
  }
  return store;
}

/** Every row of the table, read plainly, in (_seq, id) order. */
function allRows(file: string): Row[] {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare(`SELECT * FROM "msgs" ORDER BY "_seq", "id"`).all() as Row[];
  db.close();
  return rows.map((r) => ({ ...r, n: r.n === null ? null : Number(r.n) }));
}

/** The newest `limit` matches (after `_offset` newest ones), oldest first: the history window read plainly. */
function window(rows: Row[], test: (r: Row) => boolean, filter: Filter, limit: number): string[] {
  const ordered = rows.filter(test);
  const n = Math.min(limit, filter.limit ?? Infinity);
  const end = Math.max(0, ordered.length - (filter.offset ?? 0));
  return ordered.slice(Math.max(0, end - n), end).map((r) => String(r.id));
}

/** Any-of by definition: the shared args and at least one group, each an AND-only filter. */
function byGroups(shared: Args, groups: Args[]): (r: Row) => boolean {
  const base = compilePredicate(parseFilter(shared, COLS));
  const tests = groups.map((g) => compilePredicate(parseFilter(g, COLS)));
  return (r) => base(r) && tests.some((t) => t(r));
}

const CASES: [string, Args, Args[], number][] = [
  ['to me or from me (Texto)', {}, [{ recipient: ['u1'] }, { sender: ['u1'] }], 100_000],
  ['to me or from me, window smaller than the matches', {}, [{ recipient: ['u1'] }, { sender: ['u1'] }], 300],
  ['rare rows or a narrow range: matches among the oldest and the newest', {}, [{ topic: ['rare'] }, { 'n>': [String(ROWS - 30)] }], 100_000],
  ['rare rows or a narrow range, window of the newest only', {}, [{ topic: ['rare'] }, { 'n>': [String(ROWS - 30)] }], 20],
  ['a shared condition AND-ed into each group', { 'n<': ['9000'] }, [{ recipient: ['u2'], sender: ['u0'] }, { topic: ['t7'] }], 100_000],
  ['substring groups (SimpleBus)', {}, [{ 'body~': ['moved 1'] }, { 'body~': ['row 77'] }, { sender: ['u2'], topic: ['t3'] }], 100_000],
  ['_offset and _limit', { _offset: ['40'], _limit: ['500'] }, [{ recipient: ['u3'] }, { topic: ['rare'] }], 100_000],
  ['_offset past every match', { _offset: ['100000'] }, [{ recipient: ['u3'] }, { topic: ['rare'] }], 100_000],
  ['no match in any group', {}, [{ topic: ['nowhere'] }, { recipient: ['nobody'] }], 100_000],
  ['an empty group: every row', {}, [{ topic: ['t1'] }, {}], 5000],
];

describe.each([
  { name: 'no index on the filtered columns', indexes: [] as string[][] },
  { name: 'indexes on topic and recipient', indexes: [['topic'], ['recipient']] },
])('History of any-of filters on SQLite, $name', ({ indexes }) => {
  const file = path.join(tempDir(), 'anyof.db');
  let store: Store;
  let rows: Row[];

  beforeAll(async () => {
    store = await fill(file, indexes);
    rows = allRows(file);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
  });

  it.each(CASES)('%s', async (_name, shared, groups, limit) => {
    const filter = parseFilterGroups(shared, groups, COLS);
    const want = window(rows, byGroups(shared, groups), filter, limit);
    // The predicate's reading, and the store's.
    expect(window(rows, compilePredicate(filter), filter, limit)).toEqual(want);
    expect((await store.history(filter, limit)).map((r) => String(r.id))).toEqual(want);
  });

  it('sorts and pages an any-of filter as a whole', async () => {
    const groups: Args[] = [{ recipient: ['u4'] }, { topic: ['rare'] }];
    const filter = parseFilterGroups({ _sort: ['-n'], _limit: ['70'], _offset: ['5'] }, groups, COLS);
    const test = byGroups({}, groups);
    const want = rows
      .filter(test)
      .sort((a, b) => Number(b.n) - Number(a.n))
      .slice(5, 75);
    expect(want).toHaveLength(70);
    expect((await store.history(filter, 1000)).map((r) => String(r.id))).toEqual(want.map((r) => String(r.id)));
  });
});
