import type { OutboxOptions } from '../../src/alert/index.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import knexFactory, { type Knex } from 'knex';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { RenderedMail } from '../../src/alert/index.js';

export interface Received {
  mail: ParsedMail;
  mailFrom: string;
  rcptTo: string[];
}

/** Decides per recipient whether the test server refuses it: return an SMTP reply code to refuse. */
export type RcptPolicy = (address: string) => number | null;

export interface TestSmtp {
  port: number;
  received: Received[];
  /** Resolves once at least `n` mails have been accepted. */
  waitForCount(n: number): Promise<Received[]>;
  setRcptPolicy(policy: RcptPolicy | null): void;
  close(): Promise<void>;
}

/** A real SMTP server on 127.0.0.1 (plain, no STARTTLS, auth optional) that parses what it accepts. */
export async function startSmtp(port = 0): Promise<TestSmtp> {
  const received: Received[] = [];
  const waiters: { n: number; resolve: (r: Received[]) => void }[] = [];
  let policy: RcptPolicy | null = null;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 100,
    onRcptTo(address, _session, callback) {
      const code = policy?.(address.address) ?? null;
      if (code === null) return callback();
      callback(Object.assign(new Error(`refused with ${code}`), { responseCode: code }));
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (mail) => {
          received.push({
            mail,
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
          });
          for (const w of waiters.filter((w) => received.length >= w.n)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(received);
          }
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  return {
    port: address.port,
    received,
    waitForCount: (n) =>
      received.length >= n ? Promise.resolve(received) : new Promise((resolve) => waiters.push({ n, resolve })),
    setRcptPolicy(p) {
      policy = p;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port that nothing listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  const smtp = await startSmtp();
  await smtp.close();
  return smtp.port;
}

/** A fresh temp folder, removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msghub-alert-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A knex on a real SQLite file. */
export function sqlite(file: string): Knex {
  return knexFactory({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
}

/** A minimal rendered mail for queue tests. */
export function mail(i: number, extra: Partial<RenderedMail> = {}): RenderedMail {
  return {
    service: 'local',
    from: 'hub@example.org',
    to: [`user${i}@example.org`],
    cc: [],
    bcc: [],
    subject: `Alert ${i}`,
    text: `Message ${i}`,
    attachments: [],
    ...extra,
  };
}

/** Collects log lines for assertions. */
export function collectLog(): { lines: string[]; log: (level: string, msg: string) => void } {
  const lines: string[] = [];
  return { lines, log: (level, msg) => lines.push(`${level}: ${msg}`) };
}

/** Resolves after `emitter` has emitted `event` `n` times (counting from now). */
export function nEvents<T>(emitter: { on(event: string, fn: (e: T) => void): unknown; off(event: string, fn: (e: T) => void): unknown }, event: string, n: number): Promise<T[]> {
  const seen: T[] = [];
  return new Promise((resolve) => {
    const fn = (e: T): void => {
      seen.push(e);
      if (seen.length >= n) {
        emitter.off(event, fn);
        resolve(seen);
      }
    };
    emitter.on(event, fn);
  });
}

/** Worker options with small delays, so every retry scenario stays well inside the test timeout. */
export const FAST: Partial<OutboxOptions> = { baseDelayMs: 10, maxDelayMs: 80, pollMs: 200, maxAttempts: 100 };
