/**
 * The history window on SQLite: "the newest n matching rows (after `_offset` newest ones), oldest first", found
 * by position (no filter), by one cutoff query (a filter an index serves), or by counting back in bounded `_seq`
 * spans (a filter every row must be read for). Each plan must return exactly what a plain reading of the table
 * says, over a table whose `_seq` order differs from its insertion order (PUTs move rows, DELETEs leave gaps)
 * and that holds rows from before msghub managed it (`_seq` 0).
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePredicate, parseFilter, type Filter } from '../../src/filter/index.js';
import { rowJson } from '../../src/store/apply.js';
import { FIRST_SPAN, PAGE_PACING, SPAN, type PagePacing } from '../../src/store/base-store.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl } from '../../src/store/db-url.js';
import { createStore } from '../../src/store/sql-store.js';
import type { Store, WriteRequest } from '../../src/store/store.js';
import type { ColumnDef, Row } from '../../src/types.js';
import { tempDir } from '../support/tmp.js';

const COLS: Map<string, ColumnDef> = withBuiltins(
  Object.entries({ body: 'TEXT', topic: 'TEXT', n: 'INTEGER' }).map(([name, s]) => parseColumn(name, s).def!),
);
const ROWS = 2.5 * SPAN; // enough rows for several spans
const LEGACY = 300;

const post = (id: string, values: Record<string, unknown>): WriteRequest => ({ method: 'POST', id, values: { id, user: null, ...values }, userId: null, editAny: false });

/** Fills a table: legacy rows first (no `_seq` yet), then POSTs, PUTs that move rows to the end, DELETEs. */
async function fill(file: string, table: string, indexes: string[][]): Promise<Store> {
  const raw = new Database(file);
  raw.exec(`CREATE TABLE "${table}" (id TEXT PRIMARY KEY, user TEXT, timestamp TEXT, body TEXT, topic TEXT, n INTEGER)`);
  const ins = raw.prepare(`INSERT INTO "${table}" (id, body, topic, n) VALUES (?, ?, ?, ?)`);
  raw.transaction(() => {
    for (let i = 0; i < LEGACY; i++) ins.run(`legacy${String(i).padStart(4, '0')}`, 'old', i % 3 ? 'rare' : `t${i % 50}`, -i);
  })();
  raw.close();
  const store = createStore(parseDbUrl(`sqlite:///${file}`, '/'), table, COLS, indexes);
  await store.init();
  // Deterministic pseudo-random order: the same table every run.
  let x = 12345;
  const rnd = (k: number): number => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % k);
  for (let i = 0; i < ROWS; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, ROWS - i) }, (_, j) => {
      const k = i + j;
      // `rare` appears only among the oldest rows: a window search must walk back over every span to find them.
      return post(`r${String(k).padStart(6, '0')}`, { body: `row ${k}`, topic: k < 40 ? 'rare' : `t${k % 50}`, n: k });
    });
    await store.write(batch);
  }
  const changes: WriteRequest[] = [];
  for (let i = 0; i < 1500; i++) {
    const k = rnd(ROWS);
    changes.push(
      i % 3 === 0
        ? { method: 'DELETE', id: `r${String(k).padStart(6, '0')}`, values: {}, userId: null, editAny: true }
        : { method: 'PUT', id: `r${String(k).padStart(6, '0')}`, values: { topic: `t${rnd(50)}`, body: `moved ${i}` }, userId: null, editAny: true },
    );
  }
  // One at a time: a DELETE of a row already deleted fails alone and changes nothing.
  for (const c of changes) await store.write([c]);
  return store;
}

/** Counts event-loop turns (one `setImmediate` hop each) from now until `stop()`. */
function turnCounter(): { count: number; stop(): void } {
  let running = true;
  const counter = {
    count: 0,
    stop: (): void => {
      running = false;
    },
  };
  const tick = (): void => {
    counter.count++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return counter;
}

/** What the window holds, read plainly: every row, in (_seq, id) order, filtered in JS, then sliced. */
function expected(file: string, table: string, filter: Filter, limit: number): string[] {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare(`SELECT * FROM "${table}"`).all() as Row[];
  db.close();
  const test = compilePredicate(filter);
  const ordered = rows
    .map((r): Row => ({ ...r, n: r.n === null ? null : Number(r.n) }))
    .filter((r) => test(r))
    .sort((a, b) => Number(a._seq) - Number(b._seq) || (String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0));
  const n = Math.min(limit, filter.limit ?? Infinity);
  const skip = filter.offset ?? 0;
  const end = Math.max(0, ordered.length - skip);
  return ordered.slice(Math.max(0, end - n), end).map((r) => String(r.id));
}

const CASES: [string, Record<string, string[]>, number][] = [
  ['no filter, window inside the table', {}, 5000],
  ['no filter, window larger than the table', {}, 100_000],
  ['no filter, _offset and _limit', { _offset: ['700'], _limit: ['900'] }, 100_000],
  ['no filter, _offset past the table', { _offset: ['100000'] }, 100_000],
  ['2% filter, window larger than every match', { topic: ['t7'] }, 100_000],
  ['2% filter, window smaller than the matches', { topic: ['t7'] }, 120],
  ['2% filter, _offset and _limit', { topic: ['t7'], _offset: ['30'], _limit: ['100'] }, 100_000],
  ['2% filter, _offset past every match', { topic: ['t7'], _offset: ['5000'] }, 100_000],
  ['rows found only among the oldest', { topic: ['rare'] }, 100_000],
  ['rows found only among the oldest, narrow window', { topic: ['rare'] }, 25],
  ['range filter', { 'n>': ['100'], 'n<': ['9000'] }, 3000],
  ['substring filter', { 'body~': ['moved 1'] }, 100_000],
  ['no match at all', { topic: ['nowhere'] }, 100_000],
  // Windows a little smaller than the table: the oldest rows decide whether every match fits.
  ['2% filter, window a little smaller than the table', { topic: ['t7'] }, ROWS - 1000],
  ['98% filter, window a little smaller than the table', { 'topic!': ['t7'] }, ROWS - 1000],
  ['range filter matching every row, window a little smaller than the table', { 'n>~': ['-100000'] }, ROWS - 1000],
];

describe.each([
  { name: 'no index on the filtered column', indexes: [] as string[][] },
  { name: 'indexes: [[topic]]', indexes: [['topic']] },
])('History window on SQLite, $name', ({ indexes }) => {
  const file = path.join(tempDir(), 'window.db');
  const table = 'msgs';
  let store: Store;

  beforeAll(async () => {
    store = await fill(file, table, indexes);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
  });

  it.each(CASES)('%s', async (_name, args, limit) => {
    const filter = parseFilter(args, COLS);
    const want = expected(file, table, filter, limit);
    expect((await store.history(filter, limit)).map((r) => String(r.id))).toEqual(want);
    // The same window whatever the page sizes: pages that grow at every step, and pages that shrink to the
    // smallest (odd sizes included), as fast or slow queries make them.
    const s = store as unknown as { pacing: PagePacing };
    try {
      for (const pacing of [
        { ...PAGE_PACING, fastMs: Infinity, max: 777 },
        { ...PAGE_PACING, fastMs: -1, slowMs: -1, min: 37 },
      ]) {
        s.pacing = pacing;
        const rows: Row[] = [];
        await store.replay(filter, limit, (page) => void rows.push(...page), { json: true });
        expect(rows.map((r) => String(r.id))).toEqual(want);
      }
    } finally {
      s.pacing = PAGE_PACING;
    }
  });
});

describe('History replay of a filter no index serves', () => {
  it('reads the table in bounded spans, giving the event loop a turn between them', async () => {
    const file = path.join(tempDir(), 'spans.db');
    const store = await fill(file, 'msgs', []);
    try {
      const filter = parseFilter({ topic: ['rare'] }, COLS);
      // Count event-loop turns while the replay runs: without spans it is one synchronous whole-table scan.
      const turns = turnCounter();
      const rows: Row[] = [];
      // A window smaller than the table: the plan must count back to find where it starts.
      await store.replay(filter, 10_000, (page) => void rows.push(...page));
      turns.stop();
      expect(rows.map((r) => String(r.id))).toEqual(expected(file, 'msgs', filter, 10_000));
      // The `_seq` range spans at least ROWS / SPAN spans; the count back and the walk forward each pause per span.
      expect(turns.count).toBeGreaterThanOrEqual(2 * Math.floor(ROWS / SPAN));
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('History replay of a window nearly as big as the table, filter no index serves', () => {
  it('sends the first page without counting the table back when the oldest rows show every match fits', async () => {
    const file = path.join(tempDir(), 'prefix.db');
    const store = await fill(file, 'msgs', []);
    try {
      const filter = parseFilter({ topic: ['t7'] }, COLS);
      const turns = turnCounter();
      let turnsAtFirstPage = -1;
      let firstPage: Row[] = [];
      const rows: Row[] = [];
      await store.replay(filter, ROWS - 1000, (page) => {
        if (turnsAtFirstPage < 0) {
          turnsAtFirstPage = turns.count;
          firstPage = page;
        }
        rows.push(...page);
      });
      turns.stop();
      expect(rows.map((r) => String(r.id))).toEqual(expected(file, 'msgs', filter, ROWS - 1000));
      // Counting back would pause once per span (ROWS / SPAN of them) before the first page.
      expect(turnsAtFirstPage).toBeLessThanOrEqual(1);
      // The first page, which the first frame waits for, reads a quarter span of the table, not a whole one.
      const seqs = rows.map((r) => Number(r._seq)).filter((q) => q > 0);
      const firstSeqs = firstPage.map((r) => Number(r._seq));
      expect(firstSeqs.length).toBeGreaterThan(0);
      expect(Math.max(...firstSeqs) - Math.min(...seqs)).toBeLessThan(FIRST_SPAN);
      expect(rows.length).toBeGreaterThan(firstPage.length);
      // The walk forward still pauses between spans.
      expect(turns.count).toBeGreaterThanOrEqual(Math.floor(ROWS / SPAN));
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('History rows rendered as JSON by SQLite', () => {
  it('carry the same frame as the converted row, and fall back to conversion for values stored with another type', async () => {
    const file = path.join(tempDir(), 'json.db');
    const store = await fill(file, 'msgs', []);
    try {
      // SQLite lets a value of another type into a column: such rows must still come out as JS would send them.
      const raw = new Database(file);
      raw.prepare(`UPDATE msgs SET n = 'not a number', body = 42 WHERE id = ?`).run('r000100');
      raw.close();
      const shapes: Record<string, string[]>[] = [{}, { topic: ['t7'] }, { _sort: ['-n'], _limit: ['300'] }];
      for (const args of shapes) {
        const filter = parseFilter(args, COLS);
        const plain: Row[] = [];
        const json: Row[] = [];
        await store.replay(filter, 100_000, (rows) => void plain.push(...rows));
        await store.replay(filter, 100_000, (rows) => void json.push(...rows), { json: true });
        expect(json.length).toBe(plain.length);
        let rendered = 0;
        for (let i = 0; i < plain.length; i++) {
          const text = rowJson(json[i]!);
          if (text !== undefined) rendered++;
          expect(text !== undefined ? JSON.parse(text) : json[i]).toEqual(plain[i]);
          if (text !== undefined) expect(Object.keys(JSON.parse(text))).toEqual(Object.keys(plain[i]!));
        }
        // Every row but the odd one is rendered by SQLite.
        expect(rendered).toBe(plain.length - (plain.some((r) => r.id === 'r000100') ? 1 : 0));
      }
      const odd = (await store.history(parseFilter({ id: ['r000100'] }, COLS), 10))[0];
      expect(odd).toMatchObject({ n: Number.NaN, body: '42' });
      // Under a `_c` projection the rows are converted in JS (the projection is applied to them there).
      const projected: Row[] = [];
      await store.replay(parseFilter({ _c: ['body'] }, COLS), 10, (rows) => void projected.push(...rows), { json: true });
      expect(projected.every((r) => rowJson(r) === undefined)).toBe(true);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('are not used for tables with REAL or BOOLEAN columns (SQLite would print them differently)', async () => {
    const file = path.join(tempDir(), 'real.db');
    const cols = withBuiltins([parseColumn('score', 'REAL').def!, parseColumn('flag', 'BOOLEAN').def!]);
    const store = createStore(parseDbUrl(`sqlite:///${file}`, '/'), 'scores', cols);
    await store.init();
    try {
      await store.write([{ method: 'POST', id: 'a', values: { id: 'a', user: null, score: 0.1 + 0.2, flag: true }, userId: null, editAny: false }]);
      const rows: Row[] = [];
      await store.replay(parseFilter({}, cols), 10, (page) => void rows.push(...page), { json: true });
      expect(rows.map((r) => rowJson(r))).toEqual([undefined]);
      expect(rows[0]).toMatchObject({ score: 0.30000000000000004, flag: true });
    } finally {
      await store.close();
    }
  });
});
