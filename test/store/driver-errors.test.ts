/**
 * Database refusals reach clients as catalogued 4xx codes naming the column, with no SQL and no values, on a
 * real SQLite file, PostgreSQL and MariaDB (the latter two when running; required in CI), over WebSocket and
 * HTTP POST. Nothing is stored by a refused write, and the driver's detail is logged once per kind, not per
 * message.
 */
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogLevel } from '../../src/log.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl, type DbTarget } from '../../src/store/db-url.js';
import { FaultLog } from '../../src/store/fault-log.js';
import { EVENTS_TABLE } from '../../src/store/schema.js';
import { createStore } from '../../src/store/sql-store.js';
import { mount, type Mounted } from '../support/mounts.js';
import { requireService, tempDir, writeConfig } from '../support/tmp.js';
import { clientPool } from '../support/ws-client.js';

const TARGETS: { name: string; port?: number; url: (dir: string) => string }[] = [
  { name: 'sqlite', url: (dir) => `sqlite:///${path.join(dir, 'errors.db')}` },
  { name: 'postgresql', port: 5432, url: () => 'postgresql://postgres@127.0.0.1:5432/test' },
  { name: 'mariadb', port: 3306, url: () => 'mysql://root@127.0.0.1:3306/test' },
];

/** A value of another column in every refused message: it must never come back. */
const SECRET = 'other-column-secret-4711';

interface Refusal {
  code: string;
  message: string;
  status?: number;
}


/** `it` where a case exists for this database; nothing at all where it does not (a skip would count as one). */
const onlyIf = (exists: boolean): typeof it => (exists ? it : ((() => undefined) as unknown as typeof it));

describe.each(TARGETS)('driver errors on $name', ({ name, port, url }) => {
  let available = true;
  let app: Mounted;
  let admin: Knex;
  let table: string;
  let broken: string;
  let target: DbTarget;
  const lines: { level: LogLevel; message: string; err?: unknown }[] = [];
  const pool = clientPool(() => app.ws);

  const rows = async (t = table): Promise<number> => Number(((await admin(t).count({ n: '*' })) as { n: number | string }[])[0]!.n);

  /** Sends `msg` over WebSocket and over HTTP POST; both must be refused alike, and store nothing. */
  async function refuse(msg: Record<string, unknown>, where = '/errors', t = table): Promise<Refusal[]> {
    const before = await rows(t);
    const ws = await pool.connect(where);
    const reply = await ws.request({ body: SECRET, ...msg });
    const res = await fetch(`${app.http}${where}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ body: SECRET, ...msg }),
      signal: AbortSignal.timeout(5000),
    });
    const answer = (await res.json()) as { _error: Refusal };
    expect(await rows(t)).toBe(before);
    const out = [reply._error as Refusal, { ...answer._error, status: res.status }];
    for (const r of out) {
      expect(r.message).not.toMatch(/insert|values|select|update|\$1|\?/i);
      expect(r.message).not.toContain(SECRET);
      for (const v of Object.values(msg)) if (typeof v === 'string' && v.length > 1) expect(r.message).not.toContain(v);
    }
    return out;
  }

  beforeAll(async () => {
    if (port && !(await requireService(name, port))) {
      available = false;
      return;
    }
    const dir = tempDir('msghub-driver-errors-');
    const suffix = `${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
    table = `errs_${suffix}`;
    broken = `errs_broken_${suffix}`;
    const db = url(dir);
    const config = `
url:
  errors:
    pattern: /errors
    handler: MessageHandler
    kwargs:
      url: ${db}
      table: ${table}
      columns:
        body: TEXT
        code: VARCHAR(5)
        n: INTEGER
        email: VARCHAR(100)
        must: {type: TEXT, nullable: false, default: set}
  broken:
    pattern: /broken
    handler: MessageHandler
    kwargs:
      url: ${db}
      table: ${broken}
      columns: {body: TEXT}
`;
    app = await mount('http', writeConfig(config, dir), { log: (level, message, err) => lines.push({ level, message, err }) });
    target = parseDbUrl(db, dir);
    admin = knexFactory(
      target.client === 'sqlite'
        ? { client: 'better-sqlite3', connection: { filename: target.filename! }, useNullAsDefault: true }
        : { client: target.client === 'pg' ? 'pg' : 'mysql2', connection: target.connection! },
    );
    // A unique index msghub does not know of, as an existing table may have.
    await admin.schema.alterTable(table, (t) => t.unique(['email'], { indexName: `${table}_email_uq` }));
  });

  afterAll(async () => {
    await pool.closeAll();
    await app?.close();
    if (!available) return;
    for (const t of [table, broken]) await admin.schema.dropTableIfExists(t);
    await admin(EVENTS_TABLE).whereIn('tbl', [table, broken]).delete().catch(() => undefined);
    await admin.destroy();
  });

  // SQLite does not enforce VARCHAR lengths.
  // SQLite stores any length in VARCHAR(5): the case does not exist there, so it is not registered (not skipped).
  onlyIf(name !== 'sqlite')('answers a VARCHAR(5) overflow with MH_ERR_MSG_VALUE_TOO_LONG naming the column', async () => {
    if (!available) return;
    for (const r of await refuse({ code: 'too-long-value' })) {
      expect(r).toMatchObject({ code: 'MH_ERR_MSG_VALUE_TOO_LONG', message: 'Value too long for column "code"' });
      if (r.status) expect(r.status).toBe(400);
    }
  });

  // SQLite integers are 64-bit.
  onlyIf(name !== 'sqlite')('answers a too large INTEGER with MH_ERR_MSG_OUT_OF_RANGE naming the column', async () => {
    if (!available) return;
    for (const r of await refuse({ n: 2 ** 40 })) {
      expect(r).toMatchObject({ code: 'MH_ERR_MSG_OUT_OF_RANGE', message: 'Number out of range for column "n"' });
      if (r.status) expect(r.status).toBe(400);
    }
  });

  it('answers a missing NOT NULL value with MH_ERR_MSG_NOT_NULL naming the column', async () => {
    if (!available) return;
    for (const r of await refuse({ must: null })) {
      expect(r).toMatchObject({ code: 'MH_ERR_MSG_NOT_NULL', message: 'Column "must" needs a value' });
      if (r.status) expect(r.status).toBe(400);
    }
  });

  it('answers a unique index clash with MH_ERR_MSG_CONFLICT naming the column, not "already exists"', async () => {
    if (!available) return;
    const ws = await pool.connect('/errors');
    expect((await ws.request({ body: 'first', email: 'taken@example.org' }))._ack).toBeDefined();
    for (const r of await refuse({ email: 'taken@example.org' })) {
      expect(r).toMatchObject({ code: 'MH_ERR_MSG_CONFLICT', message: 'Another message already has this value of column "email"' });
      if (r.status) expect(r.status).toBe(409);
    }
  });

  onlyIf(name === 'postgresql')('answers a NUL character PostgreSQL cannot store with MH_ERR_MSG_BAD_ENCODING naming the column', async () => {
    if (!available) return;
    for (const r of await refuse({ email: 'a\u0000b' })) {
      expect(r).toMatchObject({ code: 'MH_ERR_MSG_BAD_ENCODING' });
      expect(r.message).toContain('"email"');
      if (r.status) expect(r.status).toBe(400);
    }
  });

  it('answers a clash on the id with MH_ERR_MSG_CONFLICT "already exists"', async () => {
    if (!available) return;
    const spec = { body: 'TEXT', code: 'VARCHAR(5)', n: 'INTEGER', email: 'VARCHAR(100)', must: { type: 'TEXT', nullable: false, default: 'set' } };
    const store = createStore(target, table, withBuiltins(Object.entries(spec).map(([c, t]) => parseColumn(c, t).def!)), [], () => {});
    try {
      await store.init();
      const req = { method: 'POST' as const, id: 'same-id', values: { id: 'same-id', body: SECRET, must: 'x' }, userId: null, editAny: false };
      const [first, second] = await store.write([req, req]);
      expect(first!.ok).toBe(true);
      expect(second).toMatchObject({ ok: false, error: { code: 'MH_ERR_MSG_CONFLICT', message: 'A message with id same-id already exists' } });
    } finally {
      await store.close();
    }
  });

  it('logs the driver detail once per kind, not once per message', async () => {
    if (!available) return;
    const ofKind = (): typeof lines => lines.filter((l) => l.message.includes('MH_ERR_MSG_NOT_NULL'));
    const before = ofKind().length;
    for (let i = 0; i < 5; i++) await refuse({ must: null });
    // The first NOT NULL refusal (in an earlier test) logged it; ten more in the same minute log nothing.
    expect(before).toBe(1);
    expect(ofKind()).toHaveLength(1);
    expect(ofKind()[0]!.level).toBe('warn');
    expect(ofKind()[0]!.err).toBeUndefined(); // no stack
    expect(ofKind()[0]!.message).toMatch(/23502|ER_BAD_NULL_ERROR|SQLITE_CONSTRAINT_NOTNULL/);
  });

  it('answers an unmapped database failure with MH_ERR_STORE_FAILED (500) and a message without SQL', async () => {
    if (!available) return;
    const ws = await pool.connect('/broken');
    expect((await ws.request({ body: 'before' }))._ack).toBeDefined();
    // Behind msghub's back: every write now fails with an error no client caused.
    await admin.schema.renameTable(broken, `${broken}_gone`);
    broken = `${broken}_gone`;
    const start = lines.length;
    await ws.request({ body: SECRET });
    const reply = (await ws.request({ body: SECRET }))._error as Refusal;
    const res = await fetch(`${app.http}/broken`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ body: SECRET }), signal: AbortSignal.timeout(5000) });
    const answer = ((await res.json()) as { _error: Refusal })._error;
    expect(res.status).toBe(500);
    for (const r of [reply, answer]) {
      expect(r).toEqual({ code: 'MH_ERR_STORE_FAILED', message: 'Database error: the message was not stored; the server log has the details' });
    }
    expect(await rows(broken)).toBe(1);
    // Three failures of one kind: one line with the driver's detail, and no stack.
    const logged = lines.slice(start).filter((l) => l.level === 'error');
    expect(logged).toHaveLength(1);
    expect(logged[0]!.message).toContain(`table ${broken.replace(/_gone$/, '')}: write failed`);
    expect(logged[0]!.err).toBeUndefined();
  });
});

describe('FaultLog', () => {
  it('logs the first fault of a kind per window and carries the count of the others to the next line', () => {
    const lines: string[] = [];
    let now = 1_000_000;
    const log = new FaultLog((_level, message) => lines.push(message), 60_000, () => now);
    for (let i = 0; i < 5; i++) log.report('warn', 'too_long:22001', 'refused', `detail ${i}`);
    log.report('warn', 'not_null:23502', 'refused', 'other kind');
    expect(lines).toEqual(['refused: detail 0', 'refused: other kind']);
    now += 59_999;
    log.report('warn', 'too_long:22001', 'refused', 'still in the window');
    expect(lines).toHaveLength(2);
    now += 1;
    log.report('warn', 'too_long:22001', 'refused', 'x'.repeat(10_000));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/^refused \(and 5 more like it since 1970-01-01T00:16:40\.000Z\): x{500}…$/);
  });

  it('bounds the kinds it remembers', () => {
    const lines: string[] = [];
    const log = new FaultLog((_level, message) => lines.push(message), 60_000, () => 0);
    for (let i = 0; i < 10_000; i++) log.report('warn', `kind${i}`, 'refused', 'd');
    expect(lines.length).toBeLessThanOrEqual(65);
  });
});
