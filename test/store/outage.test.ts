/**
 * A database that goes away and comes back (issue 16), at the Store: on a private PostgreSQL and a private
 * MariaDB (test/support/instances.ts; never the shared ones), killed and started again on the same port.
 * While it is down every write is refused with MH_ERR_STORE_UNAVAILABLE (503) within seconds, and nothing of it
 * is stored; history, resume reads, the committed sequence and cursors are refused with the same catalogued error;
 * the pool's dead connections crash nothing; the outage is logged once per kind, not per request. Once the
 * database is back, the same Store object writes and reads again, without a restart, and `_seq` goes on gapless.
 * A database that accepts connections and never answers fails a write within the pool's timeouts too.
 * SQLite: a write lock held past busy_timeout is the same catalogued 503.
 */
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MhError } from '../../src/errors.js';
import { parseFilter } from '../../src/filter/index.js';
import type { LogLevel } from '../../src/log.js';
import { CONNECT_TIMEOUT_MS } from '../../src/store/base-store.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl } from '../../src/store/db-url.js';
import { classifyDriverError } from '../../src/store/driver-errors.js';
import { createStore } from '../../src/store/sql-store.js';
import type { Store, WriteRequest, WriteResult } from '../../src/store/store.js';
import type { ColumnDef } from '../../src/types.js';
import { PrivateMariaDB, PrivatePostgres, requireBinaries, type PrivateInstance } from '../support/instances.js';
import { tempDir } from '../support/tmp.js';

function columns(spec: Record<string, unknown>): Map<string, ColumnDef> {
  return withBuiltins(Object.entries(spec).map(([name, s]) => parseColumn(name, s).def!));
}
const COLS = columns({ body: 'TEXT' });
const all = parseFilter({}, COLS);
let ids = 0;
const post = (body: string): WriteRequest => {
  const id = `id${++ids}`;
  return { method: 'POST', id, values: { id, user: null, body }, userId: null, editAny: false };
};

/** A refused write: the catalogued 503, nothing from the driver. */
function expectUnavailable(r: WriteResult | undefined): void {
  expect(r?.ok, JSON.stringify(r)).toBe(false);
  const error = (r as { error: MhError }).error;
  expect(error).toBeInstanceOf(MhError);
  expect([error.code, error.status]).toEqual(['MH_ERR_STORE_UNAVAILABLE', 503]);
  expect(error.message).toMatch(/^Database unavailable: /);
}

async function expectReadUnavailable(p: Promise<unknown>): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'the read should have been refused').toBeInstanceOf(MhError);
  expect((err as MhError).code).toBe('MH_ERR_STORE_UNAVAILABLE');
  expect((err as MhError).status).toBe(503);
}

describe('connection-level driver errors are classified as unavailable', () => {
  const cases: [string, unknown][] = [
    ['refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })],
    ['reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['PostgreSQL admin shutdown', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['PostgreSQL starting up', Object.assign(new Error('the database system is starting up'), { code: '57P03' })],
    ['PostgreSQL connection exception class', Object.assign(new Error('connection failure'), { code: '08006' })],
    ['node-postgres end', new Error('Connection terminated unexpectedly')],
    ['node-postgres end, behind the statement knex puts first', new Error('COMMIT; - Connection terminated unexpectedly')],
    ['node-postgres broken client', new Error('ROLLBACK - Client has encountered a connection error and is not queryable')],
    ['MySQL lost', Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST' })],
    ['MySQL shutdown', Object.assign(new Error('Server shutdown in progress'), { code: 'ER_SERVER_SHUTDOWN' })],
    ['knex pool timeout', Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' })],
    ['wrapped in a cause', new Error('outer', { cause: Object.assign(new Error('x'), { code: 'EPIPE' }) })],
    ['AggregateError of a dual-stack connect', new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], 'connect failed')],
    ['SQLite busy', Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })],
  ];
  it.each(cases)('%s', (_name, err) => {
    expect(classifyDriverError(err, 'pg').kind).toBe('unavailable');
    expect(classifyDriverError(err, 'mysql').kind).toBe('unavailable');
  });

  it('leaves refusals and other failures as they were', () => {
    expect(classifyDriverError(Object.assign(new Error('dup'), { code: '23505' }), 'pg').kind).toBe('unique');
    expect(classifyDriverError(Object.assign(new Error('syntax'), { code: '42601' }), 'pg').kind).toBe('other');
    expect(classifyDriverError(Object.assign(new Error('dup'), { code: 'ER_DUP_ENTRY', sqlMessage: "Duplicate entry 'x' for key 'PRIMARY'" }), 'mysql').kind).toBe('unique');
    expect(classifyDriverError(null, 'pg').kind).toBe('other');
    // A client's value that reads like a lost connection (MySQL's statements carry the values) is not one.
    const sneaky = Object.assign(new Error("insert into `t` (`body`) values ('x - Connection lost') - Data too long for column 'body' at row 1"), {
      code: 'ER_DATA_TOO_LONG',
      sqlMessage: "Data too long for column 'body' at row 1",
    });
    expect(classifyDriverError(sneaky, 'mysql').kind).toBe('too_long');
  });
});

const ENGINES: { name: string; available: () => boolean; create: () => Promise<PrivateInstance> }[] = [
  { name: 'PostgreSQL', available: () => PrivatePostgres.available(), create: () => PrivatePostgres.create() },
  { name: 'MariaDB', available: () => PrivateMariaDB.available(), create: () => PrivateMariaDB.create() },
];

describe.each(ENGINES)('a private $name that goes away and comes back', ({ name, available, create }) => {
  let db: PrivateInstance | null = null;
  let store: Store | null = null;
  const lines: string[] = [];
  const log = (level: LogLevel, message: string): void => void lines.push(`${level} ${message}`);

  beforeAll(async () => {
    if (!requireBinaries(name, available())) return;
    db = await create();
    await db.start();
    store = createStore(parseDbUrl(db.url, '/'), 'outage', COLS, [], log);
    await store.init();
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await db?.destroy();
  }, 30_000);

  it('refuses writes and reads with MH_ERR_STORE_UNAVAILABLE while down, stores nothing, and recovers without a restart', async (ctx) => {
    if (!db || !store) return ctx.skip();
    const s = store;
    const first = await s.write([post('before')]);
    expect(first[0]).toMatchObject({ ok: true, event: { seq: 1 } });
    // Several pooled connections, idle when the database dies: their 'error' events must not crash anything.
    await Promise.all([s.history(all, 10), s.eventsSince(0, 10), s.committedSeq(), s.getCursor('h', 'u')]);

    // knex's own warnings (one per dead connection or failed attempt) must not reach stdout: the CLI's stdout is
    // its "listening" line, and an outage would flood it.
    const printed = vi.spyOn(console, 'log');
    await db.stop();
    const began = Date.now();
    const down = await s.write([post('while down 1'), post('while down 2')]);
    expect(down).toHaveLength(2);
    for (const r of down) expectUnavailable(r);
    // In seconds, not knex's default minute (a refused connection fails at once).
    expect(Date.now() - began).toBeLessThan(15_000);
    for (let i = 0; i < 5; i++) expectUnavailable((await s.write([post(`again ${i}`)]))[0]);
    await expectReadUnavailable(s.history(all, 10));
    await expectReadUnavailable(s.eventsSince(0, 10));
    await expectReadUnavailable(s.committedSeq());
    await expectReadUnavailable(s.oldestSeq());
    await expectReadUnavailable(s.getCursor('h', 'u'));
    await expectReadUnavailable(s.setCursor('h', 'u', 1));
    // Throttled: a line per kind of failure (per minute), not one per refused request.
    const logged = lines.filter((l) => l.includes('unavailable'));
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.length).toBeLessThanOrEqual(4);
    expect(logged.every((l) => l.startsWith('error '))).toBe(true);
    expect(printed).not.toHaveBeenCalled();
    printed.mockRestore();

    await db.start();
    const after = await s.write([post('after')]);
    expect(after[0]).toMatchObject({ ok: true, event: { seq: 2 } });
    // Nothing refused was stored; the sequence goes on without a gap.
    expect((await s.history(all, 10)).map((r) => r.body)).toEqual(['before', 'after']);
    expect((await s.eventsSince(0, 10)).map((e) => e.seq)).toEqual([1, 2]);
    expect(await s.committedSeq()).toBe(2);
    await s.setCursor('h', 'u', 2);
    expect(await s.getCursor('h', 'u')).toBe(2);
  }, 60_000);

  it('fails a write within the pool timeouts when the database accepts connections and never answers', async (ctx) => {
    if (!db || !store) return ctx.skip();
    const s = store;
    await db.stop();
    // A silent server on the same port: connections open, and nothing ever comes back.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((c) => void sockets.add(c));
    await new Promise<void>((resolve) => silent.listen(db!.port, '127.0.0.1', resolve));
    try {
      const began = Date.now();
      const r = await s.write([post('to a silent server')]);
      expectUnavailable(r[0]);
      // Within the pool's connect timeout (5 s), with room for a busy machine; the drivers' own defaults are 10 s
      // (mysql2) and 30 s (knex's create timeout), knex's acquire timeout 60 s.
      expect(Date.now() - began).toBeLessThan(CONNECT_TIMEOUT_MS + 4000);
    } finally {
      for (const c of sockets) c.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
    await db.start();
    expect((await s.write([post('back again')]))[0]).toMatchObject({ ok: true });
    const bodies = (await s.history(all, 10)).map((r) => r.body);
    expect(bodies.at(-1)).toBe('back again');
    expect(bodies).not.toContain('to a silent server');
  }, 60_000);
});

describe('SQLite held busy past its timeout', () => {
  it('refuses the write with MH_ERR_STORE_UNAVAILABLE and writes again once the lock is gone', async () => {
    const file = path.join(tempDir(), 'busy.db');
    const store = createStore(parseDbUrl(`sqlite:///${file}`, '/'), 'busy', COLS, [], () => {});
    await store.init();
    const other = new Database(file);
    try {
      other.prepare('BEGIN IMMEDIATE').run();
      expectUnavailable((await store.write([post('locked out')]))[0]);
      other.prepare('ROLLBACK').run();
      expect((await store.write([post('unlocked')]))[0]).toMatchObject({ ok: true, event: { seq: 1 } });
    } finally {
      other.close();
      await store.close();
    }
  }, 30_000);
});
