/**
 * The alert lease: short, and renewed while the send runs. An alert whose worker died mid-send is retried after
 * the short lease (not the old 10 minutes); a live worker whose SMTP server is slower than the lease keeps its
 * claim, and the mail is sent exactly once. Real SQLite outbox, real SMTP servers on 127.0.0.1, and a real
 * worker process killed with SIGKILL (it runs dist/: `npx tsc -p tsconfig.build.json` first).
 *
 * Every wait is on an event (an SMTP transaction, a worker event, a process exit), bounded by `within()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_OUTBOX_OPTIONS,
  OUTBOX_TABLE,
  OutboxWorker,
  createMailer,
  ensureOutboxTable,
  outboxRow,
  parseEmailServices,
  type Mailer,
  type OutboxEvent,
  type OutboxOptions,
} from '../../src/alert/index.js';
import { ROOT } from '../support/mounts.js';
import { FAST, collectLog, mail, nEvents, sqlite, tempDir } from './helpers.js';

const WAIT_MS = 15_000;

function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A real SMTP server that reports each DATA transaction as it starts, and accepts it only when
 * `accept(n)` (n = 1 for the first transaction) resolves: never, after a delay, or at once.
 */
interface SlowSmtp {
  port: number;
  /** Message-IDs of the transactions started, in order. */
  started: string[];
  /** Message-IDs of the mails accepted. */
  accepted: string[];
  /** Resolves when `n` transactions have started. */
  startedCount(n: number): Promise<void>;
  close(): Promise<void>;
}

async function slowSmtp(accept: (n: number) => Promise<void>): Promise<SlowSmtp> {
  const started: string[] = [];
  const accepted: string[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 100,
    onData(stream, _session, callback) {
      let head = '';
      stream.on('data', (d: Buffer) => (head += d.toString('latin1')));
      stream.on('end', () => {
        const id = /^Message-ID:\s*(<[^>]+>)/im.exec(head)?.[1] ?? '?';
        started.push(id);
        for (const w of waiters.filter((w) => started.length >= w.n)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
        accept(started.length).then(() => {
          accepted.push(id);
          callback();
        });
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server as unknown as { server: { address(): AddressInfo } }).server.address().port;
  return {
    port,
    started,
    accepted,
    startedCount: (n) => (started.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    // A held transaction would keep close() waiting: the server drops the connection after closeTimeout.
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const never = (): Promise<void> => new Promise(() => {});
const now = (): Promise<void> => Promise.resolve();
const after = (ms: number) => (): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let tmp: ReturnType<typeof tempDir>;
let dbFile: string;
let knex: Knex;
const cleanups: (() => Promise<void> | void)[] = [];
/** Closed first, so that a send held by a server fails and its worker can stop. */
const servers: SlowSmtp[] = [];

beforeEach(async () => {
  tmp = tempDir();
  dbFile = path.join(tmp.dir, 'chat.db');
  knex = sqlite(dbFile);
  await ensureOutboxTable(knex);
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await knex.destroy();
  tmp.cleanup();
});

async function smtp(accept: (n: number) => Promise<void>): Promise<SlowSmtp> {
  const s = await slowSmtp(accept);
  servers.push(s);
  return s;
}

function mailersFor(port: number): Map<string, Mailer> {
  const { services } = parseEmailServices({ local: { type: 'smtp', host: '127.0.0.1', port } }, { path: 'email', file: 'x', yamlPath: tmp.dir });
  const mailer = createMailer(services.get('local')!);
  cleanups.push(() => mailer.close());
  return new Map([['local', mailer]]);
}

/** A worker on its own connection to the database file, as another process would have. */
function worker(port: number, options: Partial<OutboxOptions>): OutboxWorker {
  const db = sqlite(dbFile);
  const w = new OutboxWorker(db, mailersFor(port), { ...FAST, ...options }, collectLog().log);
  cleanups.push(async () => {
    await w.stop();
    await db.destroy();
  });
  return w;
}

async function enqueue(): Promise<string> {
  const row = outboxRow(mail(1), { handler: 'chat', seq: 1 });
  await knex(OUTBOX_TABLE).insert(row);
  return row.id as string;
}

const rowOf = async (id: string): Promise<Record<string, unknown>> => (await knex(OUTBOX_TABLE).where({ id }).first()) as Record<string, unknown>;

/** A worker in a child process (dist build), killable with SIGKILL. Its log goes to its stderr. */
function childWorker(port: number, options: Partial<OutboxOptions>): ChildProcess {
  const dist = (file: string): string => JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/alert', file)).href);
  const script = `
    const { OutboxWorker } = await import(${dist('worker.js')});
    const { createMailer } = await import(${dist('mailer.js')});
    const { default: knexFactory } = await import('knex');
    const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ${JSON.stringify(dbFile)} }, useNullAsDefault: true });
    const mailer = createMailer({ type: 'smtp', host: '127.0.0.1', port: ${port} });
    new OutboxWorker(knex, new Map([['local', mailer]]), ${JSON.stringify(options)}, (l, m) => console.error(l + ': ' + m)).start();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

describe('the alert lease', () => {
  it('is about a minute by default, so a crash delays an alert by about a minute, not 10', async () => {
    expect(DEFAULT_OUTBOX_OPTIONS.leaseMs).toBeLessThanOrEqual(60_000);
    // What a worker with default options really writes while it sends.
    const server = await smtp(never);
    const id = await enqueue();
    const w = worker(server.port, { leaseMs: undefined });
    w.start();
    await within(server.startedCount(1), 'the send to start');
    const lease = Date.parse(String((await rowOf(id)).lease_until));
    expect(lease - Date.now()).toBeGreaterThan(0);
    expect(lease - Date.now()).toBeLessThanOrEqual(60_000);
  });

  it('an alert whose worker process was SIGKILLed mid-send is sent by another worker soon after the lease', async () => {
    expect(existsSync(path.join(ROOT, 'dist/alert/lease.js')), 'dist is stale: run npx tsc -p tsconfig.build.json').toBe(true);
    const LEASE = 1000;
    const id = await enqueue();
    // The first server takes the mail but never accepts it: the child dies inside the SMTP conversation.
    const hanging = await smtp(never);
    const child = childWorker(hanging.port, { leaseMs: LEASE, pollMs: 100 });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    await within(hanging.startedCount(1), 'the child to start sending').catch((err: Error) => {
      throw new Error(`${err.message}; child stderr: ${stderr}`);
    });
    expect(await rowOf(id)).toMatchObject({ state: 'sending', attempts: 1 });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await within(exited, 'the child to die');
    const killedAt = Date.now();

    // A restarted worker (here, in this process) finds the row held, waits out the short lease and sends it.
    const good = await smtp(now);
    const w = worker(good.port, { leaseMs: LEASE, pollMs: 100 });
    const sent = nEvents<OutboxEvent>(w, 'sent', 1);
    w.start();
    const [event] = await within(sent, 'the retry after the lease');
    const waited = Date.now() - killedAt;
    expect(event).toMatchObject({ id, attempts: 2 });
    // Not before the child's lease could have expired (it was held), and well before anything like 10 minutes.
    expect(waited).toBeLessThan(LEASE + 5000);
    expect(good.accepted).toEqual([`<${id}@example.org>`]);
    expect(await rowOf(id)).toMatchObject({ state: 'sent', attempts: 2, lease_until: null });
  });

  it('a live worker whose SMTP server is slower than the lease keeps its claim: the mail is sent exactly once', async () => {
    // Long enough that a loaded test machine does not stall past it; renewed every LEASE / 3.
    const LEASE = 1000;
    // Accepts after 3.5 leases: without renewal the claim would expire three times over.
    const slow = await smtp(after(3.5 * LEASE));
    const id = await enqueue();
    const a = worker(slow.port, { leaseMs: LEASE, pollMs: 50 });
    const sentA = nEvents<OutboxEvent>(a, 'sent', 1);
    a.start();
    await within(slow.startedCount(1), 'worker A to start sending');
    // Worker B polls the same table all along, ready to take over any lease that expires.
    const b = worker(slow.port, { leaseMs: LEASE, pollMs: 50 });
    const claimedByB: OutboxEvent[] = [];
    for (const e of ['sent', 'retry', 'dead'] as const) b.on(e, (ev) => claimedByB.push(ev));
    b.start();

    const [event] = await within(sentA, 'worker A to finish');
    expect(event).toMatchObject({ id, attempts: 1 });
    // One SMTP transaction in all, one attempt counted, nothing done by B.
    expect(slow.started).toEqual([`<${id}@example.org>`]);
    expect(slow.accepted).toEqual([`<${id}@example.org>`]);
    expect(claimedByB).toEqual([]);
    expect(await rowOf(id)).toMatchObject({ state: 'sent', attempts: 1 });
    await b.stop();
    expect(slow.started).toHaveLength(1);
  });
});
