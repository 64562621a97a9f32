/**
 * The CLI as an operator meets it (real `node dist/cli.js` child processes): --version, usage errors in one line,
 * a busy port, `alerts` without the config's other secrets, JSON logs, and a metrics listener scraped after real
 * traffic, with `msghub status` reading it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { pinoLogger } from '../../src/log.js';
import { MessageService } from '../../src/service.js';
import { CLI } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { TestClient } from '../support/ws-client.js';
import { parseMetrics } from '../ops/support.js';

const ROOT = path.resolve(path.dirname(CLI), '..');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function run(args: string[], env: Record<string, string | undefined> = {}, cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`msghub ${args.join(' ')} did not finish: ${stderr}`));
    }, 20_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const CHAT = `
listen: {port: 1, host: 127.0.0.1}
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/chat.db
      table: chat
      columns: {body: TEXT}
      limits: {messages_per_second: 0}
`;

/** A running `msghub serve` with its stdout lines and stderr text. */
interface Served {
  child: ChildProcess;
  http: string;
  metrics: string | null;
  stderr(): string;
  stop(): Promise<number | null>;
}

const running: Served[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function serve(config: string, args: string[] = [], env: Record<string, string | undefined> = {}): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', config, '--port', '0', ...args], { cwd: path.dirname(config), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  // 'close', not 'exit': the child's last stderr lines may still be in the pipe when it exits.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 15_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (/msghub listening on /.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${err}`));
    });
  });
  const s: Served = {
    child,
    http: /msghub listening on (http:\/\/\S+)/.exec(out)![1]!,
    metrics: /msghub metrics on (http:\/\/\S+)/.exec(out)?.[1] ?? null,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  running.push(s);
  return s;
}

const noStack = (text: string): void => {
  expect(text).not.toMatch(/\n\s+at /);
  expect(text).not.toMatch(/ERR_PARSE_ARGS|EADDRINUSE/);
};

describe('msghub usage', () => {
  it('--version and -v print the version and exit 0', async () => {
    for (const flag of ['--version', '-v']) {
      expect(await run([flag])).toEqual({ code: 0, stdout: `msghub ${VERSION}\n`, stderr: '' });
    }
  });

  it('an unknown option: one clear line, then the usage, exit 2', async () => {
    for (const args of [['--bogus'], ['serve', 'x.yaml', '--nope=1'], ['check', '-z']]) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(/^msghub: unknown option -/);
      expect(r.stderr).toContain('usage:\n  msghub serve');
      noStack(r.stderr);
    }
  });

  it('an option the command does not take is refused (check --port 5), exit 2', async () => {
    const config = writeConfig(CHAT);
    const r = await run(['check', config, '--port', '5']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('msghub: msghub check does not take --port');
    const alerts = await run(['alerts', config, '--host', 'x']);
    expect(alerts.code).toBe(2);
    expect(alerts.stderr.split('\n')[0]).toBe('msghub: msghub alerts does not take --host');
    // And a value it cannot use.
    const bad = await run(['serve', config, '--port', 'eighty']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe('msghub: --port must be an integer 0..65535, got eighty');
  });

  it('a busy port: one clear line naming it, exit 1, no stack', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await run(['serve', writeConfig(CHAT), '--port', String(port)]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n').at(-1)).toBe(`msghub: cannot listen for clients on 127.0.0.1:${port}: the port is already in use (is another msghub running?)`);
      noStack(r.stderr);
    } finally {
      blocker.close();
    }
  });
});

describe('msghub alerts', () => {
  it('reads the outbox without the secrets the rest of the config needs (SMTP password, JWT secret)', async () => {
    const dir = tempDir();
    const config = writeConfig(
      `
email:
  local: {type: smtp, host: 127.0.0.1, port: 9, from: ops@example.org, email: ops@example.org, password: $OPS_SMTP_PASSWORD}
auth:
  jwt: {secret: $OPS_JWT_SECRET, algorithms: [HS256]}
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/chat.db
      table: chat
      columns: {body: TEXT}
      alert: {to: ops@example.org, subject: "alert {{ body }}", body: "{{ body }}"}
`,
      dir,
    );
    // Queue one alert with every secret set (SMTP is a closed port: the alert stays in the outbox).
    const env = { OPS_SMTP_PASSWORD: 'pw', OPS_JWT_SECRET: 'x'.repeat(32) };
    const service = await MessageService.start(config, { env, log: () => {}, outbox: { baseDelayMs: 60_000 } });
    try {
      const handler = service.handlers.get('chat')!;
      await handler.submit({ body: 'hi' }, Object.freeze({ name: 'chat', current_user: null, session: { id: null }, args: Object.create(null), request: { ip: '127.0.0.1', headers: {} } }) as never);
    } finally {
      await service.close();
    }
    const without = { OPS_SMTP_PASSWORD: undefined, OPS_JWT_SECRET: undefined };
    const r = await run(['alerts', config], without, dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1 alert(s)');
    // `check` and `serve` still insist on them.
    const check = await run(['check', config], without, dir);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('$OPS_SMTP_PASSWORD is not set');
  });

  it('still needs the database URL of an entry that alerts, and says so', async () => {
    const dir = tempDir();
    const config = writeConfig(
      `
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: $OPS_DB_URL
      table: chat
      columns: {body: TEXT}
      alert: {to: ops@example.org, subject: "s", body: "b"}
`,
      dir,
    );
    const r = await run(['alerts', config], { OPS_DB_URL: undefined }, dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/url\.chat\.kwargs\.url: environment variable \$OPS_DB_URL is not set.*\(needed to read this entry's outbox\)/);
  });
});

describe('msghub serve: logs and metrics', () => {
  it('--log-format json: one JSON object per line on stderr; --log-level error keeps info lines out', async () => {
    // The level is the default here whatever the test runner's environment says (CI sets MSGHUB_LOG_LEVEL=warn).
    const s = await serve(writeConfig(CHAT), ['--log-format', 'json'], { MSGHUB_LOG_LEVEL: undefined, MSGHUB_LOG: undefined });
    expect(await s.stop(), s.stderr()).toBe(0);
    const lines = s.stderr().trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const p of parsed) expect(p).toMatchObject({ level: expect.any(String), time: expect.stringMatching(/Z$/), msg: expect.any(String), name: 'msghub' });
    expect(parsed.map((p) => p.msg)).toEqual(expect.arrayContaining([expect.stringMatching(/^listening on http/), 'SIGTERM: shutting down']));

    const quiet = await serve(writeConfig(CHAT), ['--log-format', 'json'], { MSGHUB_LOG_LEVEL: 'error' });
    expect(await quiet.stop()).toBe(0);
    expect(quiet.stderr()).toBe('');
    const flag = await serve(writeConfig(CHAT), ['--log-format', 'json', '--log-level', 'error'], { MSGHUB_LOG_LEVEL: 'info' });
    expect(await flag.stop()).toBe(0);
    expect(flag.stderr()).toBe('');
  });

  it('pino adapter: an error is an `err` object with its stack, in the same line; connection fields are merged', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    });
    const log = pinoLogger(pino({ level: 'info' }, sink));
    log('error', 'a frame failed', new Error('boom'), { conn: '127.0.0.1:5000' });
    log('warn', 'plain');
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!) as { level: number; msg: string; conn: string; err: { type: string; message: string; stack: string } };
    expect(first).toMatchObject({ level: 50, msg: 'a frame failed', conn: '127.0.0.1:5000', err: { type: 'Error', message: 'boom' } });
    expect(first.err.stack).toMatch(/^Error: boom\n\s+at /);
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 40, msg: 'plain' });
  });

  it('--metrics-port: a second listener on 127.0.0.1 with /metrics after real traffic, /status for `msghub status`; not on the public port', async () => {
    const config = writeConfig(CHAT);
    const s = await serve(config, ['--metrics-port', '0', '--log-format', 'json']);
    expect(s.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const c = await TestClient.connect(`${s.http.replace('http', 'ws')}/chat`);
    try {
      for (let i = 0; i < 5; i++) expect((await c.request({ body: `m${i}` }))._ack).toBeDefined();
      c.send('{bad');
      await c.next((f) => f._error !== undefined, 'the refusal');
      const res = await fetch(s.metrics!);
      expect(res.status).toBe(200);
      const m = parseMetrics(await res.text());
      expect(m.get('msghub_connections{handler="chat",transport="websocket"}')).toBe(1);
      expect(m.get('msghub_committed_messages_total{handler="chat"}')).toBe(5);
      expect(m.get('msghub_deliveries_total{handler="chat"}')).toBe(5);
      expect(m.get('msghub_refused_total{code="MH_ERR_MSG_NOT_JSON",handler="chat"}')).toBe(1);
      // The CLI's registry carries Node's process metrics too.
      expect(m.get('msghub_process_cpu_user_seconds_total')).toBeGreaterThan(0);
      expect(m.get('msghub_process_open_fds')).toBeGreaterThan(0);
      // … but not the per-handle listings, whose cost grows with the connections (msghub_connections says it).
      expect([...m.keys()].filter((k) => /active_(handles|resources)/.test(k))).toEqual([]);
      // The public port has health, not metrics.
      expect((await fetch(`${s.http}/metrics`)).status).toBe(404);
      expect((await fetch(`${s.http}/healthz`)).status).toBe(200);

      const st = await run(['status', config, '--url', s.metrics!.replace(/\/metrics$/, '/status')]);
      expect(st.code).toBe(0);
      const status = JSON.parse(st.stdout) as { ready: boolean; handlers: { name: string; last_seq: number; connections: { websocket: number } }[]; bus: { kind: string } };
      expect(status.ready).toBe(true);
      expect(status.handlers).toMatchObject([{ name: 'chat', last_seq: 5, connections: { websocket: 1 } }]);
      expect(status.bus.kind).toBe('local');
    } finally {
      await c.close();
    }
  });

  it('metrics: in gramex.yaml with a port; `msghub status CONFIG` finds the listener and sends the token', async () => {
    const dir = tempDir();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    const config = writeConfig(`${CHAT}metrics: {port: ${port}, token: $OPS_METRICS_TOKEN}\n`, dir);
    const env = { OPS_METRICS_TOKEN: 'tok-0123456789abcdef' };
    const s = await serve(config, [], env);
    expect(s.metrics).toBe(`http://127.0.0.1:${port}/metrics`);
    expect((await fetch(s.metrics!)).status).toBe(401);
    const st = await run(['status', config], env, dir);
    expect(st.stderr).toBe('');
    expect(st.code).toBe(0);
    expect((JSON.parse(st.stdout) as { handlers: { name: string }[] }).handlers[0]!.name).toBe('chat');
    const wrong = await run(['status', config], { OPS_METRICS_TOKEN: 'tok-wrong-0123456789' }, dir);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^msghub: http:\/\/127\.0\.0\.1:\d+\/status answered 401: /);
  });
});
