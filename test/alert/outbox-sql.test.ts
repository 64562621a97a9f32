/**
 * The alert outbox and its OutboxWorker on every supported database: a real SQLite file, PostgreSQL and MariaDB
 * (the latter two when the services run; required with MSGHUB_REQUIRE_SERVICES=1), with a real SMTP server.
 *
 * Isolation: the outbox table name is fixed, so the queue tests never touch the shared `msghub_outbox` of the
 * `test` database. Each run creates its own PostgreSQL schema (reached through `searchPath`) or MariaDB database
 * holding its own `msghub_outbox`, and drops that namespace afterwards. That keeps a worker of this run from
 * claiming another process's alerts (and theirs from claiming ours), which matters because a worker drains every
 * row of the table. The end-to-end part at the bottom uses the shared `test` database as a real deployment
 * would, and deletes only its own rows (by its unique handler and table name), never the shared tables.
 *
 * Every wait is on an event (a worker event, an SMTP delivery, a log line), bounded by `within()`.
 */
import knexFactory, { type Knex } from 'knex';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  OUTBOX_TABLE,
  OutboxWorker,
  countOutbox,
  createMailer,
  ensureOutboxTable,
  listOutbox,
  outboxRow,
  parseEmailServices,
  type Mailer,
  type OutboxEvent,
  type OutboxOptions,
} from '../../src/alert/index.js';
import { claimDue, markRetry, renewLease } from '../../src/alert/claim.js';
import type { Logger } from '../../src/log.js';
import { CURSORS_TABLE, EVENTS_TABLE } from '../../src/store/schema.js';
import { mount, type Mounted } from '../support/mounts.js';
import { requireService, writeConfig } from '../support/tmp.js';
import { TestClient } from '../support/ws-client.js';
import { FAST, collectLog, freePort, mail, nEvents, sqlite, startSmtp, tempDir, type Received, type TestSmtp } from './helpers.js';

const WAIT_MS = 15_000;

/** A token unique to this run: names of schemas, databases, handlers, tables and services. */
const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
let namespaces = 0;

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
// As the store connects (src/store/base-store.ts): utf8mb4, BIGINT as number when safe.
const MY = { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test', charset: 'utf8mb4', supportBigNumbers: true };

type TargetName = 'sqlite' | 'postgresql' | 'mariadb';
const TARGETS: { name: TargetName; port?: number }[] = [{ name: 'sqlite' }, { name: 'postgresql', port: 5432 }, { name: 'mariadb', port: 3306 }];

/** Rejects after `ms` with a message saying what we were waiting for. */
function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A private place for one `msghub_outbox`: a SQLite file, a PostgreSQL schema or a MariaDB database. */
interface Namespace {
  /** A new knex (its own connection pool) on the namespace; destroyed by `drop()`. */
  open(): Knex;
  drop(): Promise<void>;
}

async function createNamespace(name: TargetName): Promise<Namespace> {
  const opened: Knex[] = [];
  const track = (k: Knex): Knex => (opened.push(k), k);
  const closeAll = async (): Promise<void> => {
    await Promise.all(opened.splice(0).map((k) => k.destroy()));
  };
  if (name === 'sqlite') {
    const tmp = tempDir();
    const file = path.join(tmp.dir, 'outbox.db');
    return {
      open: () => track(sqlite(file)),
      async drop() {
        await closeAll();
        tmp.cleanup();
      },
    };
  }
  const ns = `msghub_t_${RUN}_${++namespaces}`;
  const client = name === 'postgresql' ? 'pg' : 'mysql2';
  const admin = knexFactory({ client, connection: name === 'postgresql' ? PG : MY, pool: { min: 0, max: 1 } });
  await admin.raw(name === 'postgresql' ? 'CREATE SCHEMA ??' : 'CREATE DATABASE ??', [ns]);
  return {
    open: () =>
      track(
        name === 'postgresql'
          ? knexFactory({ client, connection: PG, searchPath: [ns], pool: { min: 0, max: 4 } })
          : knexFactory({ client, connection: { ...MY, database: ns }, pool: { min: 0, max: 4 } }),
      ),
    async drop() {
      await closeAll();
      await admin.raw(name === 'postgresql' ? 'DROP SCHEMA IF EXISTS ?? CASCADE' : 'DROP DATABASE IF EXISTS ??', [ns]);
      await admin.destroy();
    },
  };
}

const COLUMNS = ['attempts', 'created_at', 'handler', 'id', 'last_error', 'lease_until', 'next_attempt_at', 'payload', 'sent_at', 'seq', 'service', 'state'];

describe.each(TARGETS)('outbox and worker on $name', ({ name, port }) => {
  let available = true;
  let space: Namespace;
  let knex: Knex;
  let handler = '';
  let tests = 0;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    if (port && !(await requireService(name, port))) {
      available = false;
      return;
    }
    space = await createNamespace(name);
    knex = space.open();
    await ensureOutboxTable(knex);
  });

  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
    // Only this test's rows; the namespace itself goes in afterAll.
    if (available && handler) await knex(OUTBOX_TABLE).where('handler', handler).delete();
  });

  afterAll(async () => {
    await space?.drop();
  });

  /** Starts a test: a fresh handler name for its rows, or false when the database is not available. */
  const begin = (): boolean => {
    handler = `h_${RUN}_${++tests}`;
    return available;
  };

  function mailersFor(smtpPort: number): Map<string, Mailer> {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const { services } = parseEmailServices({ local: { type: 'smtp', host: '127.0.0.1', port: smtpPort } }, { path: 'email', file: 'x', yamlPath: dir.dir });
    const mailer = createMailer(services.get('local')!);
    cleanups.push(() => mailer.close());
    return new Map([['local', mailer]]);
  }

  function worker(db: Knex, mailers: Map<string, Mailer>, options: Partial<OutboxOptions> = {}): OutboxWorker {
    const w = new OutboxWorker(db, mailers, { ...FAST, ...options }, collectLog().log);
    cleanups.push(() => w.stop());
    return w;
  }

  async function enqueue(from: number, to: number, extra: Record<string, unknown> = {}): Promise<string[]> {
    const rows = [];
    for (let i = from; i <= to; i++) rows.push({ ...outboxRow(mail(i), { handler, seq: i }), ...extra });
    await knex(OUTBOX_TABLE).insert(rows);
    return rows.map((r) => r.id as string);
  }

  async function smtp(smtpPort = 0): Promise<TestSmtp> {
    const s = await startSmtp(smtpPort);
    cleanups.push(() => s.close());
    return s;
  }

  const messageIds = (ids: readonly string[]): string[] => ids.map((id) => `<${id}@example.org>`).sort();
  const received = (server: TestSmtp): string[] => server.received.map((r) => r.mail.messageId!).sort();
  const mine = async (): Promise<Record<string, unknown>[]> => (await listOutbox(knex)).filter((r) => r.handler === handler);

  it('ensureOutboxTable creates the table once, even when several connections race, and is idempotent', async () => {
    if (!begin()) return;
    // A namespace of its own, so this test really creates the table rather than finding it.
    const fresh = await createNamespace(name);
    cleanups.push(() => fresh.drop());
    const conns = [fresh.open(), fresh.open(), fresh.open(), fresh.open()];
    expect(await conns[0]!.schema.hasTable(OUTBOX_TABLE)).toBe(false);
    await Promise.all(conns.map((k) => ensureOutboxTable(k)));
    await ensureOutboxTable(conns[0]!);
    expect(await conns[1]!.schema.hasTable(OUTBOX_TABLE)).toBe(true);
    expect(Object.keys(await conns[2]!(OUTBOX_TABLE).columnInfo()).sort()).toEqual(COLUMNS);

    // Drivers return BIGINT and COUNT(*) as strings (pg); the listing normalises them to numbers.
    const big = 2 ** 40;
    await conns[0]!(OUTBOX_TABLE).insert(outboxRow(mail(1), { handler, seq: big }));
    const [row] = await listOutbox(conns[3]!);
    expect(row).toMatchObject({ handler, seq: big, attempts: 0, state: 'pending', to: 'user1@example.org', subject: 'Alert 1' });
    expect(await countOutbox(conns[1]!)).toEqual({ pending: 1, sending: 0, sent: 0, dead: 0 });
  });

  it('concurrent claims from separate connections never take the same row twice', async () => {
    if (!begin()) return;
    const ids = await enqueue(1, 12);
    const conns = [knex, space.open(), space.open(), space.open()];
    const results = await Promise.all(conns.map((k) => claimDue(k, { limit: 12, leaseMs: 60_000, maxAgeMs: 60_000, maxAttempts: 5 })));
    const claimed = results.flatMap((r) => r.claimed.map((c) => c.id));
    expect(claimed.sort()).toEqual([...ids].sort());
    expect(results.every((r) => r.claimed.every((c) => c.attempts === 1 && typeof c.lease === 'string'))).toBe(true);
    const rows = await mine();
    expect(rows.map((r) => [r.state, r.attempts])).toEqual(Array(12).fill(['sending', 1]));
  });

  it('sends each queued alert once and marks it sent', async () => {
    if (!begin()) return;
    const server = await smtp();
    const ids = await enqueue(1, 6);
    const w = worker(knex, mailersFor(server.port), { concurrency: 2 });
    const sent = nEvents<OutboxEvent>(w, 'sent', 6);
    w.start();
    await within(sent, '6 sent events');
    await w.stop();
    expect(received(server)).toEqual(messageIds(ids));
    expect(server.received.map((r) => r.mail.subject).sort()).toEqual([1, 2, 3, 4, 5, 6].map((i) => `Alert ${i}`).sort());
    const rows = await mine();
    expect(rows).toHaveLength(6);
    for (const r of rows) {
      expect(r).toMatchObject({ state: 'sent', attempts: 1, lease_until: null, last_error: null });
      expect(r.sent_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    expect(rows.map((r) => r.seq).sort()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('stores and delivers intact a mail larger than 64 KB with non-Latin text and emoji', async () => {
    if (!begin()) return;
    const server = await smtp();
    const subject = 'Ünïcödé ✓ 日本語 🚀';
    // Short lines, so the SMTP transfer encoding has no reason to fold them.
    const html = '<p>🚀 données 数据</p>\n'.repeat(5000);
    const row = outboxRow(mail(1, { subject, html }), { handler, seq: 1 });
    expect(Buffer.byteLength(row.payload as string)).toBeGreaterThan(100_000);
    await knex(OUTBOX_TABLE).insert(row);
    // The payload column holds all of it (MySQL's TEXT would stop at 64 KB), byte for byte.
    const stored = await knex(OUTBOX_TABLE).where('id', row.id as string).first('payload');
    expect(stored.payload === row.payload, 'stored payload equals the inserted one').toBe(true);
    const w = worker(knex, mailersFor(server.port));
    const sent = nEvents<OutboxEvent>(w, 'sent', 1);
    w.start();
    await within(sent, 'the large alert');
    await w.stop();
    expect(server.received).toHaveLength(1);
    expect(server.received[0]!.mail.subject).toBe(subject);
    const got = server.received[0]!.mail.html;
    expect(got === html, `delivered html (${String(got).length} chars) equals the queued one (${html.length})`).toBe(true);
    expect(await mine()).toMatchObject([{ state: 'sent', subject }]);
  });

  it('rides out an SMTP server that is down, then delivers every alert exactly once', async () => {
    if (!begin()) return;
    const smtpPort = await freePort();
    const ids = await enqueue(1, 5);
    const w = worker(knex, mailersFor(smtpPort));
    const everyOneFailed = new Promise<void>((resolve) => {
      const failed = new Set<string>();
      w.on('retry', (e) => failed.add(e.id).size === ids.length && resolve());
    });
    w.start();
    await within(everyOneFailed, 'a failed attempt for every alert');
    const sent = nEvents<OutboxEvent>(w, 'sent', 5);
    const server = await smtp(smtpPort);
    await within(sent, '5 sent events');
    await w.stop();
    expect(received(server)).toEqual(messageIds(ids));
    const rows = await mine();
    expect(rows.map((r) => r.state)).toEqual(Array(5).fill('sent'));
    expect(rows.every((r) => (r.attempts as number) >= 2)).toBe(true);
  });

  it('moves an alert to dead after maxAttempts failures', async () => {
    if (!begin()) return;
    const server = await smtp();
    server.setRcptPolicy(() => 451);
    const [id] = await enqueue(1, 1);
    const w = worker(knex, mailersFor(server.port), { maxAttempts: 3 });
    const dead = nEvents<OutboxEvent>(w, 'dead', 1);
    w.start();
    const [event] = await within(dead, 'the dead event');
    await w.stop();
    expect(event).toMatchObject({ id, attempts: 3 });
    const [row] = await mine();
    expect(row).toMatchObject({ id, attempts: 3, state: 'dead', lease_until: null });
    expect(row!.last_error).toMatch(/^3 attempts failed; last: .*451/);
    expect(server.received).toHaveLength(0);
  });

  it('sends each alert once when two workers on separate connections share the table', async () => {
    if (!begin()) return;
    const server = await smtp();
    const ids = await enqueue(1, 20);
    const a = worker(knex, mailersFor(server.port), { concurrency: 3 });
    const b = worker(space.open(), mailersFor(server.port), { concurrency: 3 });
    const sentBy = { a: 0, b: 0 };
    const all = new Promise<void>((resolve) => {
      const count = (who: 'a' | 'b') => (): void => {
        sentBy[who]++;
        if (sentBy.a + sentBy.b === 20) resolve();
      };
      a.on('sent', count('a'));
      b.on('sent', count('b'));
    });
    a.start();
    b.start();
    await within(all, '20 sent events from both workers');
    await Promise.all([a.stop(), b.stop()]);
    expect(server.received).toHaveLength(20);
    expect(received(server)).toEqual(messageIds(ids));
    // Each row was claimed exactly once: one attempt, no retries.
    expect((await mine()).map((r) => [r.state, r.attempts])).toEqual(Array(20).fill(['sent', 1]));
  });

  it('a renewed lease holds the row against other connections; a lease taken over is never renewed', async () => {
    if (!begin()) return;
    const [id] = await enqueue(1, 1);
    const other = space.open();
    const opts = { limit: 1, leaseMs: 60_000, maxAgeMs: 60_000, maxAttempts: 5 };
    const [row] = (await claimDue(knex, opts)).claimed;
    const first = row!.lease;
    const until = new Date(Date.parse(first) + 60_000).toISOString();
    expect(await renewLease(knex, row!, until)).toBe(true);
    expect(row!.lease).toBe(until);
    expect((await mine())[0]).toMatchObject({ id, state: 'sending', attempts: 1, lease_until: until });
    expect((await claimDue(other, opts)).claimed).toEqual([]);

    // The worker stalls and its lease runs out (written here as a time in the past). Not taken over yet, the row
    // is still this worker's to renew.
    const expire = async (): Promise<void> => {
      await knex(OUTBOX_TABLE).where({ id }).update({ lease_until: '2000-01-01T00:00:00.000Z' });
      row!.lease = '2000-01-01T00:00:00.000Z';
    };
    await expire();
    expect(await renewLease(knex, row!, until)).toBe(true);
    expect((await claimDue(other, opts)).claimed).toEqual([]);
    // Once another connection has taken it over, the first worker can neither renew nor record an outcome.
    await expire();
    const stale = row!;
    const [taken] = (await claimDue(other, opts)).claimed;
    expect(taken).toMatchObject({ id, attempts: 2 });
    expect(await renewLease(knex, stale, new Date(Date.now() + 120_000).toISOString())).toBe(false);
    expect(await markRetry(knex, stale, new Date().toISOString(), 'late')).toBe(false);
    expect(await renewLease(other, taken!, new Date(Date.parse(taken!.lease) + 1000).toISOString())).toBe(true);
    expect((await mine())[0]).toMatchObject({ id, state: 'sending', attempts: 2, lease_until: taken!.lease });
  });

  it('re-claims a row whose sending lease expired, leaves a live lease alone, and retires a lost final attempt', async () => {
    if (!begin()) return;
    const server = await smtp();
    const [stuck] = await enqueue(1, 1, { state: 'sending', attempts: 1, lease_until: '2000-01-01T00:00:00.000Z' });
    const [held] = await enqueue(2, 2, { state: 'sending', attempts: 1, lease_until: '2999-01-01T00:00:00.000Z' });
    const [lost] = await enqueue(3, 3, { state: 'sending', attempts: 3, lease_until: '2000-01-01T00:00:00.000Z' });
    const w = worker(knex, mailersFor(server.port), { maxAttempts: 3 });
    const sent = nEvents<OutboxEvent>(w, 'sent', 1);
    const dead = nEvents<OutboxEvent>(w, 'dead', 1);
    w.start();
    expect((await within(sent, 'the re-claimed alert'))[0]).toMatchObject({ id: stuck, attempts: 2 });
    expect((await within(dead, 'the retired alert'))[0]).toMatchObject({ id: lost, attempts: 3 });
    await w.stop();
    expect(received(server)).toEqual(messageIds([stuck!]));
    const byId = new Map((await mine()).map((r) => [r.id, r]));
    expect(byId.get(stuck)).toMatchObject({ state: 'sent', attempts: 2 });
    expect(byId.get(held)).toMatchObject({ state: 'sending', attempts: 1, lease_until: '2999-01-01T00:00:00.000Z' });
    expect(byId.get(lost)).toMatchObject({ state: 'dead', attempts: 3, last_error: expect.stringMatching(/worker lost during final attempt 3/) });
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** A Logger that records lines and lets a test wait for one. */
function logWatch(): { lines: string[]; log: Logger; until(pred: (line: string) => boolean, what: string): Promise<void> } {
  const lines: string[] = [];
  const waiters: { pred: (l: string) => boolean; resolve: () => void }[] = [];
  const log: Logger = (level, message, err) => {
    const line = `${level}: ${message}${err === undefined ? '' : ` ${err instanceof Error ? err.message : String(err)}`}`;
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.pred(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  return {
    lines,
    log,
    until(pred, what) {
      if (lines.some(pred)) return Promise.resolve();
      return within(new Promise<void>((resolve) => waiters.push({ pred, resolve })), `${what}; log: ${lines.join(' | ')}`);
    },
  };
}

const E2E: { name: TargetName; port: number; url: string; client: 'pg' | 'mysql2'; connection: typeof PG | typeof MY }[] = [
  { name: 'postgresql', port: 5432, url: 'postgresql://postgres@127.0.0.1:5432/test', client: 'pg', connection: PG },
  { name: 'mariadb', port: 3306, url: 'mysql://root@127.0.0.1:3306/test', client: 'mysql2', connection: MY },
];

describe.each(E2E)('an alert through a MessageHandler on $name', ({ name, port, url, client, connection }) => {
  let available = true;
  let admin: Knex;
  let smtp: TestSmtp;
  let server: Mounted | undefined;
  const table = `t_${RUN}_${name.slice(0, 2)}`;
  // Unique per run: the handler names this run's outbox rows, the service keeps another process's worker on the
  // same shared table from delivering our alert to its own SMTP server.
  const urlName = `chat_${RUN}_${name.slice(0, 2)}`;
  const service = `mail_${RUN}`;
  const watch = logWatch();
  const clients: TestClient[] = [];

  beforeAll(async () => {
    if (!(await requireService(name, port))) {
      available = false;
      return;
    }
    admin = knexFactory({ client, connection, pool: { min: 0, max: 2 } });
    smtp = await startSmtp();
    const file = writeConfig(`
email:
  ${service}:
    type: smtp
    host: 127.0.0.1
    port: ${smtp.port}
    from: hub@example.org
url:
  ${urlName}:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: ${url}
      table: ${table}
      columns: {body: TEXT}
      alert:
        service: ${service}
        to: ops@example.org
        subject: "alert {{ id }}: {{ body }}"
        body: "{{ body }} (id={{ id }})"
`);
    // Delivery follows the commit's kick; short polls bound any wait. Retry delays stay moderate because this
    // worker drains the shared table: a foreign row it cannot send (unknown service) loses few attempts to it.
    server = await mount('http', file, { log: watch.log, outbox: { pollMs: 200, baseDelayMs: 500, maxDelayMs: 2000 } });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server?.close();
    await smtp?.close();
    if (!available) return;
    await admin.schema.dropTableIfExists(table);
    for (const t of [EVENTS_TABLE, CURSORS_TABLE]) {
      if (await admin.schema.hasTable(t)) await admin(t).where('tbl', table).delete();
    }
    if (await admin.schema.hasTable(OUTBOX_TABLE)) await admin(OUTBOX_TABLE).where('handler', urlName).delete();
    await admin.destroy();
  });

  it('one message posted over WebSocket gives exactly one mail, and its outbox row ends sent', async () => {
    if (!available) return;
    const c = await TestClient.connect(`${server!.ws}/chat`);
    clients.push(c);
    const reply = await c.request({ body: `hello from ${name}` });
    expect(reply._error, JSON.stringify(reply)).toBeUndefined();
    const id = String(reply.id);

    const isOurs = (r: Received): boolean => r.mail.subject === `alert ${id}: hello from ${name}`;
    await within(
      (async () => {
        while (!smtp.received.some(isOurs)) await smtp.waitForCount(smtp.received.length + 1);
      })(),
      `the mail for message ${id}`,
    );
    const [got] = smtp.received.filter(isOurs);
    expect(got!.mail.text?.trim()).toBe(`hello from ${name} (id=${id})`);
    expect(got!.rcptTo).toEqual(['ops@example.org']);

    // The row: exactly one for this message, whose id is the Message-ID; `sent` once the worker recorded it.
    const rows = await admin(OUTBOX_TABLE).where({ handler: urlName });
    expect(rows).toHaveLength(1);
    const row = rows[0] as Record<string, unknown>;
    expect(Number(row.seq)).toBe(Number(reply._seq));
    expect(got!.mail.messageId).toBe(`<${String(row.id)}@example.org>`);
    await watch.until((l) => l.includes(`alert ${String(row.id)} (${urlName}) sent`), 'the sent log line');
    expect(await admin(OUTBOX_TABLE).where({ id: row.id }).first()).toMatchObject({ state: 'sent', attempts: 1, lease_until: null });

    // Closing the service waits for the worker's sends in flight: after it, no second copy can still arrive.
    await server!.close();
    server = undefined;
    expect(smtp.received.filter((r) => r.mail.messageId === got!.mail.messageId)).toHaveLength(1);
    expect(watch.lines.filter((l) => l.startsWith('error:'))).toEqual([]);
  });
});
