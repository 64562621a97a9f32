/**
 * Store conformance: the same suite on a real SQLite file, PostgreSQL and MariaDB (the latter two when the
 * services run; required in CI).
 */
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFilter } from '../../src/filter/index.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl, type DbTarget } from '../../src/store/db-url.js';
import { CURSORS_TABLE, EVENTS_TABLE } from '../../src/store/schema.js';
import { createStore } from '../../src/store/sql-store.js';
import type { Store, WriteRequest } from '../../src/store/store.js';
import type { ColumnDef } from '../../src/types.js';
import { requireService, tempDir } from '../support/tmp.js';

function columns(spec: Record<string, unknown>): Map<string, ColumnDef> {
  return withBuiltins(Object.entries(spec).map(([name, s]) => parseColumn(name, s).def!));
}
const COLS = columns({ body: 'TEXT', topic: 'VARCHAR(40)', length: 'INTEGER', score: 'REAL', flag: 'BOOLEAN' });
const post = (id: string, values: Record<string, unknown>, userId: string | null = null): WriteRequest => ({
  method: 'POST',
  id,
  values: { id, user: userId, ...values },
  userId,
  editAny: false,
});
const all = parseFilter({}, COLS);

const TARGETS: { name: string; port?: number; url: () => string }[] = [
  { name: 'sqlite', url: () => `sqlite:///${path.join(tempDir(), 'store.db')}` },
  { name: 'postgresql', port: 5432, url: () => 'postgresql://postgres@127.0.0.1:5432/test' },
  { name: 'mariadb', port: 3306, url: () => 'mysql://root@127.0.0.1:3306/test' },
];

describe.each(TARGETS)('Store on $name', ({ name, port, url }) => {
  let available = true;
  let target: DbTarget;
  let table: string;
  const stores: Store[] = [];
  let admin: Knex;

  const open = async (cols = COLS, t = table): Promise<Store> => {
    const s = createStore(target, t, cols);
    await s.init();
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    if (port && !(await requireService(name, port))) {
      available = false;
      return;
    }
    target = parseDbUrl(url(), '/');
    table = `t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
    admin = knexFactory(
      target.client === 'sqlite'
        ? { client: 'better-sqlite3', connection: { filename: target.filename! }, useNullAsDefault: true }
        : { client: target.client === 'pg' ? 'pg' : 'mysql2', connection: target.connection! },
    );
  });

  afterAll(async () => {
    for (const s of stores) await s.close();
    if (!available) return;
    const tables = [table, `${table}_old`, `${table}_ref`, `${table}_runs`];
    for (const t of tables) await admin.schema.dropTableIfExists(t);
    await admin(EVENTS_TABLE).whereIn('tbl', tables).delete().catch(() => undefined);
    await admin(CURSORS_TABLE).whereIn('tbl', tables).delete().catch(() => undefined);
    await admin.destroy();
  });

  it('creates the table with declared and built-in columns, and assigns increasing sequence numbers', async () => {
    if (!available) return;
    const s = await open();
    const info = await admin(table).columnInfo();
    expect(Object.keys(info).sort()).toEqual(['_seq', 'body', 'flag', 'id', 'length', 'score', 'timestamp', 'topic', 'user']);
    const r = await s.write([post('a', { body: 'one', length: 1, score: 1.5, flag: true }), post('b', { body: 'two' })]);
    expect(r.map((x) => x.ok && x.event.seq)).toEqual([1, 2]);
    expect(s.lastSeq).toBe(2);
    const rows = await s.history(all, 100);
    expect(rows.map((x) => [x.id, x.body, x.length, x.score, x.flag, x._seq])).toEqual([
      ['a', 'one', 1, 1.5, true, 1],
      ['b', 'two', null, null, null, 2],
    ]);
  });

  it('stores a long run of POSTs row by row as sent, and isolates a duplicate id inside one', async () => {
    if (!available) return;
    const t = `${table}_runs`;
    const s = await open(COLS, t);
    // 45 = a run of 32, a run of 8 and 5 single rows where the engine writes runs of rows in one statement.
    const values = (i: number): Record<string, unknown> => ({ body: `b${i}`, topic: i % 2 ? `t${i}` : null, length: i, score: i + 0.25, flag: i % 3 === 0 });
    const first = await s.write(Array.from({ length: 45 }, (_, i) => post(`p${String(i).padStart(2, '0')}`, values(i), i % 2 ? 'u1' : null)));
    expect(first.map((x) => x.ok && x.event.seq)).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
    const rows = await s.history(all, 100);
    expect(rows).toEqual(
      Array.from({ length: 45 }, (_, i) => ({
        id: `p${String(i).padStart(2, '0')}`,
        user: i % 2 ? 'u1' : null,
        timestamp: null,
        ...values(i),
        _seq: i + 1,
      })),
    );
    const events = await s.eventsSince(0, 100);
    expect(events.map((e) => [e.seq, e.method, e.id, e.after?.body])).toEqual(rows.map((r) => [r._seq, 'POST', r.id, r.body]));

    // The same again with one id already taken, inside what would be the first run: only it fails.
    const second = await s.write(Array.from({ length: 45 }, (_, i) => post(i === 20 ? 'p07' : `q${String(i).padStart(2, '0')}`, values(i))));
    expect(second.map((x) => (x.ok ? x.event.seq : x.error.code))).toEqual(
      Array.from({ length: 45 }, (_, i) => (i < 20 ? 46 + i : i === 20 ? 'MH_ERR_MSG_CONFLICT' : 45 + i)),
    );
    expect(s.lastSeq).toBe(89);
    const after = await s.history(all, 200);
    expect(after.map((r) => r.id)).toEqual([...rows.map((r) => r.id), ...Array.from({ length: 45 }, (_, i) => `q${String(i).padStart(2, '0')}`).filter((id) => id !== 'q20')]);
    expect(after.find((r) => r.id === 'p07')).toMatchObject({ body: 'b7', _seq: 8 });
    expect((await s.eventsSince(45, 100)).map((e) => e.seq)).toEqual(Array.from({ length: 44 }, (_, i) => 46 + i));
  });

  it('isolates a failing request: the others commit and no sequence number is used', async () => {
    if (!available) return;
    const s = await open();
    const start = s.lastSeq;
    const r = await s.write([
      post('c', { body: 'three' }),
      { method: 'PUT', id: 'missing', values: { body: 'x' }, userId: null, editAny: false },
      post('a', { body: 'duplicate id' }),
      post('d', { body: 'four' }),
    ]);
    expect(r.map((x) => (x.ok ? x.event.seq : x.error.code))).toEqual([start + 1, 'MH_ERR_MSG_NOT_FOUND', 'MH_ERR_MSG_CONFLICT', start + 2]);
    expect((await s.history(all, 100)).map((x) => x.id)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('undoes a request that fails after its row was written, and only that request', async () => {
    if (!available) return;
    const s = await open();
    const start = s.lastSeq;
    const before = await s.history(all, 100);
    // Its row and event go in, then its extra row fails (no such table): all of it must go.
    const failing: WriteRequest = { ...post('half', { body: 'half written' }), extra: () => [{ table: `${table}_missing`, row: { x: 1 } }] };
    const r = await s.write([post('e1', { body: 'kept' }), failing, post('e2', { body: 'kept too' })]);
    expect(r.map((x) => (x.ok ? x.event.seq : 'failed'))).toEqual([start + 1, 'failed', start + 2]);
    expect((await s.history(all, 100)).map((x) => x.id)).toEqual([...before.map((x) => x.id), 'e1', 'e2']);
    expect((await s.eventsSince(start, 10)).map((e) => [e.seq, e.id])).toEqual([
      [start + 1, 'e1'],
      [start + 2, 'e2'],
    ]);
    // Leave the table as the later tests expect it.
    await s.write([
      { method: 'DELETE', id: 'e1', values: {}, userId: null, editAny: true },
      { method: 'DELETE', id: 'e2', values: {}, userId: null, editAny: true },
    ]);
  });

  it('updates and deletes exactly the addressed row, reporting the whole row before and after', async () => {
    if (!available) return;
    const s = await open();
    const [put] = await s.write([{ method: 'PUT', id: 'b', values: { body: 'TWO', length: 2 }, userId: null, editAny: false }]);
    expect(put!.ok && put!.event).toMatchObject({ method: 'PUT', before: { id: 'b', body: 'two' }, after: { id: 'b', body: 'TWO', length: 2 }, changed: ['body', 'length'] });
    const [del] = await s.write([{ method: 'DELETE', id: 'c', values: {}, userId: null, editAny: false }]);
    expect(del!.ok && del!.event).toMatchObject({ method: 'DELETE', before: { id: 'c', body: 'three' }, after: null });
    // History is in commit order of each row's last write: the edited row moves to the end.
    expect((await s.history(all, 100)).map((x) => [x.id, x.body])).toEqual([
      ['a', 'one'],
      ['d', 'four'],
      ['b', 'TWO'],
    ]);
  });

  it("refuses a change to another user's row unless edit is any; rows without a user are anyone's", async () => {
    if (!available) return;
    const s = await open();
    await s.write([post('owned', { body: 'mine' }, 'alice')]);
    const [denied] = await s.write([{ method: 'PUT', id: 'owned', values: { body: 'hacked' }, userId: 'bob', editAny: false }]);
    expect(!denied!.ok && denied!.error.code).toBe('MH_ERR_MSG_FORBIDDEN');
    const [anon] = await s.write([{ method: 'DELETE', id: 'owned', values: {}, userId: null, editAny: false }]);
    expect(!anon!.ok && anon!.error.code).toBe('MH_ERR_MSG_FORBIDDEN');
    const [any] = await s.write([{ method: 'PUT', id: 'owned', values: { body: 'moderated' }, userId: 'mod', editAny: true }]);
    expect(any!.ok).toBe(true);
    const [free] = await s.write([{ method: 'PUT', id: 'a', values: { body: 'edited' }, userId: 'bob', editAny: false }]);
    expect(free!.ok).toBe(true);
  });

  it('returns the newest rows oldest-first under a limit, and honours filters and _sort', async () => {
    if (!available) return;
    const s = await open();
    const latest = await s.history(all, 2);
    const every = await s.history(all, 100);
    expect(latest).toEqual(every.slice(-2));
    const sorted = await s.history(parseFilter({ _sort: ['-id'], _limit: ['2'] }, COLS), 100);
    expect(sorted.map((x) => x.id)).toEqual(['owned', 'd']);
    const window = await s.history(parseFilter({ _offset: ['1'], _limit: ['2'] }, COLS), 100);
    expect(window).toEqual(every.slice(-3, -1));
    const filtered = await s.history(parseFilter({ 'body~': ['o'] }, COLS), 100);
    expect(filtered.map((x) => x.id)).toEqual(['d', 'owned']);
  });

  it('ping() answers on an open store and fails once it is closed (readiness)', async () => {
    if (!available) return;
    const s = createStore(target, table, COLS);
    await s.init();
    await expect(s.ping()).resolves.toBeUndefined();
    await s.close();
    await expect(s.ping()).rejects.toThrow();
  });

  it('continues the sequence after a restart', async () => {
    if (!available) return;
    const before = (await open()).lastSeq;
    const again = await open();
    expect(again.lastSeq).toBe(before);
    const [r] = await again.write([post('e', { body: 'five' })]);
    expect(r!.ok && r!.event.seq).toBe(before + 1);
  });

  it('replays many pages from one snapshot while writes go on, and reports the sequence it reflects', async () => {
    if (!available) return;
    const s = await open();
    const before = await s.history(all, 100_000);
    const batch = Array.from({ length: 1200 }, (_, i) => post(`bulk${String(i).padStart(5, '0')}`, { body: `bulk ${i}`, length: i }));
    await s.write(batch);
    const expected = [...before, ...(await s.history(all, 100_000)).slice(before.length)];
    const pages: number[] = [];
    const seen: string[] = [];
    let wroteDuring = false;
    const snapshot = await s.replay(all, 100_000, async (rows) => {
      pages.push(rows.length);
      seen.push(...rows.map((r) => String(r.id)));
      if (!wroteDuring) {
        wroteDuring = true;
        // A write committed mid-replay is not part of the snapshot (it will arrive as a live event).
        await s.write([post('during', { body: 'during replay' })]);
      }
    });
    expect(pages.length).toBeGreaterThan(2);
    expect(seen).toEqual(expected.map((r) => r.id));
    expect(snapshot).toBe(Math.max(...expected.map((r) => Number(r._seq))));
    expect(s.lastSeq).toBe(snapshot + 1);
    // Bounded, newest rows, oldest first, across pages.
    const last700 = await s.history(parseFilter({ 'length>~': ['0'] }, COLS), 700);
    expect(last700.map((r) => r.length)).toEqual(Array.from({ length: 700 }, (_, i) => 500 + i));
  });

  it('reads the event record after a sequence number, and prunes it by count', async () => {
    if (!available) return;
    const s = await open();
    const last = s.lastSeq;
    const events = await s.eventsSince(last - 3, 10);
    expect(events.map((e) => e.seq)).toEqual([last - 2, last - 1, last]);
    expect(events[2]).toMatchObject({ method: 'POST', id: 'during', after: { body: 'during replay' } });
    expect(await s.oldestSeq()).toBe(1);
    const pruned = await s.prune({ maxCount: 10, maxAgeMs: 3600_000 });
    expect(pruned).toBe(last - 10);
    expect(await s.oldestSeq()).toBe(last - 9);
  });

  it('replays a POST as it was posted after its row was edited and deleted, from a record that held only a reference', async () => {
    if (!available) return;
    const t = `${table}_ref`;
    const s = await open(COLS, t);
    const [p] = await s.write([post('r1', { body: 'first', topic: 'x', length: 5, score: 1.5, flag: true })]);
    const seq = p!.ok ? p!.event.seq : 0;
    // The POST's record refers to the row instead of holding it.
    const stored = await admin(EVENTS_TABLE).where({ tbl: t, seq }).first();
    expect(stored.data).toBe('');
    const live = await s.eventsSince(seq - 1, 10);
    expect(live[0]).toMatchObject({ seq, method: 'POST', before: null, after: { id: 'r1', body: 'first', length: 5, score: 1.5, flag: true, _seq: seq } });
    expect(live[0]!.changed).toEqual([...COLS.keys()]);

    await s.write([{ method: 'PUT', id: 'r1', values: { body: 'second' }, userId: null, editAny: false }]);
    await s.write([{ method: 'DELETE', id: 'r1', values: {}, userId: null, editAny: false }]);
    const events = await s.eventsSince(seq - 1, 10);
    expect(events.map((e) => [e.seq, e.method])).toEqual([
      [seq, 'POST'],
      [seq + 1, 'PUT'],
      [seq + 2, 'DELETE'],
    ]);
    expect(events[0]).toMatchObject({ before: null, after: { id: 'r1', body: 'first', length: 5, flag: true, _seq: seq } });
    expect(events[1]).toMatchObject({ before: { body: 'first' }, after: { body: 'second', _seq: seq + 1 }, changed: ['body'] });
    expect(events[2]).toMatchObject({ before: { body: 'second' }, after: null });

    // A row changed behind msghub's back (its _seq moved): the POST keeps its place but carries no row.
    await s.write([post('r2', { body: 'x' })]);
    await admin(t).where({ id: 'r2' }).update({ _seq: 999_999 });
    const [lost] = await s.eventsSince(seq + 2, 10);
    expect(lost).toMatchObject({ seq: seq + 3, method: 'POST', id: 'r2', before: null, after: null, changed: [] });

    // A record written before references (the row's JSON inline) still reads.
    await admin(EVENTS_TABLE).insert({ tbl: t, seq: seq + 4, method: 'POST', id: 'old', data: JSON.stringify({ before: null, after: { id: 'old', body: 'b', _seq: seq + 4 } }), ts: new Date().toISOString() });
    const [old] = await s.eventsSince(seq + 3, 10);
    expect(old).toMatchObject({ seq: seq + 4, after: { id: 'old', body: 'b' }, changed: ['id', 'body'] });
  });

  it('keeps a durable cursor per handler and user that only moves forward', async () => {
    if (!available) return;
    const s = await open();
    expect(await s.getCursor('h', 'alice')).toBeNull();
    await s.setCursor('h', 'alice', 5);
    await s.setCursor('h', 'alice', 3);
    await s.setCursor('h', 'bob', 9);
    expect(await s.getCursor('h', 'alice')).toBe(5);
    expect(await s.getCursor('h', 'bob')).toBe(9);
    expect(await s.getCursor('other', 'alice')).toBeNull();
  });

  it('creates the extra indexes it is given, once, ending in (_seq, id)', async () => {
    if (!available) return;
    await open(COLS, table);
    const s1 = createStore(target, table, COLS, [['topic'], ['length', 'topic']]);
    await s1.init();
    stores.push(s1);
    const again = createStore(target, table, COLS, [['topic'], ['length', 'topic']]);
    await again.init();
    stores.push(again);
    const names = target.client === 'sqlite'
      ? ((await admin.raw(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?`, [table])) as { name: string }[]).map((r) => r.name)
      : target.client === 'pg'
        ? ((await admin('pg_indexes').where({ tablename: table }).select('indexname')) as { indexname: string }[]).map((r) => r.indexname)
        : ((await admin('information_schema.statistics').where({ table_name: table }).andWhere('table_schema', admin.raw('DATABASE()')).distinct('index_name as name')) as { name: string }[]).map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining([`${table}__topic_idx`, `${table}__length_topic_idx`, `${table}__seq_id_idx`]));
    const rows = await again.history(parseFilter({ topic: ['x'] }, COLS), 10);
    expect(rows.every((r) => r.topic === 'x')).toBe(true);
  });

  it('adds missing columns to an existing table and keeps its rows', async () => {
    if (!available) return;
    const old = `${table}_old`;
    await admin.schema.createTable(old, (t) => {
      t.string('id', 64).primary();
      t.text('user');
      t.text('timestamp');
      t.text('body');
    });
    await admin(old).insert([
      { id: 'p1', body: 'pre-existing 1' },
      { id: 'p2', body: 'pre-existing 2' },
    ]);
    const s = await open(COLS, old);
    const info = await admin(old).columnInfo();
    expect(Object.keys(info)).toEqual(expect.arrayContaining(['topic', 'length', 'score', 'flag', '_seq']));
    await s.write([post('n1', { body: 'new', topic: 'x' })]);
    const rows = await s.history(all, 100);
    expect(rows.map((r) => r.id)).toEqual(['p1', 'p2', 'n1']);
    expect(rows[0]).toMatchObject({ body: 'pre-existing 1', topic: null, _seq: 0 });
  });
});
