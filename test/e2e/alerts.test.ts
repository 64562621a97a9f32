/**
 * Email alerts end to end (issue 7): a real MessageHandler over WebSocket (in-process and the standalone CLI), a
 * real SQLite file, a real SMTP server (`smtp-server` on 127.0.0.1) and `mailparser` reading what it accepted.
 * Every wait is on an event (an SMTP delivery, a frame, a log line, a process exit), bounded in time.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.js';
import { CLI, mount, startCli, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { TestClient, type Frame } from '../support/ws-client.js';
import { freePort, startSmtp, type Received, type TestSmtp } from '../alert/helpers.js';

const run = promisify(execFile);
const FROM = 'hub@example.org';

/** Rejects after `ms` with a message saying what we were waiting for. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Waits until the SMTP server has accepted a mail matching `pred` (event driven: one wake-up per delivery). */
async function mailWhere(smtp: TestSmtp, pred: (r: Received) => boolean, what: string, ms = 10_000): Promise<Received> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = smtp.received.find(pred);
    if (hit) return hit;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no mail for ${what}; got subjects ${JSON.stringify(smtp.received.map((r) => r.mail.subject))}`);
    await within(smtp.waitForCount(smtp.received.length + 1), left, `a mail for ${what}`).catch(() => undefined);
  }
}

/** A Logger that records lines and lets a test wait for them. */
function logWatch(): { lines: string[]; log: Logger; until(pred: (lines: string[]) => boolean, what: string, ms?: number): Promise<void> } {
  const lines: string[] = [];
  const waiters: { pred: (l: string[]) => boolean; resolve: () => void }[] = [];
  const log: Logger = (level, message, err) => {
    lines.push(`${level}: ${message}${err === undefined ? '' : ` ${err instanceof Error ? err.message : String(err)}`}`);
    for (const w of [...waiters]) {
      if (w.pred(lines)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  return {
    lines,
    log,
    until(pred, what, ms = 10_000) {
      if (pred(lines)) return Promise.resolve();
      return within(new Promise<void>((resolve) => waiters.push({ pred, resolve })), ms, `${what}; log: ${lines.join(' | ')}`);
    },
  };
}

const messageIds = (received: readonly Received[]): string[] => received.map((r) => r.mail.messageId ?? '');
const countBy = (xs: readonly string[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
};

interface OutboxRow {
  id: string;
  handler: string;
  seq: number;
  state: string;
  attempts: number;
  last_error: string | null;
  payload: string;
}

function outbox(dbFile: string, where = '1=1', ...params: unknown[]): OutboxRow[] {
  const db = new Database(dbFile, { readonly: true });
  try {
    const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE type='table' AND name='msghub_outbox'`).get();
    if (!has) return [];
    return db.prepare(`SELECT * FROM msghub_outbox WHERE ${where} ORDER BY created_at, id`).all(...params) as OutboxRow[];
  } finally {
    db.close();
  }
}

const isAck = (f: Frame): boolean => f._ack !== undefined && f._error === undefined;

// ---------------------------------------------------------------------------------------------------------------

describe('alerts through a MessageHandler over WebSocket (SMTP up)', () => {
  let dir: string;
  let dbFile: string;
  let smtp: TestSmtp;
  let server: Mounted;
  let serverClosed = false;
  const watch = logWatch();
  const clients: TestClient[] = [];

  const connect = async (p: string, user?: string): Promise<TestClient> => {
    const c = await TestClient.connect(`${server.ws}${p}`, user ? { 'x-user': user } : undefined);
    clients.push(c);
    return c;
  };
  const ack = async (c: TestClient, msg: Frame): Promise<Frame> => {
    const reply = await c.request(msg);
    expect(reply._error, JSON.stringify(reply)).toBeUndefined();
    expect(isAck(reply)).toBe(true);
    return reply;
  };

  beforeAll(async () => {
    dir = tempDir();
    dbFile = path.join(dir, 'chat.db');
    fs.mkdirSync(path.join(dir, 'files'));
    fs.writeFileSync(path.join(dir, 'files', 'report.txt'), 'quarterly numbers\n');
    fs.writeFileSync(path.join(dir, 'files', 'data.csv'), 'a,b\n1,2\n');
    smtp = await startSmtp();
    const file = writeConfig(
      `
email:
  local:
    type: smtp
    host: 127.0.0.1
    port: ${smtp.port}
    from: ${FROM}
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/chat.db
      table: chat
      columns: {body: TEXT, to: TEXT}
      modify: msg.shout = (msg.body ?? '').toUpperCase()
      alert:
        service: local
        to: "{{ to }}"
        subject: "[{{ handler.name }}] {{ shout }}"
        body: "{{ body }} / {{ shout }} / id={{ id }} / by={{ handler.current_user.id }} / {{ user }}"
        html: "<p>{{ shout }} &amp; {{ body }}</p>"
  every:
    pattern: /every
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/chat.db
      table: every
      columns: {body: TEXT}
      alert:
        service: local
        to: audit@example.org
        subject: "every {{ _method }} {{ id }} {{ body }}"
        methods: [post, Put, DELETE]
  md:
    pattern: /md
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/chat.db
      table: md
      columns: {body: TEXT, file: TEXT}
      alert:
        service: local
        to: md@example.org
        subject: "md {{ id }}"
        html: "<p>overridden by markdown</p>"
        markdown: |
          **{{ handler.name }}** got:

          > {{ body }}
        attachments: ["files/report.txt", "{{ file }}"]
  inject:
    pattern: /inject
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/chat.db
      table: inject
      columns: {body: TEXT}
      alert:
        service: local
        to: victim@example.org
        subject: "{{ body }}"
        body: "{{ body }}"
  fragile:
    pattern: /fragile
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/chat.db
      table: fragile
      columns: {body: TEXT}
      alert:
        service: local
        to: ops@example.org
        subject: "{% if boom %}{{ boom() }}{% endif %}fragile {{ body }}"
`,
      dir,
    );
    server = await mount('http', file, {
      log: watch.log,
      authenticate: (req) => {
        const id = req.headers['x-user'];
        return typeof id === 'string' ? { id } : null;
      },
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (!serverClosed) await server?.close();
    await smtp?.close();
  });

  it('a POST sends exactly one mail, rendered from the message after modify and from handler', async () => {
    const c = await connect('/chat', 'alice');
    const t0 = Date.now();
    const reply = await ack(c, { body: 'hello <b>world</b>', to: 'Bob <bob@example.org>', handler: { name: 'spoofed', current_user: { id: 'mallory' } } });
    expect(Date.now() - t0).toBeLessThan(2000);
    const id = String(reply.id);
    const got = await mailWhere(smtp, (r) => (r.mail.text ?? '').includes(`id=${id}`), `POST ${id}`);

    expect(got.mail.subject).toBe('[chat] HELLO <B>WORLD</B>');
    expect(got.mail.text).toBe(`hello <b>world</b> / HELLO <B>WORLD</B> / id=${id} / by=alice / alice`);
    // html is autoescaped: message data arrives as text, the template's own markup stays.
    expect(got.mail.html).toBe('<p>HELLO &lt;B&gt;WORLD&lt;/B&gt; &amp; hello &lt;b&gt;world&lt;/b&gt;</p>');
    expect(got.mail.from?.value).toEqual([{ address: FROM, name: '' }]);
    expect(got.mail.to && !Array.isArray(got.mail.to) ? got.mail.to.value : null).toEqual([{ address: 'bob@example.org', name: 'Bob' }]);
    expect(got.mailFrom).toBe(FROM);
    expect(got.rcptTo).toEqual(['bob@example.org']);

    // Exactly one outbox row for this message, sent, whose id is the Message-ID; and exactly one such mail.
    const rows = outbox(dbFile, `handler = 'chat' AND seq = ?`, reply._seq);
    expect(rows).toHaveLength(1);
    expect(got.mail.messageId).toBe(`<${rows[0]!.id}@example.org>`);
    expect(smtp.received.filter((r) => r.mail.messageId === got.mail.messageId)).toHaveLength(1);
    // The row stored is the message before modify.
    const db = new Database(dbFile, { readonly: true });
    expect(db.prepare('SELECT body, user FROM chat WHERE id = ?').get(id)).toEqual({ body: 'hello <b>world</b>', user: 'alice' });
    db.close();
  });

  it('PUT and DELETE send nothing by default; a falsy _alert suppresses a POST', async () => {
    const c = await connect('/chat', 'carol');
    const posted = await ack(c, { body: 'draft', to: 'carol@example.org' });
    const id = String(posted.id);
    const put = await ack(c, { _method: 'PUT', id, body: 'edited', to: 'carol@example.org' });
    const quiet = await ack(c, { body: 'hush', to: 'carol@example.org', _alert: false });
    const quiet0 = await ack(c, { body: 'hush0', to: 'carol@example.org', _alert: 0 });
    const del = await ack(c, { _method: 'DELETE', id });
    // The outbox row is written in the message's own transaction, so after the ack its absence is final.
    for (const r of [put, quiet, quiet0, del]) expect(outbox(dbFile, `handler = 'chat' AND seq = ?`, r._seq)).toEqual([]);
    expect(outbox(dbFile, `handler = 'chat' AND seq = ?`, posted._seq)).toHaveLength(1);
    // A later POST goes out (the worker is alive), and no mail ever mentions the suppressed messages.
    const sentinel = await ack(c, { body: 'sentinel', to: 'carol@example.org' });
    await mailWhere(smtp, (r) => (r.mail.text ?? '').includes(`id=${String(sentinel.id)}`), 'the sentinel');
    await mailWhere(smtp, (r) => (r.mail.text ?? '').includes(`id=${id}`), 'the first POST');
    const carol = smtp.received.filter((r) => r.rcptTo.includes('carol@example.org')).map((r) => r.mail.subject);
    expect(carol.sort()).toEqual(['[chat] DRAFT', '[chat] SENTINEL']);
  });

  it('methods: [post, Put, DELETE] sends one mail per method', async () => {
    const c = await connect('/every');
    const posted = await ack(c, { body: 'one' });
    const id = String(posted.id);
    await ack(c, { _method: 'PUT', id, body: 'two' });
    await ack(c, { _method: 'DELETE', id });
    // A DELETE's alert sees the row as it was (the frame holds only the id), so its body is there too.
    const subjects = [`every POST ${id} one`, `every PUT ${id} two`, `every DELETE ${id} two`];
    for (const s of subjects) await mailWhere(smtp, (r) => r.mail.subject === s, s);
    const mine = smtp.received.filter((r) => (r.mail.subject ?? '').includes(id));
    expect(mine.map((r) => r.mail.subject).sort()).toEqual([...subjects].sort());
    expect(new Set(messageIds(mine)).size).toBe(3);
    expect(mine.every((r) => r.rcptTo.join() === 'audit@example.org')).toBe(true);
  });

  it('a refused write queues no alert, even when group-committed with one that is accepted', async () => {
    const c = await connect('/every');
    // Sent in one turn, so the handler commits them in one transaction.
    c.send({ body: 'kept', _ref: 'ok' });
    c.send({ _method: 'PUT', id: 'no-such-row', body: 'lost', _ref: 'bad' });
    c.send({ _method: 'DELETE', id: 'no-such-row-either', _ref: 'bad2' });
    const frames = await c.until((f) => ['ok', 'bad', 'bad2'].every((r) => f.some((x) => x._ref === r)), 'three replies');
    const reply = (ref: string): Frame => frames.find((f) => f._ref === ref)!;
    expect(isAck(reply('ok'))).toBe(true);
    expect((reply('bad')._error as { code: string }).code).toBe('MH_ERR_MSG_NOT_FOUND');
    expect((reply('bad2')._error as { code: string }).code).toBe('MH_ERR_MSG_NOT_FOUND');
    const rows = outbox(dbFile, `handler = 'every'`);
    expect(rows.filter((r) => /lost|no-such-row/.test(r.payload))).toEqual([]);
    expect(rows.filter((r) => r.seq === reply('ok')._seq)).toHaveLength(1);
    await mailWhere(smtp, (r) => r.mail.subject === `every POST ${String(reply('ok').id)} kept`, 'the accepted POST');
  });

  it('markdown renders to HTML (escaped), attachments arrive from $YAMLPATH, paths outside it are dropped', async () => {
    const c = await connect('/md');
    const a = await ack(c, { body: 'see <script>x</script> **now**', file: 'files/data.csv' });
    const b = await ack(c, { body: 'no escape', file: '../../../../etc/passwd' });
    const ma = await mailWhere(smtp, (r) => r.mail.subject === `md ${String(a.id)}`, 'markdown mail a');
    const mb = await mailWhere(smtp, (r) => r.mail.subject === `md ${String(b.id)}`, 'markdown mail b');

    expect(ma.mail.html).toContain('<strong>md</strong> got:');
    expect(ma.mail.html).toMatch(/<blockquote>\s*<p>see &lt;script&gt;x&lt;\/script&gt; <strong>now<\/strong><\/p>\s*<\/blockquote>/);
    expect(ma.mail.html).not.toContain('<script>');
    expect(ma.mail.html).not.toContain('overridden by markdown');
    const att = (r: Received): [string | undefined, string][] => r.mail.attachments.map((x) => [x.filename, x.content.toString('utf8')]);
    expect(att(ma)).toEqual([
      ['report.txt', 'quarterly numbers\n'],
      ['data.csv', 'a,b\n1,2\n'],
    ]);
    expect(att(mb)).toEqual([['report.txt', 'quarterly numbers\n']]);
    expect(watch.lines.some((l) => l.startsWith('warn:') && l.includes('outside the YAML folder'))).toBe(true);
  });

  it('a header-injection attempt stays out of the headers and the envelope', async () => {
    const c = await connect('/inject');
    const evil = 'hi\r\nBcc: evil@example.com\r\nX-Injected: yes\n\nbody?';
    const r = await ack(c, { body: evil });
    const row = outbox(dbFile, `handler = 'inject' AND seq = ?`, r._seq)[0]!;
    const got = await mailWhere(smtp, (m) => m.mail.messageId === `<${row.id}@example.org>`, 'the injection mail');
    expect(got.mail.subject).toBe('hi Bcc: evil@example.com X-Injected: yes body?');
    expect(got.rcptTo).toEqual(['victim@example.org']);
    expect(got.mail.bcc).toBeUndefined();
    expect(got.mail.headers.has('bcc')).toBe(false);
    expect(got.mail.headers.has('x-injected')).toBe(false);
    expect(got.mail.headerLines.filter((h) => h.key === 'subject')).toHaveLength(1);
    expect(JSON.stringify(smtp.received.map((m) => m.rcptTo))).not.toContain('evil@example.com');
    // The body is not a header: there the text arrives as sent (line breaks normalised by MIME).
    expect(got.mail.text?.replace(/\r\n/g, '\n').trimEnd()).toBe('hi\nBcc: evil@example.com\nX-Injected: yes\n\nbody?');
  });

  it('a template that fails at render time never produces an _error: the message is stored and broadcast', async () => {
    const c = await connect('/fragile');
    const bad = await c.request({ body: 'kaboom', boom: 'not a function' });
    expect(bad._error).toBeUndefined();
    expect(isAck(bad)).toBe(true);
    await c.next((f) => f._method === 'POST' && f.body === 'kaboom', 'the broadcast of the failing message');
    // Over HTTP too: 201 and the frame.
    const res = await fetch(`${server.http}/fragile`, { method: 'POST', body: JSON.stringify({ body: 'kaboom-http', boom: 1 }) });
    expect(res.status).toBe(201);
    expect(((await res.json()) as Frame)._error).toBeUndefined();
    await watch.until((l) => l.filter((x) => x.startsWith('error:') && x.includes('template failed')).length >= 2, 'two template-failure log lines');
    const good = await ack(c, { body: 'fine' });
    await mailWhere(smtp, (r) => r.mail.subject === 'fragile fine', 'the mail of the good message');
    const db = new Database(dbFile, { readonly: true });
    expect((db.prepare('SELECT body FROM fragile ORDER BY _seq').all() as { body: string }[]).map((r) => r.body)).toEqual(['kaboom', 'kaboom-http', 'fine']);
    db.close();
    expect(outbox(dbFile, `handler = 'fragile'`).map((r) => r.seq)).toEqual([good._seq]);
    expect(c.frames.filter((f) => f._error !== undefined)).toEqual([]);
  });

  it('after shutdown: every outbox row is sent, and each went out exactly once (by Message-ID)', async () => {
    await Promise.all(clients.map((cl) => cl.close()));
    await server.close();
    serverClosed = true;
    const rows = outbox(dbFile);
    expect(rows.filter((r) => r.state !== 'sent')).toEqual([]);
    const ids = countBy(messageIds(smtp.received));
    expect([...ids.values()].every((n) => n === 1)).toBe(true);
    expect([...ids.keys()].sort()).toEqual(rows.map((r) => `<${r.id}@example.org>`).sort());
  });
});

// ---------------------------------------------------------------------------------------------------------------

function outageConfig(port: number, dir: string): string {
  return writeConfig(
    `
email:
  local: {type: smtp, host: 127.0.0.1, port: ${port}, from: ${FROM}}
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/chat.db
      table: chat
      columns: {body: TEXT}
      alert:
        to: ops@example.org
        subject: "alert {{ body }}"
        body: "{{ body }}"
`,
    dir,
  );
}

describe('the sender never waits for SMTP', () => {
  it('SMTP down: POSTs are acknowledged at once; when SMTP comes up on that port every alert arrives exactly once', async () => {
    const dir = tempDir();
    const port = await freePort();
    const watch = logWatch();
    const server = await mount('http', outageConfig(port, dir), { log: watch.log });
    let smtp: TestSmtp | null = null;
    const c = await TestClient.connect(`${server.ws}/chat`);
    try {
      const N = 3;
      for (let i = 0; i < N; i++) {
        const t0 = Date.now();
        const reply = await c.request({ body: `down${i}` });
        expect(isAck(reply), JSON.stringify(reply)).toBe(true);
        expect(Date.now() - t0).toBeLessThan(1000);
      }
      // Each alert really met the outage (connection refused) before the server came up.
      const failed = (l: string[]): number => new Set(l.filter((x) => /attempt 1 failed/.test(x)).map((x) => /alert (\S+)/.exec(x)?.[1])).size;
      await watch.until((l) => failed(l) >= N, `${N} failed first attempts`);
      const rows = outbox(path.join(dir, 'chat.db'));
      expect(rows.map((r) => r.state)).toEqual(Array(N).fill('pending'));
      expect(rows.every((r) => /ECONNREFUSED/.test(r.last_error ?? ''))).toBe(true);

      smtp = await startSmtp(port);
      await within(smtp.waitForCount(N), 15_000, `${N} mails after SMTP came up`);
      await c.close();
      await server.close(); // waits for the sends in flight to be recorded
      const after = outbox(path.join(dir, 'chat.db'));
      expect(after.map((r) => r.state)).toEqual(Array(N).fill('sent'));
      expect(messageIds(smtp.received).sort()).toEqual(after.map((r) => `<${r.id}@example.org>`).sort());
      expect(smtp.received.map((r) => r.mail.subject).sort()).toEqual(['alert down0', 'alert down1', 'alert down2']);
    } finally {
      await c.close();
      await server.close();
      await smtp?.close();
    }
  }, 30_000);

  it('SMTP hung (accepts TCP, never greets): a POST is acknowledged while another alert is stuck mid-send', async () => {
    const dir = tempDir();
    const sockets = new Set<net.Socket>();
    let connected!: () => void;
    const firstConnection = new Promise<void>((resolve) => (connected = resolve));
    const blackhole = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      connected();
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', () => resolve()));
    const port = (blackhole.address() as net.AddressInfo).port;
    const server = await mount('http', outageConfig(port, dir), { log: () => {} });
    let smtp: TestSmtp | null = null;
    const c = await TestClient.connect(`${server.ws}/chat`);
    try {
      expect(isAck(await c.request({ body: 'stuck' }))).toBe(true);
      await within(firstConnection, 5000, 'the worker to connect to the hung server');
      // The worker is now waiting for a greeting (10 s timeout). The next sender must not notice.
      const t0 = Date.now();
      expect(isAck(await c.request({ body: 'meanwhile' }))).toBe(true);
      expect(Date.now() - t0).toBeLessThan(1000);
      // Replace the hung server by a real one on the same port: both alerts arrive, once each.
      await new Promise<void>((resolve) => {
        blackhole.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      smtp = await startSmtp(port);
      await within(smtp.waitForCount(2), 15_000, 'both mails');
      await c.close();
      await server.close();
      expect(smtp.received.map((r) => r.mail.subject).sort()).toEqual(['alert meanwhile', 'alert stuck']);
      expect(new Set(messageIds(smtp.received)).size).toBe(2);
    } finally {
      await c.close();
      await server.close();
      await smtp?.close();
      blackhole.close();
    }
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------------------------

describe('crash safety (msghub serve, SIGKILL)', () => {
  /** startCli with warnings on stderr, so the test can see each failed attempt. */
  async function startVerbose(config: string): Promise<Mounted & { stderr: () => string; lines: (re: RegExp) => Promise<void> }> {
    const saved = process.env.MSGHUB_LOG;
    process.env.MSGHUB_LOG = 'warn';
    let m: Mounted;
    try {
      m = await startCli(config);
    } finally {
      if (saved === undefined) delete process.env.MSGHUB_LOG;
      else process.env.MSGHUB_LOG = saved;
    }
    let err = '';
    const waiters: { test: () => boolean; resolve: () => void }[] = [];
    m.child!.stderr!.on('data', (d) => {
      err += d;
      for (const w of [...waiters]) if (w.test()) waiters.splice(waiters.indexOf(w), 1), w.resolve();
    });
    return {
      ...m,
      stderr: () => err,
      lines: (re) => {
        const test = (): boolean => re.test(err);
        if (test()) return Promise.resolve();
        return within(new Promise<void>((resolve) => waiters.push({ test, resolve })), 10_000, `${re} on stderr; got ${err}`);
      },
    };
  }

  it('alerts queued while SMTP is down survive SIGKILL and are delivered once after restart; msghub alerts shows them sent', async () => {
    const dir = tempDir();
    const dbFile = path.join(dir, 'chat.db');
    const port = await freePort();
    const config = outageConfig(port, dir);
    let smtp: TestSmtp | null = null;
    const N = 3;

    // 1. Serve with SMTP down; queue N alerts; wait until each has failed once (so each row is `pending`).
    const first = await startVerbose(config);
    try {
      const c = await TestClient.connect(`${first.ws}/chat`);
      for (let i = 0; i < N; i++) expect(isAck(await c.request({ body: `queued${i}` }))).toBe(true);
      const failures = (): number => new Set([...first.stderr().matchAll(/alert (\S+) \(chat\) attempt 1 failed/g)].map((m) => m[1])).size;
      await first.lines(new RegExp(`(?:attempt 1 failed[\\s\\S]*){${N}}`));
      expect(failures()).toBe(N);
      const exited = new Promise<NodeJS.Signals | null>((resolve) => first.child!.once('exit', (_code, signal) => resolve(signal)));
      first.child!.kill('SIGKILL');
      expect(await within(exited, 5000, 'the SIGKILLed server to exit')).toBe('SIGKILL');
      await c.waitClose();
    } finally {
      if (first.child!.exitCode === null && first.child!.signalCode === null) first.child!.kill('SIGKILL');
    }
    const queued = outbox(dbFile);
    expect(queued.map((r) => [r.state, r.attempts])).toEqual(Array(N).fill(['pending', 1]));

    try {
      // 2. SMTP comes up on the configured port; restart on the same config: the queue drains, once each.
      smtp = await startSmtp(port);
      const second = await startCli(config);
      try {
        await within(smtp.waitForCount(N), 15_000, `${N} mails after restart`);
      } finally {
        await second.close(); // SIGTERM: waits for in-flight sends to be recorded, must exit 0
      }
      // 3. A third run neither re-sends anything nor loses new alerts.
      const third = await startCli(config);
      try {
        const c = await TestClient.connect(`${third.ws}/chat`);
        expect(isAck(await c.request({ body: 'after' }))).toBe(true);
        await mailWhere(smtp, (r) => r.mail.subject === 'alert after', 'the post-restart alert');
        await c.close();
      } finally {
        await third.close();
      }

      const rows = outbox(dbFile);
      expect(rows.map((r) => r.state)).toEqual(Array(N + 1).fill('sent'));
      const ids = countBy(messageIds(smtp.received));
      expect([...ids.values()]).toEqual(Array(N + 1).fill(1));
      expect([...ids.keys()].sort()).toEqual(rows.map((r) => `<${r.id}@example.org>`).sort());
      expect(smtp.received.map((r) => r.mail.subject).sort()).toEqual(['alert after', ...Array.from({ length: N }, (_, i) => `alert queued${i}`)]);

      // 4. The operator's view.
      const { stdout } = await run(process.execPath, [CLI, 'alerts', config], { cwd: dir, timeout: 10_000 });
      expect(stdout).toContain(`pending: 0  sending: 0  sent: ${N + 1}  dead: 0`);
      expect(stdout).toMatch(/\nSENT\n/);
      for (const r of queued) expect(stdout).toMatch(new RegExp(`  ${r.id}  chat#${r.seq}  local  attempts=2  sent \\S+  to=ops@example.org  subject="alert queued\\d"\\n`));
      expect(stdout).toContain(`${N + 1} alert(s)`);
    } finally {
      await smtp?.close();
    }
  }, 30_000);
});
