/**
 * PostgreSQL's one-statement path for batches of plain POSTs (store/knex-store.ts `pgPostBatch`): the sequence
 * row, the rows and their event records in one statement per run, on a real PostgreSQL (skipped when it is not
 * running; required in CI). Two stores with pools of their own stand in for two processes on one database.
 */
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFilter } from '../../src/filter/index.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl, type DbTarget } from '../../src/store/db-url.js';
import { EVENTS_TABLE, SEQ_TABLE } from '../../src/store/schema.js';
import { createStore } from '../../src/store/sql-store.js';
import type { Store, WriteRequest, WriteResult } from '../../src/store/store.js';
import type { ColumnDef } from '../../src/types.js';
import { requireService } from '../support/tmp.js';

const URL = 'postgresql://postgres@127.0.0.1:5432/test';

function columns(spec: Record<string, unknown>): Map<string, ColumnDef> {
  return withBuiltins(Object.entries(spec).map(([name, s]) => parseColumn(name, s).def!));
}
const COLS = columns({ body: 'TEXT', code: 'VARCHAR(5)', length: 'INTEGER', score: 'REAL', flag: 'BOOLEAN' });
const post = (id: string, values: Record<string, unknown> = {}): WriteRequest => ({ method: 'POST', id, values: { id, ...values }, userId: null, editAny: false });
const seqs = (r: WriteResult[]): (number | string)[] => r.map((x) => (x.ok ? x.event.seq : x.error.code));
const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('PostgreSQL: a batch of plain POSTs in one statement', () => {
  let available = true;
  let target: DbTarget;
  let admin: Knex;
  const prefix = `pgb_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const tables: string[] = [];
  const stores: Store[] = [];

  const open = async (table: string, cols = COLS): Promise<Store> => {
    const s = createStore(target, table, cols);
    await s.init();
    stores.push(s);
    if (!tables.includes(table)) tables.push(table);
    return s;
  };
  /** What the database holds: each row's id and `_seq`, and the event record's (seq, id), both in seq order. */
  const held = async (table: string): Promise<{ rows: [string, number][]; events: [number, string][] }> => {
    const rows = (await admin(table).select('id', '_seq').orderBy('_seq')) as { id: string; _seq: string }[];
    const events = (await admin(EVENTS_TABLE).where('tbl', table).select('seq', 'id').orderBy('seq')) as { seq: string; id: string }[];
    return { rows: rows.map((r) => [r.id, Number(r._seq)]), events: events.map((e) => [Number(e.seq), e.id]) };
  };

  beforeAll(async () => {
    if (!(await requireService('postgresql', 5432))) {
      available = false;
      return;
    }
    target = parseDbUrl(URL, '/');
    admin = knexFactory({ client: 'pg', connection: target.connection! });
  });

  afterAll(async () => {
    for (const s of stores) await s.close();
    if (!available) return;
    for (const t of tables) await admin.schema.dropTableIfExists(t);
    await admin(EVENTS_TABLE).whereIn('tbl', tables).delete();
    await admin(SEQ_TABLE).whereIn('tbl', tables).delete();
    await admin.destroy();
  });

  it('numbers batches from two writers on one table gaplessly, each batch consecutive, rows matching their records', async () => {
    if (!available) return;
    const table = `${prefix}_two`;
    const a = await open(table);
    const b = await open(table);
    // 40 batches of 1–25 rows from each writer, all at once: every batch waits for the sequence row's lock.
    const sizes = range(0, 40).map((i) => 1 + ((i * 7) % 25));
    const batches = (w: string): WriteRequest[][] => sizes.map((n, i) => range(0, n).map((k) => post(`${w}${i}_${k}`, { body: `${w}${i}`, length: k })));
    const write = async (s: Store, w: string): Promise<WriteResult[][]> => Promise.all(batches(w).map((batch) => s.write(batch)));
    const [ra, rb] = await Promise.all([write(a, 'a'), write(b, 'b')]);
    const total = 2 * sizes.reduce((x, y) => x + y, 0);
    for (const r of [...ra, ...rb]) {
      expect(r.every((x) => x.ok)).toBe(true);
      const first = seqs(r)[0] as number;
      expect(seqs(r)).toEqual(range(first, r.length));
    }
    // Each writer's batches in the order it wrote them.
    for (const rs of [ra, rb]) {
      const firsts = rs.map((r) => seqs(r)[0] as number);
      expect([...firsts].sort((x, y) => x - y)).toEqual(firsts);
    }
    const all = [...ra, ...rb].flat().map((x) => (x.ok ? [x.event.id, x.event.seq] : null));
    const { rows, events } = await held(table);
    expect(rows.map((r) => r[1])).toEqual(range(1, total));
    expect(events.map((e) => e[0])).toEqual(range(1, total));
    expect(events).toEqual(rows.map(([id, seq]) => [seq, id]));
    expect(new Map(rows)).toEqual(new Map(all as [string, number][]));
    expect(await a.committedSeq()).toBe(total);
  });

  it('stores each column type as sent, and refuses a value too long without cutting it, only that request', async () => {
    if (!available) return;
    const table = `${prefix}_types`;
    const s = await open(table);
    const r = await s.write([
      post('t1', { body: 'x', code: 'abc', length: 7, score: 1.25, flag: true }),
      post('t2', { body: null, code: 'abcdef', length: 8 }),
      post('t3', { flag: false, length: -3, score: -0.5 }),
    ]);
    expect(seqs(r)).toEqual([1, 'MH_ERR_MSG_VALUE_TOO_LONG', 2]);
    const rows = await s.history(parseFilter({}, COLS), 10);
    expect(rows.map((x) => [x.id, x.body, x.code, x.length, x.score, x.flag, x._seq])).toEqual([
      ['t1', 'x', 'abc', 7, 1.25, true, 1],
      ['t3', null, null, -3, -0.5, false, 2],
    ]);
    // The event a subscriber gets is what was stored, numbered.
    expect(r[0]).toMatchObject({ ok: true, event: { method: 'POST', id: 't1', before: null, after: { id: 't1', code: 'abc', length: 7, _seq: 1 } } });
    expect((await held(table)).events).toEqual([
      [1, 't1'],
      [2, 't3'],
    ]);
  });

  it('writes a batch of several statements in one transaction, and redoes it per request when one row clashes', async () => {
    if (!available) return;
    // 200 columns: 300 rows per statement, so a batch of 1000 is four statements between BEGIN and COMMIT.
    const wide = columns(Object.fromEntries(range(0, 197).map((i) => [`c${i}`, 'TEXT'])));
    expect(wide.size).toBe(200);
    const table = `${prefix}_wide`;
    const s = await open(table, wide);
    const values = (k: number): Record<string, unknown> => ({ c0: `v${k}`, c196: `w${k}` });
    const first = await s.write(range(0, 1000).map((k) => post(`w${k}`, values(k))));
    expect(seqs(first)).toEqual(range(1, 1000));
    // The clash is in the fourth statement: the three before it, already run, must be undone with it, then redone.
    const second = await s.write(range(0, 1000).map((k) => post(k === 900 ? 'w5' : `x${k}`, values(k))));
    expect(seqs(second)).toEqual(range(0, 1000).map((k) => (k < 900 ? 1001 + k : k === 900 ? 'MH_ERR_MSG_CONFLICT' : 1000 + k)));
    const { rows, events } = await held(table);
    expect(rows.length).toBe(1999);
    expect(events.map((e) => e[0])).toEqual(range(1, 1999));
    expect(events).toEqual(rows.map(([id, seq]) => [seq, id]));
    const w5 = (await admin(table).where('id', 'w5').first('c0', '_seq')) as { c0: string; _seq: string };
    expect([w5.c0, Number(w5._seq)]).toEqual(['v5', 6]);
  });
});
