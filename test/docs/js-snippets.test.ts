/**
 * The JavaScript examples in README.md and docs/ run as written (issue 20), and so do the shell sessions that are
 * practical to run (msghub's own commands and curl against it).
 *
 * - Every ```js / ```javascript / ```mjs / ```ts block is either claimed below by a test that runs it, or marked a
 *   fragment (`// fragment` as its first line: a few lines of a bigger program). The last test fails for any
 *   block that is neither, and prints the counts.
 * - A whole Node program is written into a temp app folder whose node_modules links `msghub` to this checkout
 *   (built into dist/: `npm run build`), `express`, `fastify` and `ws`, next to the config its doc shows, and run
 *   with `node`. `ts` blocks are stripped of their types by esbuild first. A program that serves forever is started,
 *   probed and stopped.
 * - Fixed ports stay as written: every process started here preloads `listen-hook.mjs`, which turns any listen on
 *   a port into an ephemeral one on 127.0.0.1 and reports the pair on stderr; the test rewrites the doc's
 *   `localhost:<port>` / `127.0.0.1:<port>` in later commands to the port the program got. That is the only change
 *   made to any snippet.
 * - A browser snippet runs in Chromium (playwright-core, test/browser/chromium.ts) on a page msghub serves with the
 *   doc's config; its console output is what it does.
 * - A shell session runs its commands with bash in the app folder (`npx msghub` / `msghub` resolve to this
 *   checkout); `msghub serve` runs in the background until the session ends; a `# …` line right after a command is
 *   its expected output.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { transform } from 'esbuild';
import type { Browser } from 'playwright-core';
import WebSocket from 'ws';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageService, mountHttp } from '../../src/index.js';
import { chromiumPresent, launchChromium } from '../browser/chromium.js';
import { ROOT } from '../support/mounts.js';
import { tempDir } from '../support/tmp.js';

// ── the blocks ──────────────────────────────────────────────────────────────────────────────────────────────────

interface Block {
  file: string;
  lang: string;
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
}

const FILES = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const JS_LANGS = new Set(['js', 'javascript', 'mjs', 'ts']);
const SH_LANGS = new Set(['sh', 'bash']);

const BLOCKS: Block[] = FILES.flatMap((file) => {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(/^```(\w+)\n([\s\S]*?)^```/gm)].map((m) => ({
    file,
    lang: m[1]!,
    line: text.slice(0, m.index).split('\n').length,
    code: m[2]!,
  }));
});
const isJsFragment = (b: Block): boolean => /^\/\/\s*fragment\b/.test(b.code.trimStart());
const where = (b: Block): string => `${b.file}:${b.line} (\`\`\`${b.lang} ${b.code.split('\n')[0]!.slice(0, 60)})`;

/** The blocks a test below runs, with how. Filled while the suite is collected, before any test runs. */
const claimed = new Map<Block, string>();

/** The one block of `file` in one of `langs` containing `has`; recorded as run by `how`. */
function claim(file: string, langs: readonly string[], has: string, how: string): Block {
  const found = BLOCKS.filter((b) => b.file === file && langs.includes(b.lang) && b.code.includes(has));
  if (found.length !== 1) throw new Error(`${file}: ${found.length} \`\`\`${langs.join('/')} blocks contain ${JSON.stringify(has)} (want 1)`);
  claimed.set(found[0]!, how);
  return found[0]!;
}
const claimJs = (file: string, has: string, how: string): Block => claim(file, [...JS_LANGS], has, how);
const claimSh = (file: string, has: string, how: string): Block => claim(file, [...SH_LANGS], has, how);
/** A YAML block of a doc, by content (not claimed: test/docs/snippets.test.ts compiles every one). */
function yamlBlock(file: string, has: string): string {
  const found = BLOCKS.filter((b) => b.file === file && b.lang === 'yaml' && b.code.includes(has));
  if (found.length !== 1) throw new Error(`${file}: ${found.length} yaml blocks contain ${JSON.stringify(has)}`);
  return found[0]!.code;
}

// ── processes ───────────────────────────────────────────────────────────────────────────────────────────────────

const HOOK = path.join(ROOT, 'test/docs/listen-hook.mjs');
const DIST = path.join(ROOT, 'dist/index.js');

/** A temp app folder as `npm install msghub` leaves it (links instead of copies), with `files` written into it. */
function appDir(files: Record<string, string> = {}): string {
  const dir = tempDir('msghub-snippet-');
  mkdirSync(path.join(dir, 'node_modules/.bin'), { recursive: true });
  symlinkSync(ROOT, path.join(dir, 'node_modules/msghub'), 'dir');
  for (const dep of ['express', 'fastify', 'ws']) symlinkSync(path.join(ROOT, 'node_modules', dep), path.join(dir, 'node_modules', dep), 'dir');
  // npm links a package's bin and makes it executable; dist/cli.js is not executable in a checkout.
  const bin = path.join(dir, 'node_modules/.bin/msghub');
  writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'dist/cli.js')}" "$@"\n`);
  chmodSync(bin, 0o755);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

function envFor(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(HOOK).href}`.trim(),
    PATH: `${path.join(dir, 'node_modules/.bin')}:${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    MSGHUB_LOG_LEVEL: 'warn',
    NO_COLOR: '1',
  };
}

/** A process started for a snippet (in its own process group: `npx` starts a shell that starts node). */
class Proc {
  readonly child: ChildProcess;
  out = '';
  err = '';
  /** Ports the program asked for → ports it got (from listen-hook.mjs). */
  readonly ports = new Map<number, number>();
  readonly exited: Promise<number | null>;
  private readonly wake = new Set<() => void>();

  constructor(command: string, args: string[], dir: string) {
    this.child = spawn(command, args, { cwd: dir, env: envFor(dir), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child.stdout!.on('data', (d) => {
      this.out += d;
      this.notify();
    });
    this.child.stderr!.on('data', (d) => {
      this.err += d;
      for (const m of String(d).matchAll(/msghub-snippet: port (\d+) -> (\d+)/g)) if (!this.ports.has(Number(m[1]))) this.ports.set(Number(m[1]), Number(m[2]));
      this.notify();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => {
      this.notify();
      resolve(code);
    }));
  }

  private notify(): void {
    for (const w of this.wake) w();
  }

  /** Resolves when `test()` returns something, checked on every output and on exit; rejects after `ms`. */
  until<T>(test: () => T | undefined | null | false, what: string, ms = 20_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = test();
        if (v) return finish(() => resolve(v));
        if (this.child.exitCode !== null || this.child.signalCode !== null) finish(() => reject(new Error(`${what}: the process exited (${this.child.exitCode ?? this.child.signalCode}); stdout: ${this.out}; stderr: ${this.err}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`${what}: timed out; stdout: ${this.out}; stderr: ${this.err}`))), ms);
      const finish = (f: () => void): void => {
        clearTimeout(timer);
        this.wake.delete(check);
        f();
      };
      this.wake.add(check);
      check();
    });
  }

  /** The first port the program listened on (what it asked for → what it got). */
  listening(): Promise<number> {
    return this.until(() => this.ports.size > 0 && [...this.ports.values()][0]!, 'listening');
  }

  /** Sends `signal` to the process group and waits for the exit (SIGKILL after 10 s). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      try {
        process.kill(-this.child.pid!, signal);
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-this.child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** `node <file>` in `dir` to its end; `ts` files are stripped of types by esbuild first. */
async function runProgram(dir: string, file: string, code: string, lang: string, ms = 20_000): Promise<{ code: number | null; out: string; err: string }> {
  const js = lang === 'ts' ? (await transform(code, { loader: 'ts', format: 'esm' })).code : code;
  writeFileSync(path.join(dir, file), js);
  const p = new Proc(process.execPath, [file], dir);
  const timer = setTimeout(() => void p.stop('SIGKILL'), ms);
  const exit = await p.exited;
  clearTimeout(timer);
  return { code: exit, out: p.out, err: p.err };
}

/** Rewrites `localhost:<asked>` / `127.0.0.1:<asked>` to the port a program got. */
function mapPorts(text: string, ports: Map<number, number>): string {
  return text.replace(/\b(localhost|127\.0\.0\.1):(\d+)\b/g, (all, host: string, port: string) => (ports.has(Number(port)) ? `${host}:${ports.get(Number(port))}` : all));
}

// ── shell sessions ──────────────────────────────────────────────────────────────────────────────────────────────

interface Command {
  text: string;
  /** The `# …` lines right after it: its expected output. */
  expected: string[];
}

/**
 * Splits a shell block into commands: a newline ends one unless it is escaped or inside single quotes (outside
 * comments; double quotes do not span lines in these docs).
 */
function commands(block: string): Command[] {
  const out: Command[] = [];
  let current = '';
  let quoted = false;
  for (const line of block.split('\n')) {
    if (!quoted && current === '' && /^\s*#/.test(line)) {
      out.at(-1)?.expected.push(line.replace(/^\s*#\s?/, ''));
      continue;
    }
    if (!quoted && current === '' && line.trim() === '') continue;
    current += (current ? '\n' : '') + line;
    for (let i = 0; i < line.length; i++) {
      if (line[i] === "'") quoted = !quoted;
      else if (!quoted && line[i] === '#' && (i === 0 || /\s/.test(line[i - 1]!))) break; // a comment: its quotes are prose
    }
    if (!quoted && !line.endsWith('\\')) {
      out.push({ text: current, expected: [] });
      current = '';
    }
  }
  return out;
}

interface Ran {
  command: Command;
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs `cmds` in `dir` with bash, in order: `msghub serve` in the background (waited for until it prints its
 * "listening" line; stopped by `session.close()`), every other command to its end (15 s at most), with the ports of
 * the servers started so far rewritten.
 */
class ShellSession {
  readonly servers: Proc[] = [];
  readonly ports = new Map<number, number>();
  constructor(readonly dir: string) {}

  async run(cmds: Command[]): Promise<Ran[]> {
    const ran: Ran[] = [];
    for (const command of cmds) {
      const text = mapPorts(command.text, this.ports);
      if (/\bmsghub serve\b/.test(text)) {
        const p = new Proc('bash', ['-c', text], this.dir);
        this.servers.push(p);
        await p.until(() => /listening on http:\/\/\S+/.test(p.out), `${text}: listening`);
        for (const [a, b] of p.ports) this.ports.set(a, b);
        ran.push({ command, code: null, out: p.out, err: p.err });
        continue;
      }
      const result = await new Promise<Ran>((resolve) =>
        execFile('bash', ['-c', text], { cwd: this.dir, env: envFor(this.dir), timeout: 15_000 }, (err, out, errText) =>
          resolve({ command, code: err ? ((err as { code?: number }).code ?? -1) : 0, out, err: errText }),
        ),
      );
      ran.push(result);
    }
    return ran;
  }

  /** Stops the servers (SIGTERM) and resolves with their exit codes. */
  async close(): Promise<(number | null)[]> {
    return Promise.all(this.servers.splice(0).map((p) => p.stop()));
  }
}

/** Every command exited 0, and printed what its `# …` lines say (JSON compared as JSON). */
function expectAsDocumented(ran: Ran[]): void {
  for (const r of ran) {
    if (r.code !== null) expect(r.code, `${r.command.text}\n${r.err}`).toBe(0);
    const expected = r.command.expected.join('\n').trim();
    if (!expected.startsWith('{') && !expected.startsWith('[')) continue;
    expect(JSON.parse(r.out), r.command.text).toEqual(JSON.parse(expected));
  }
}

// ── shared state ────────────────────────────────────────────────────────────────────────────────────────────────

/** The project's getting-started config (README "Use it in your project"): what a doc means by "gramex.yaml". */
const CHAT_YAML = yamlBlock('README.md', 'columns: {body: TEXT, topic: TEXT}');
const TOUR_YAML = yamlBlock('README.md', 'prepare: msg.length');

const hasChromium = chromiumPresent();
let browser: Browser | undefined;
const started: { stop(): Promise<unknown> }[] = [];

beforeAll(async () => {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run npm run build (snippets import msghub from dist/)`);
  if (hasChromium) browser = await launchChromium();
}, 30_000);

afterAll(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()));
  await browser?.close();
});

/** `msghub serve <config>` of a doc, in the background for the rest of the file. */
async function serve(files: Record<string, string>, config = 'gramex.yaml'): Promise<{ dir: string; port: number; url: string }> {
  const dir = appDir(files);
  const p = new Proc(path.join(dir, 'node_modules/.bin/msghub'), ['serve', config], dir);
  started.push(p);
  await p.until(() => /listening on http:\/\/\S+/.test(p.out), `msghub serve ${config}`);
  const port = await p.listening();
  return { dir, port, url: `http://127.0.0.1:${port}` };
}

async function postJson(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

/** Opens a WebSocket and resolves with the first frame it receives. */
function firstFrame(url: string): Promise<{ ws: WebSocket; frame: any }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => reject(new Error(`${url}: no frame in 10 s`)), 10_000);
    ws.once('message', (d) => {
      clearTimeout(timer);
      resolve({ ws, frame: JSON.parse(String(d)) });
    });
    ws.once('error', reject);
  });
}

/**
 * Runs a browser snippet on `pageUrl` in Chromium; resolves with everything it logged once `done(logged)`.
 * `during(until)` runs after the snippet started; `until(test)` waits for the logged values to pass `test`.
 */
async function inChromium(
  pageUrl: string,
  snippet: string,
  done: (logged: any[]) => boolean,
  during?: (until: (test: (logged: any[]) => boolean, what: string) => Promise<void>) => Promise<void>,
): Promise<any[]> {
  const context = await browser!.newContext();
  try {
    const page = await context.newPage();
    const logged: any[] = [];
    const errors: string[] = [];
    let wake = (): void => undefined;
    const waiters = new Set<() => void>();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() !== 'log') return; // the browser's own lines (a missing favicon) are not the snippet's
      void (async () => {
        const values = await Promise.all(m.args().map((a) => a.jsonValue()));
        logged.push(values.length === 1 ? values[0] : values);
        for (const w of [...waiters]) w();
        wake();
      })();
    });
    const until = (test: (l: any[]) => boolean, what: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`browser snippet: ${what} timed out; logged ${JSON.stringify(logged)}; errors ${errors}`));
        }, 10_000);
        const check = (): void => {
          if (!test(logged)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    await page.goto(pageUrl);
    // As pasted into the console: a classic script in the page's global scope.
    await page.evaluate(snippet);
    await during?.(until);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`browser snippet: timed out; logged ${JSON.stringify(logged)}; errors ${errors}`)), 10_000);
      wake = () => {
        if (done(logged)) {
          clearTimeout(timer);
          resolve();
        }
      };
      wake();
    });
    expect(errors).toEqual([]);
    return logged;
  } finally {
    await context.close();
  }
}

// ── README.md ───────────────────────────────────────────────────────────────────────────────────────────────────

describe('README.md', () => {
  const tour = claimJs('README.md', "new WebSocket('ws://127.0.0.1:9988/chat", 'Chromium, on a page of the tour config');
  const embed = claimJs('README.md', 'mountHttp(server, service);', 'node, with the tour config; probed, stopped');
  const session = claimSh('README.md', 'npx msghub check', 'bash: check, serve, the two curls');

  it('"Use it in your project": npx msghub check, serve, and the two curls', async () => {
    const s = new ShellSession(appDir({ 'gramex.yaml': CHAT_YAML }));
    try {
      const ran = await s.run(commands(session.code));
      expectAsDocumented(ran);
      expect(ran.map((r) => r.command.text.split(' ').slice(0, 3).join(' '))).toEqual(['npx msghub check', 'npx msghub serve', 'curl -X POST', "curl 'localhost:9988/chat?topic=Help'"]);
      expect(ran[0]!.out.trim()).toBe('gramex.yaml: OK');
      expect(ran[1]!.out).toMatch(/^msghub listening on http:\/\/127\.0\.0\.1:\d+\n$/);
      expect(JSON.parse(ran[2]!.out)).toMatchObject({ body: 'hello', topic: 'Help', _method: 'POST', _seq: 1 });
      expect(JSON.parse(ran[3]!.out)).toMatchObject([{ body: 'hello', topic: 'Help', _seq: 1 }]);
    } finally {
      await s.close(); // npx, which runs msghub, dies of the signal: its exit code says nothing of msghub's
    }
  });

  it.skipIf(!hasChromium)("the tour's browser snippet, in Chromium on http://…/chat: its POST, PUT and DELETE", async () => {
    const { port, url } = await serve({ 'gramex.yaml': TOUR_YAML });
    const logged = await inChromium(`${url}/chat`, tour.code.replaceAll('127.0.0.1:9988', `127.0.0.1:${port}`), (l) => l.some((m) => m?._method === 'DELETE'));
    expect(logged.map((m) => m._method)).toEqual(['POST', 'PUT', 'DELETE']);
    expect(logged[0]).toMatchObject({ body: 'How do I…?', topic: 'Help', length: 10, user: null, recipient: null, _seq: 1 });
    expect(logged[1]).toMatchObject({ _method: 'PUT', id: logged[0].id, body: 'Solved', length: 6, _seq: 2 });
    expect(logged[2]).toEqual({ _method: 'DELETE', id: logged[0].id, _seq: 3 });
  });

  it('step 8, embed: its http.Server answers its own routes, our HTTP paths and WebSocket upgrades', async () => {
    const dir = appDir({ 'gramex.yaml': TOUR_YAML });
    writeFileSync(path.join(dir, 'server.mjs'), embed.code);
    const p = new Proc(process.execPath, ['server.mjs'], dir);
    started.push(p);
    const port = await p.listening();
    expect(p.ports.get(3000)).toBe(port);
    const base = `http://127.0.0.1:${port}`;
    expect(await (await fetch(`${base}/`)).text()).toBe('my app\n');
    expect(await postJson(`${base}/chat`, { body: 'deploy done' })).toMatchObject({ status: 201, json: { body: 'deploy done', length: 11, _seq: 1 } });
    const { ws, frame } = await firstFrame(`ws://127.0.0.1:${port}/chat`);
    ws.close();
    expect(frame).toMatchObject({ body: 'deploy done', _seq: 1 });
    await p.stop('SIGKILL');
  });
});

// ── docs/deployment.md ──────────────────────────────────────────────────────────────────────────────────────────

describe('docs/deployment.md', () => {
  const standalone = claimSh('docs/deployment.md', 'npx msghub check gramex.yaml', 'bash: check and serve (npm install skipped)');
  const embedded = claimJs('docs/deployment.md', 'mountHttp(server, service)', 'node; probed, then SIGTERM');
  const viaExpress = claimJs('docs/deployment.md', "from 'msghub/express'", 'node; probed');
  const viaFastify = claimJs('docs/deployment.md', "from 'msghub/fastify'", 'node; probed');

  it('Standalone: check, then serve --port 9988 --host 127.0.0.1', async () => {
    const s = new ShellSession(appDir({ 'gramex.yaml': CHAT_YAML }));
    try {
      // (npx, which runs msghub, dies of the stopping signal: its exit code says nothing of msghub's.)
      const ran = await s.run(commands(standalone.code).filter((c) => !c.text.startsWith('npm install')));
      expectAsDocumented(ran);
      expect(ran[0]!.out.trim()).toBe('gramex.yaml: OK');
      expect(s.ports.has(9988)).toBe(true);
      expect((await fetch(`http://127.0.0.1:${s.ports.get(9988)}/chat`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('Embedded (http.Server): serves, and on SIGTERM closes sockets with 1001 and exits 0', async () => {
    const dir = appDir({ 'gramex.yaml': CHAT_YAML });
    writeFileSync(path.join(dir, 'server.mjs'), embedded.code);
    const p = new Proc(process.execPath, ['server.mjs'], dir);
    started.push(p);
    const port = await p.listening();
    const base = `http://127.0.0.1:${port}`;
    expect(await (await fetch(`${base}/`)).text()).toBe('my app\n');
    expect((await postJson(`${base}/chat`, { body: 'hi' })).status).toBe(201);
    const { ws, frame } = await firstFrame(`ws://127.0.0.1:${port}/chat`);
    expect(frame).toMatchObject({ body: 'hi', _seq: 1 });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    expect(await p.stop('SIGTERM')).toBe(0);
    expect(await closed).toBe(1001);
  });

  it.each([
    ['Express', () => viaExpress],
    ['Fastify', () => viaFastify],
  ])('%s: our paths answered beside the app’s own route', async (_name, block) => {
    const dir = appDir({ 'gramex.yaml': CHAT_YAML });
    writeFileSync(path.join(dir, 'server.mjs'), block().code);
    const p = new Proc(process.execPath, ['server.mjs'], dir);
    started.push(p);
    const port = await p.until(() => p.ports.get(3000), 'listening on 3000');
    const base = `http://127.0.0.1:${port}`;
    expect(await (await fetch(`${base}/`)).text()).toBe('my app');
    expect(await postJson(`${base}/chat`, { body: 'hi', topic: 'Help' })).toMatchObject({ status: 201, json: { body: 'hi', _seq: 1 } });
    const { ws, frame } = await firstFrame(`ws://127.0.0.1:${port}/chat?topic=Help`);
    ws.close();
    expect(frame).toMatchObject({ body: 'hi', _seq: 1 });
    await p.stop('SIGKILL');
  });
});

// ── docs/client.md ──────────────────────────────────────────────────────────────────────────────────────────────

describe('docs/client.md', () => {
  const example = claimJs('docs/client.md', "from 'msghub/client'", 'node, against `msghub serve chat.yaml`');

  it('the Node example: sends, edits and deletes, hears each, and exits', async () => {
    const { dir, port } = await serve({ 'chat.yaml': yamlBlock('docs/client.md', 'table: chat') }, 'chat.yaml');
    const r = await runProgram(dir, 'client.mjs', example.code.replaceAll('127.0.0.1:9988', `127.0.0.1:${port}`), example.lang);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines.filter((l) => /^(connecting|open|closed)$/.test(l))).toEqual(['open', 'closed']);
    expect(lines.filter((l) => /^(POST|PUT|DELETE) /.test(l)).map((l) => l.split(' ')[0])).toEqual(['POST', 'PUT', 'DELETE']);
    expect(r.out).toContain("body: 'edited'");
  });
});

// ── docs/expressions.md ─────────────────────────────────────────────────────────────────────────────────────────

describe('docs/expressions.md', () => {
  const mymodule = claimJs('docs/expressions.md', '// mymodule.js', 'loaded by a service through `modules:`');
  const api = claimJs('docs/expressions.md', 'compileExpression(', 'node (esbuild strips the types; ./expr/ is dist/expr/)');

  it('Modules: mymodule.js refuses a topic to users not listed for it', async () => {
    const dir = appDir({ 'mymodule.js': mymodule.code });
    const config = YAML.parse(yamlBlock('docs/expressions.md', 'pattern: /$YAMLURL/chat'));
    const fragment = YAML.parse(yamlBlock('docs/expressions.md', 'mymodule: ./mymodule.js'));
    config.modules = fragment.modules;
    Object.assign(config.url.chat.kwargs, fragment.url.chat.kwargs);
    const service = await MessageService.start(
      { config, baseDir: dir },
      { log: () => undefined, authenticate: (req) => (typeof req.headers['x-user'] === 'string' ? { id: req.headers['x-user'] } : null) },
    );
    const server = http.createServer((req, res) => void (service.handleRequest(req, res) || res.writeHead(404).end()));
    mountHttp(server, service);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${config.url.chat.pattern.replace('/$YAMLURL', '')}`;
    const post = async (user: string | null, topic: string): Promise<{ status: number; json: any }> => {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(user ? { 'x-user': user } : {}) }, body: JSON.stringify({ body: 'x', topic }) });
      return { status: r.status, json: await r.json() };
    };
    try {
      expect(await post('alice', 'help')).toMatchObject({ status: 201, json: { topic: 'help', user: 'alice' } });
      expect((await post('root', 'help')).json._error).toMatchObject({ code: 'MH_ERR_MSG_REJECTED', message: expect.stringContaining('You cannot write to help') });
      expect((await post(null, 'ops')).json._error).toMatchObject({ code: 'MH_ERR_MSG_REJECTED' });
      expect((await post('root', 'ops')).status).toBe(201);
    } finally {
      await service.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('API: compileExpression, as a program', async () => {
    const dir = appDir();
    const code = api.code.replace("'./expr/index.js'", JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/expr/index.js')).href));
    const r = await runProgram(dir, 'api.mjs', code, api.lang);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe("audit hello\n5 { body: 'hello', length: 5 }\n");
  });
});

// ── docs/filters.md ─────────────────────────────────────────────────────────────────────────────────────────────

describe('docs/filters.md', () => {
  const groups = claimJs('docs/filters.md', 'parseFilterGroups', 'node (esbuild strips the types)');

  it('Any-of groups: the SimpleBus groups are the ordinary query filter', async () => {
    const r = await runProgram(appDir(), 'groups.mjs', groups.code, groups.lang);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('true\n');
  });
});

// ── docs/protocol.md ────────────────────────────────────────────────────────────────────────────────────────────

describe('docs/protocol.md', () => {
  const sse = claimJs('docs/protocol.md', 'new EventSource', 'Chromium, on a page msghub serves');

  it.skipIf(!hasChromium)('SSE: the EventSource snippet hears the history, then live events of its filter only', async () => {
    const { url } = await serve({ 'gramex.yaml': CHAT_YAML });
    expect((await postJson(`${url}/chat`, { body: 'first', topic: 'Help' })).status).toBe(201);
    const logged = await inChromium(`${url}/chat`, sse.code, (l) => l.some((m) => m?.body === 'live'), async (until) => {
      // Once the history row is in, the stream is past its snapshot: what commits now is a live event.
      await until((l) => l.some((m) => m?.body === 'first'), 'the history row');
      expect((await postJson(`${url}/chat`, { body: 'elsewhere', topic: 'Other' })).status).toBe(201);
      expect((await postJson(`${url}/chat`, { body: 'live', topic: 'Help' })).status).toBe(201);
    });
    expect(logged.map((m) => [m.body, m._method])).toEqual([
      ['first', undefined],
      ['live', 'POST'],
    ]);
  });
});

// ── docs/compat.md ──────────────────────────────────────────────────────────────────────────────────────────────

describe('docs/compat.md', () => {
  const texto = claimJs('docs/compat.md', 'TextoClient.prototype.register', 'test/compat/texto.test.ts ("docs/compat.md § Texto v1 runs as written")');
  const x0 = claimSh('docs/compat.md', '/python/MsgHandler.py', 'bash: serve --port 8080, both curls, their documented answers');
  const busUsers = claimSh('docs/compat.md', 'put_users', 'bash: serve --port 2555, put_users, put; user2 hears it');

  it('Texto: the register() snippet is run by test/compat/texto.test.ts against texto.js’s client', () => {
    const other = readFileSync(path.join(ROOT, 'test/compat/texto.test.ts'), 'utf8');
    expect(other).toContain("describe('docs/compat.md § Texto v1 runs as written'");
    expect(other).toContain("new Function('TextoClient', 'TextoMessage', block('js'))");
    expect(texto.code).toContain('TextoClient.prototype.register');
  });

  it('x0: the two curls answer what the doc says', async () => {
    const s = new ShellSession(appDir({ 'gramex.yaml': yamlBlock('docs/compat.md', 'handler: X0MessageHandler') }));
    try {
      const ran = await s.run([...commands('msghub serve gramex.yaml --port 8080'), ...commands(x0.code)]);
      expect(ran[1]!.command.expected).toEqual(['{"messages":null,"status":"ok"}']);
      expect(ran[2]!.command.expected.length).toBe(1);
      expectAsDocumented(ran);
      expect(await s.close(), 'msghub serve exits 0 on SIGTERM').toEqual([0]);
    } finally {
      await s.close();
    }
  });

  it('SimpleBus: put_users, then put: user2 receives the message on its socket', async () => {
    const s = new ShellSession(appDir({ 'gramex.yaml': yamlBlock('docs/compat.md', 'handler: SimpleBusHandler') }));
    try {
      await s.run(commands('msghub serve gramex.yaml --port 2555'));
      const base = `http://127.0.0.1:${s.ports.get(2555)}/bus`;
      // "Register the first user" in a browser: the form posts this.
      const signup = await fetch(`${base}/signup`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=admin&password=admin-password', redirect: 'manual' });
      expect(signup.status).toBe(302);
      const [users, put] = commands(busUsers.code);
      const [ranUsers] = await s.run([users!]);
      expectAsDocumented([ranUsers!]);
      expectAsDocumented(await s.run([put!]));
      // user2's app connects (as SimpleUI does: `connect` with BusID and BusPassword) and gets the queued message.
      const heard = await new Promise<any>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${s.ports.get(2555)}/bus/ws`);
        const timer = setTimeout(() => reject(new Error('user2 heard nothing in 10 s')), 10_000);
        ws.on('open', () => ws.send(JSON.stringify({ type: 'connect', data: 'user2', password: '12345', uid: 'my-config-uid' })));
        ws.on('message', (d) => {
          const frame = JSON.parse(String(d));
          if (frame.message !== 'Hello Android') return;
          clearTimeout(timer);
          ws.close();
          resolve(frame);
        });
        ws.on('error', reject);
      });
      expect(heard).toMatchObject({ to: ['@user2', '#orders'], message: 'Hello Android', uid: 'my-config-uid', sender: 'user1' });
      expect(await s.close(), 'msghub serve exits 0 on SIGTERM').toEqual([0]);
    } finally {
      await s.close();
    }
  });
});

describe('docs/compat.md § SimpleBus files', () => {
  const files = claimSh('docs/compat.md', "echo 'a photo' > photo.jpg", 'bash: upload, download, delete; user2 hears the file message');

  it('upload with Message-Type: file, download by the recipient, then DELETE', async () => {
    const s = new ShellSession(appDir({ 'gramex.yaml': yamlBlock('docs/compat.md', 'handler: SimpleBusHandler') }));
    try {
      await s.run(commands('msghub serve gramex.yaml --port 2555'));
      const port = s.ports.get(2555)!;
      const signup = await fetch(`http://127.0.0.1:${port}/bus/signup`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=admin&password=admin-password', redirect: 'manual' });
      expect(signup.status).toBe(302);
      // The users of the section above (its put_users command).
      const [users] = commands(BLOCKS.find((b) => b.file === 'docs/compat.md' && SH_LANGS.has(b.lang) && b.code.includes('put_users'))!.code);
      expectAsDocumented(await s.run([users!]));
      const cmds = commands(files.code);
      expect(cmds.map((c) => c.text.split(' ')[0])).toEqual(['echo', 'curl', 'curl', 'curl']);
      const [echo, upload, download, remove] = cmds;
      expectAsDocumented(await s.run([echo!, upload!]));
      const heard = await new Promise<any>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/bus/ws`);
        const timer = setTimeout(() => reject(new Error('user2 heard nothing in 10 s')), 10_000);
        ws.on('open', () => ws.send(JSON.stringify({ type: 'connect', data: 'user2', password: '12345', uid: 'my-config-uid' })));
        ws.on('message', (d) => {
          const frame = JSON.parse(String(d));
          if (frame._id !== 'p1') return;
          clearTimeout(timer);
          ws.close();
          resolve(frame);
        });
        ws.on('error', reject);
      });
      // The doc's "# user2 receives {…}" lines.
      const documented = JSON.parse(upload!.expected.join(' ').replace(/^user2 receives /, '').replace(/\s+/g, ' '));
      expect(heard).toMatchObject(documented);
      // The session is the sender's and the recipient's folder at once: the recipient starts without the file.
      rmSync(path.join(s.dir, 'photo.jpg'));
      const [ranDownload] = await s.run([download!]);
      expect(ranDownload!.code, ranDownload!.err).toBe(0);
      expect(readFileSync(path.join(s.dir, 'photo.jpg'), 'utf8')).toBe('a photo\n');
      expectAsDocumented(await s.run([remove!]));
      expect((await fetch(`http://127.0.0.1:${port}/bus/download/p1_photo.jpg`, { headers: { authorization: `Basic ${Buffer.from('user2:12345').toString('base64')}` } })).status).toBe(404);
      expect(await s.close(), 'msghub serve exits 0 on SIGTERM').toEqual([0]);
    } finally {
      await s.close();
    }
  });
});

// ── docs/operations.md ──────────────────────────────────────────────────────────────────────────────────────────

describe('docs/operations.md', () => {
  const metrics = claimSh('docs/operations.md', '--metrics-host 0.0.0.0', 'bash: serve --metrics-port 9464 (first line); /metrics probed');
  const status = claimSh('docs/operations.md', 'msghub status --url', 'bash: msghub status --url (second line), against the server above');

  it('serve --metrics-port 9464: /metrics there; msghub status --url reads the status', async () => {
    const s = new ShellSession(appDir({ 'gramex.yaml': CHAT_YAML }));
    try {
      const [serveLine] = commands(metrics.code);
      const statusLine = commands(status.code).find((c) => c.text.includes('--url'))!;
      await s.run([serveLine!]);
      const scraped = await fetch(`http://127.0.0.1:${s.ports.get(9464)}/metrics`);
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toMatch(/^msghub_connections\{handler="chat",transport="websocket"\} 0$/m);
      const [ran] = await s.run([statusLine]);
      expect(ran!.code, ran!.err).toBe(0);
      expect(ran!.out).toContain('chat');
      expect(await s.close(), 'msghub serve exits 0 on SIGTERM').toEqual([0]);
    } finally {
      await s.close();
    }
  });
});

// ── the count ───────────────────────────────────────────────────────────────────────────────────────────────────

describe('every snippet is accounted for', () => {
  it('every JS block in README.md and docs/ is run by a test, or marked // fragment', () => {
    const js = BLOCKS.filter((b) => JS_LANGS.has(b.lang));
    const fragments = js.filter(isJsFragment);
    const unaccounted = js.filter((b) => !isJsFragment(b) && !claimed.has(b)).map(where);
    expect(unaccounted, 'run these in test/docs/js-snippets.test.ts, or mark them `// fragment` (first line)').toEqual([]);
    const sh = BLOCKS.filter((b) => SH_LANGS.has(b.lang));
    const shRun = sh.filter((b) => claimed.has(b));
    console.info(
      `docs JS: ${js.length - fragments.length} blocks run, ${fragments.length} fragments` +
        (fragments.length ? ` (${fragments.map(where).join('; ')})` : '') +
        `; shell: ${shRun.length} of ${sh.length} blocks run; not run: ${sh.filter((b) => !claimed.has(b)).map(where).join('; ')}`,
    );
  });
});
