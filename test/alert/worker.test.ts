import path from 'node:path';
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  OUTBOX_TABLE,
  OutboxWorker,
  createMailer,
  ensureOutboxTable,
  listOutbox,
  outboxRow,
  parseEmailServices,
  type Mailer,
  type OutboxEvent,
  type OutboxOptions,
} from '../../src/alert/index.js';
import { FAST, collectLog, freePort, mail, nEvents, sqlite, startSmtp, tempDir, type TestSmtp } from './helpers.js';


let tmp: ReturnType<typeof tempDir>;
let dbFile: string;
let knex: Knex;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  tmp = tempDir();
  dbFile = path.join(tmp.dir, 'chat.db');
  knex = sqlite(dbFile);
  await ensureOutboxTable(knex);
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await knex.destroy();
  tmp.cleanup();
});

function mailersFor(port: number): Map<string, Mailer> {
  const { services } = parseEmailServices({ local: { type: 'smtp', host: '127.0.0.1', port } }, { path: 'email', file: 'x', yamlPath: tmp.dir });
  const mailer = createMailer(services.get('local')!);
  cleanups.push(() => mailer.close());
  return new Map([['local', mailer]]);
}

function worker(db: Knex, mailers: Map<string, Mailer>, options: Partial<OutboxOptions> = {}): OutboxWorker {
  const w = new OutboxWorker(db, mailers, { ...FAST, ...options }, collectLog().log);
  cleanups.push(() => w.stop());
  return w;
}

async function enqueue(db: Knex, from: number, to: number, extra: Record<string, unknown> = {}): Promise<string[]> {
  const rows = [];
  for (let i = from; i <= to; i++) rows.push({ ...outboxRow(mail(i), { handler: 'chat', seq: i }), ...extra });
  await db(OUTBOX_TABLE).insert(rows);
  return rows.map((r) => r.id as string);
}

async function smtp(port = 0): Promise<TestSmtp> {
  const s = await startSmtp(port);
  cleanups.push(() => s.close());
  return s;
}

const idsOf = (server: TestSmtp): string[] => server.received.map((r) => r.mail.messageId!).sort();
const states = async (db: Knex): Promise<string[]> => (await db(OUTBOX_TABLE).select('state')).map((r) => r.state as string);

describe('OutboxWorker', () => {
  it('sends each queued alert once and marks it sent', async () => {
    const server = await smtp();
    const ids = await enqueue(knex, 1, 6);
    const w = worker(knex, mailersFor(server.port), { concurrency: 2 });
    const sent = nEvents<OutboxEvent>(w, 'sent', 6);
    w.start();
    await sent;
    await w.stop();
    expect(idsOf(server)).toEqual(ids.map((id) => `<${id}@example.org>`).sort());
    expect(server.received.map((r) => r.mail.subject).sort()).toEqual([1, 2, 3, 4, 5, 6].map((i) => `Alert ${i}`).sort());
    expect(await states(knex)).toEqual(Array(6).fill('sent'));
    const rows = await listOutbox(knex);
    expect(rows.every((r) => r.attempts === 1 && typeof r.sent_at === 'string')).toBe(true);
  });

  it('picks up rows committed after start when kicked', async () => {
    const server = await smtp();
    const w = worker(knex, mailersFor(server.port), { pollMs: 60_000 });
    w.start();
    const sent = nEvents<OutboxEvent>(w, 'sent', 2);
    await enqueue(knex, 1, 2);
    w.kick();
    await sent;
    expect(server.received).toHaveLength(2);
  });

  it('rides out an SMTP server that is down, then delivers every alert exactly once', async () => {
    const port = await freePort();
    const ids = await enqueue(knex, 1, 5);
    const w = worker(knex, mailersFor(port));
    const everyOneFailed = new Promise<void>((resolve) => {
      const failed = new Set<string>();
      w.on('retry', (e) => failed.add(e.id).size === ids.length && resolve());
    });
    w.start();
    await everyOneFailed;
    const sent = nEvents<OutboxEvent>(w, 'sent', 5);
    const server = await smtp(port);
    await sent;
    await w.stop();
    expect(idsOf(server)).toEqual(ids.map((id) => `<${id}@example.org>`).sort());
    expect(await states(knex)).toEqual(Array(5).fill('sent'));
  });

  it('retries a temporary 4xx refusal until the server accepts, once per alert', async () => {
    const server = await smtp();
    server.setRcptPolicy(() => 451);
    await enqueue(knex, 1, 3);
    const w = worker(knex, mailersFor(server.port));
    const retries = nEvents<OutboxEvent>(w, 'retry', 6);
    w.start();
    const failed = await retries;
    expect(failed[0]!.error).toMatch(/451/);
    server.setRcptPolicy(null);
    const sent = await nEvents<OutboxEvent>(w, 'sent', 3);
    await w.stop();
    expect(new Set(sent.map((e) => e.id)).size).toBe(3);
    expect(server.received).toHaveLength(3);
    expect(new Set(idsOf(server)).size).toBe(3);
  });

  it('moves an alert to dead after maxAttempts failures', async () => {
    const server = await smtp();
    server.setRcptPolicy(() => 451);
    const [id] = await enqueue(knex, 1, 1);
    const w = worker(knex, mailersFor(server.port), { maxAttempts: 3 });
    const dead = nEvents<OutboxEvent>(w, 'dead', 1);
    w.start();
    const [event] = await dead;
    expect(event).toMatchObject({ id, attempts: 3 });
    const [row] = await listOutbox(knex, { state: 'dead' });
    expect(row).toMatchObject({ id, attempts: 3, state: 'dead' });
    expect(row!.last_error).toMatch(/^3 attempts failed; last: .*451/);
  });

  it('moves an alert to dead at once when the server refuses it permanently (5xx)', async () => {
    const server = await smtp();
    server.setRcptPolicy(() => 550);
    await enqueue(knex, 1, 1);
    const w = worker(knex, mailersFor(server.port));
    const dead = nEvents<OutboxEvent>(w, 'dead', 1);
    w.start();
    expect((await dead)[0]).toMatchObject({ attempts: 1 });
    expect(server.received).toHaveLength(0);
  });

  it('moves an alert whose attachment is missing to dead at once', async () => {
    const server = await smtp();
    await knex(OUTBOX_TABLE).insert(
      outboxRow(mail(1, { attachments: [{ filename: 'gone.pdf', path: path.join(tmp.dir, 'gone.pdf') }] }), { handler: 'chat', seq: 1 }),
    );
    const w = worker(knex, mailersFor(server.port));
    const dead = nEvents<OutboxEvent>(w, 'dead', 1);
    w.start();
    expect((await dead)[0]).toMatchObject({ attempts: 1, error: expect.stringMatching(/ENOENT/) });
    expect(server.received).toHaveLength(0);
  });

  it('moves an alert older than maxAgeMs to dead without sending it', async () => {
    const server = await smtp();
    const [old] = await enqueue(knex, 1, 1, { created_at: '2000-01-01T00:00:00.000Z', next_attempt_at: '2000-01-01T00:00:00.000Z' });
    await enqueue(knex, 2, 2);
    const w = worker(knex, mailersFor(server.port), { maxAgeMs: 60_000 });
    const dead = nEvents<OutboxEvent>(w, 'dead', 1);
    const sent = nEvents<OutboxEvent>(w, 'sent', 1);
    w.start();
    expect((await dead)[0]!.id).toBe(old);
    await sent;
    expect(server.received.map((r) => r.mail.subject)).toEqual(['Alert 2']);
    expect((await listOutbox(knex, { state: 'dead' }))[0]!.last_error).toMatch(/older than maxAgeMs/);
  });

  it('sends each alert once when two workers share one database', async () => {
    const server = await smtp();
    const ids = await enqueue(knex, 1, 20);
    const other = sqlite(dbFile);
    cleanups.push(() => other.destroy());
    const a = worker(knex, mailersFor(server.port), { concurrency: 3 });
    const b = worker(other, mailersFor(server.port), { concurrency: 3 });
    let total = 0;
    const all = new Promise<void>((resolve) => {
      const count = (): void => {
        if (++total === 20) resolve();
      };
      a.on('sent', count);
      b.on('sent', count);
    });
    a.start();
    b.start();
    await all;
    await Promise.all([a.stop(), b.stop()]);
    expect(server.received).toHaveLength(20);
    expect(idsOf(server)).toEqual(ids.map((id) => `<${id}@example.org>`).sort());
  });

  it('sends again a row left in sending by a crashed worker once its lease expired, and not before', async () => {
    const server = await smtp();
    const [stuck] = await enqueue(knex, 1, 1, { state: 'sending', attempts: 1, lease_until: '2000-01-01T00:00:00.000Z' });
    const [held] = await enqueue(knex, 2, 2, { state: 'sending', attempts: 1, lease_until: '2999-01-01T00:00:00.000Z' });
    const w = worker(knex, mailersFor(server.port));
    const sent = nEvents<OutboxEvent>(w, 'sent', 1);
    w.start();
    expect((await sent)[0]).toMatchObject({ id: stuck, attempts: 2 });
    await w.stop();
    expect(server.received.map((r) => r.mail.messageId)).toEqual([`<${stuck}@example.org>`]);
    expect((await listOutbox(knex, { state: 'sending' })).map((r) => r.id)).toEqual([held]);
  });

  it('after a restart sends the unsent alerts and never the sent ones', async () => {
    const server = await smtp();
    const first = await enqueue(knex, 1, 3);
    const w1 = worker(knex, mailersFor(server.port));
    const sent1 = nEvents<OutboxEvent>(w1, 'sent', 3);
    w1.start();
    await sent1;
    await w1.stop();
    const second = await enqueue(knex, 4, 6);

    const restarted = sqlite(dbFile);
    cleanups.push(() => restarted.destroy());
    const w2 = worker(restarted, mailersFor(server.port));
    const sent2 = nEvents<OutboxEvent>(w2, 'sent', 3);
    w2.start();
    expect((await sent2).map((e) => e.id).sort()).toEqual([...second].sort());
    await w2.stop();
    expect(server.received).toHaveLength(6);
    expect(idsOf(server)).toEqual([...first, ...second].map((id) => `<${id}@example.org>`).sort());
  });

  it('never throws into its caller when the database is gone, and stops cleanly', async () => {
    const logged = collectLog();
    const broken = sqlite(path.join(tmp.dir, 'no-table.db'));
    const w = new OutboxWorker(broken, new Map(), FAST, logged.log);
    w.start();
    w.kick();
    await w.stop();
    await broken.destroy();
    expect(logged.lines.some((l) => /^error: outbox: cannot read the queue/.test(l))).toBe(true);
  });
});
