/**
 * msghub as a dependency: the packed tarball installed into an empty folder, as a user does it (`npm install
 * msghub`, a config, `npx msghub …`), and a TypeScript consumer compiling against the shipped declarations with
 * `skipLibCheck: false` (no TS7016 from types that are only our devDependencies), then running what it compiled.
 *
 * Needs the npm registry (or npm's cache) for the dependencies: its own file, with generous timeouts. The native
 * packages' binaries are copied from this repository (same versions) rather than compiled again; with
 * MSGHUB_PACK_BUILD=1 the install runs their install scripts as a user's does (compiling better-sqlite3 and argon2
 * when no prebuilt binary can be downloaded: minutes). Without a registry it skips with a message (fails under
 * MSGHUB_REQUIRE_SERVICES=1). Uses the built dist/ (`npm test` builds first).
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/mounts.js';
import { tempDir } from '../support/tmp.js';

const run = promisify(execFile);
const INSTALL_TIMEOUT_MS = 10 * 60_000;
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

const CONFIG = `
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/chat.db
      table: messages
      columns: {body: TEXT, topic: {type: TEXT, default: general}}
`;

/** A consumer's program: every public type it names must resolve, and publishing from server code is typed. */
const CONSUMER = `
import { MessageService, type Logger, type OutboxOptions, type PublishMessage, type MhErrorCode } from 'msghub';

const log: Logger = (level, message) => { if (level === 'error') console.error(message); };
const outbox: Partial<OutboxOptions> = {};
const service = await MessageService.start('gramex.yaml', { log, outbox });
const msg: PublishMessage = { body: 'from server code', topic: 'ops' };
const frame = await service.publish('chat', msg);
let refused: MhErrorCode | undefined;
await service.publish('nope', { body: 'x' }).catch((e: { code: MhErrorCode }) => { refused = e.code; });
await service.close();
console.log(JSON.stringify({ body: frame.body, seq: frame._seq, refused }));
`;

let dir = '';
let app = '';
/** Null when the install ran; else why the suite is skipped. */
let skipped: string | null = null;

function npm(args: string[], cwd: string, timeout = INSTALL_TIMEOUT_MS): Promise<{ stdout: string; stderr: string }> {
  return run('npm', args, { cwd, timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } });
}

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist/cli.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  dir = tempDir('msghub-pack-');
  // --ignore-scripts: pack the dist/ that is there, without `prepare` rebuilding it.
  const packed = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT, 120_000);
  const tarball = path.join(dir, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
  app = path.join(dir, 'app');
  mkdirSync(app);
  // What the README tells a user to do: approve the two native packages' install scripts (npm 11's allowScripts).
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', allowScripts: { 'better-sqlite3': true, argon2: true } }));
  try {
    if (process.env.MSGHUB_PACK_BUILD === '1') {
      // What a user's install does: run the native packages' install scripts (compiles when no prebuilt binary).
      await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, '@types/node@^20.19'], app);
    } else {
      // The same install without compiling better-sqlite3 and argon2 again (minutes on a busy machine): their
      // binaries are copied from this repository's node_modules, which the lock pins to the same versions.
      await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball, '@types/node@^20.19'], app);
      for (const native of ['better-sqlite3', 'argon2']) reuseBuild(native, app);
    }
  } catch (err) {
    const text = `${(err as { stderr?: string }).stderr ?? ''} ${(err as Error).message}`;
    if (!/E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT|NETUNREACH)|network/i.test(text)) throw err;
    if (process.env.MSGHUB_REQUIRE_SERVICES === '1') throw new Error(`npm registry unreachable (MSGHUB_REQUIRE_SERVICES=1): ${text}`);
    skipped = 'the npm registry is not reachable';
    console.warn(`SKIPPED: ${skipped}; the packaging test needs it`);
  }
}, INSTALL_TIMEOUT_MS + 150_000);

/** Copies a native package's build/ from this repository into the consumer's, after checking the versions match. */
function reuseBuild(name: string, into: string): void {
  const version = (dir: string): string => (JSON.parse(readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  expect(version(into), `${name}: the consumer got another version than this repository has`).toBe(version(ROOT));
  cpSync(path.join(ROOT, 'node_modules', name, 'build'), path.join(into, 'node_modules', name, 'build'), { recursive: true });
}

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed tarball, installed into an empty folder', () => {
  it('runs npx msghub --version and check', async (ctx) => {
    if (skipped) return ctx.skip();
    const v = await run('npx', ['--no-install', 'msghub', '--version'], { cwd: app, timeout: 30_000 });
    expect(v.stdout.trim()).toBe(`msghub ${VERSION}`);
    writeFileSync(path.join(app, 'gramex.yaml'), CONFIG);
    const check = await run('npx', ['--no-install', 'msghub', 'check', 'gramex.yaml'], { cwd: app, timeout: 30_000 });
    expect(check.stdout).toContain('gramex.yaml: OK');
    // A broken config fails check with its YAML path.
    writeFileSync(path.join(app, 'bad.yaml'), CONFIG.replace('TEXT,', 'TXT,'));
    const bad = await run('npx', ['--no-install', 'msghub', 'check', 'bad.yaml'], { cwd: app, timeout: 30_000 }).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(bad?.code).toBe(1);
    expect(bad?.stderr).toContain('url.chat.kwargs.columns.body');
  }, 90_000);

  it('runs npx msghub serve: publish over HTTP, read it back, stop on SIGTERM', async (ctx) => {
    if (skipped) return ctx.skip();
    writeFileSync(path.join(app, 'gramex.yaml'), CONFIG);
    const child = spawn('npx', ['--no-install', 'msghub', 'serve', 'gramex.yaml', '--port', '0'], {
      cwd: app,
      env: { ...process.env, MSGHUB_LOG: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: npx runs msghub as a child and does not pass SIGTERM on, so the group gets it.
      detached: true,
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    try {
      const base = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
        child.stdout.on('data', (d) => {
          out += d;
          const m = /msghub listening on (http:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`serve exited with ${code}: ${stderr}`));
        });
      });
      const posted = await fetch(`${base}/chat`, { method: 'POST', body: JSON.stringify({ body: 'hello from npx', topic: 'Help' }) });
      expect(posted.status).toBe(201);
      const history = (await (await fetch(`${base}/chat?topic=Help`)).json()) as { body: string }[];
      expect(history.map((r) => r.body)).toEqual(['hello from npx']);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
        process.kill(-child.pid!, 'SIGTERM');
        // msghub exits 0 on SIGTERM; npx itself may end by the signal (null, 'SIGTERM') before or after it.
        const [code, signal] = await exited;
        expect(code === 0 || signal === 'SIGTERM', `exit ${code} ${signal}: ${stderr}`).toBe(true);
        expect(stderr).not.toMatch(/ERROR/);
      }
    }
  }, 90_000);

  it('compiles a TypeScript consumer with skipLibCheck: false, and runs it', async (ctx) => {
    if (skipped) return ctx.skip();
    writeFileSync(path.join(app, 'gramex.yaml'), CONFIG);
    writeFileSync(path.join(app, 'main.ts'), CONSUMER);
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, types: ['node'], outDir: 'out' },
        files: ['main.ts'],
      }),
    );
    const tsc = await run(process.execPath, [TSC, '-p', '.'], { cwd: app, timeout: 120_000 }).then(
      () => '',
      (err: { stdout: string }) => err.stdout,
    );
    expect(tsc).toBe('');
    const out = await run(process.execPath, ['out/main.js'], { cwd: app, timeout: 30_000, env: { ...process.env, MSGHUB_LOG: 'error' } });
    expect(JSON.parse(out.stdout.trim())).toEqual({ body: 'from server code', seq: expect.any(Number), refused: 'MH_ERR_NO_HANDLER' });
  }, 150_000);

  it('ships declaration maps and source maps whose sources resolve inside the package', () => {
    if (skipped) return;
    const pkg = path.join(app, 'node_modules/msghub');
    for (const map of ['dist/index.d.ts.map', 'dist/service.d.ts.map', 'dist/index.js.map', 'dist/core/handler.js.map']) {
      const file = path.join(pkg, map);
      const { sources } = JSON.parse(readFileSync(file, 'utf8')) as { sources: string[] };
      expect(sources.length).toBeGreaterThan(0);
      for (const s of sources) expect(existsSync(path.resolve(path.dirname(file), s)), `${map} → ${s}`).toBe(true);
    }
    for (const f of ['LICENSE', 'CHANGELOG.md', 'README.md']) expect(existsSync(path.join(pkg, f)), f).toBe(true);
  });
});
