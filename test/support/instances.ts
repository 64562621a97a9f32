/**
 * Private database and Redis servers for fault tests: each in its own temp folder, on its own free loopback
 * port, never the machine's shared instances (other tests use those at the same time). A fault test stops
 * (really kills) and restarts its own instance on the same port, and removes it afterwards.
 *
 * - PostgreSQL: `initdb` into a temp folder (as the `postgres` OS user when run as root: initdb refuses root),
 *   trust auth, started and stopped with `pg_ctl` (`-p <port> -k <tempdir>`, listening on 127.0.0.1 only).
 * - MariaDB: `mariadb-install-db` into a temp datadir, `mariadbd` with its own port, socket and datadir and
 *   `--skip-grant-tables` (any user, no password), killed with SIGKILL.
 * - Redis: `redis-server --port <p> --save "" --appendonly no`: killed with SIGKILL, started again empty.
 *
 * Every step is bounded in time. `start()` resolves once the server answers; `stop()` once it is gone.
 * `available()` says whether the binaries are on this machine (tests skip with a message, or fail in CI).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { reachable, tempDir } from './tmp.js';

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
/** How often readiness is checked while a server starts (it is a state to poll, not an event we are sent). */
const POLL_MS = 100;

export interface PrivateInstance {
  readonly port: number;
  /** The temp folder that holds its data, socket and log. */
  readonly dir: string;
  /** The URL msghub or a client uses (loopback). */
  readonly url: string;
  readonly running: boolean;
  start(): Promise<void>;
  /** Stops the server at once (killed, not shut down cleanly) and resolves when its port is closed. */
  stop(): Promise<void>;
  /** Stops it if running and removes its folder. */
  destroy(): Promise<void>;
  /** The server's log, for failure messages. */
  log(): string;
}

/** A free TCP port on 127.0.0.1 (the kernel's pick; it stays ours in practice until the server binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const portOpen = (port: number): Promise<boolean> => reachable(port);

/** Polls `ready` until it is true, or throws after `timeoutMs` with `what` and `detail()`. */
async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs: number, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms${detail() ? `:\n${detail().slice(-3000)}` : ''}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Runs a command to completion, bounded; rejects with its output on failure. */
function run(file: string, args: string[], options: { uid?: number; gid?: number; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { uid: options.uid, gid: options.gid, cwd: options.cwd ?? '/', timeout: options.timeoutMs ?? START_TIMEOUT_MS, killSignal: 'SIGKILL', env: { ...process.env, LC_ALL: 'C' } },
      (err, stdout, stderr) => (err ? reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout)),
    );
  });
}

/** The OS user a server runs as when the tests run as root (servers refuse root); undefined otherwise. */
function serviceUser(name: string): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
  return { uid, gid };
}

function which(name: string, dirs: string[]): string | undefined {
  for (const d of dirs) {
    const f = path.join(d, name);
    if (existsSync(f)) return f;
  }
  return undefined;
}

/** PostgreSQL's bin folder (the newest under /usr/lib/postgresql), or undefined. */
function pgBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(root, versions[0]!, 'bin') : undefined;
}

const SBIN = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'];

/** Everything started here, killed if the test process exits without cleaning up (a crash, a timeout). */
const live = new Set<{ emergencyStop(): void }>();
process.once('exit', () => {
  for (const i of live) i.emergencyStop();
});

export class PrivatePostgres implements PrivateInstance {
  running = false;
  private readonly data: string;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly bin: string,
    private readonly user: { uid: number; gid: number } | undefined,
  ) {
    this.data = path.join(dir, 'data');
  }

  static available(): boolean {
    return pgBin() !== undefined;
  }

  /** initdb into a new temp folder (not started). Database `postgres`, user `postgres`, trust auth. */
  static async create(port?: number): Promise<PrivatePostgres> {
    const bin = pgBin();
    if (!bin) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql/*/bin');
    const dir = tempDir('msghub-pg-');
    const user = serviceUser('postgres');
    if (user) chownSync(dir, user.uid, user.gid);
    const pg = new PrivatePostgres(port ?? (await freePort()), dir, bin, user);
    await run(path.join(bin, 'initdb'), ['-D', pg.data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'], { ...user, cwd: dir });
    return pg;
  }

  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    // Loopback only; its socket in its own folder; few connections, small memory. No fsync: a killed server
    // loses nothing (the OS keeps what it wrote), only a machine crash would. Commits stay synchronous.
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c shared_buffers=16MB -c max_connections=60`;
    await run(path.join(this.bin, 'pg_ctl'), ['-D', this.data, '-o', opts, '-l', path.join(this.dir, 'log'), '-w', '-t', String(START_TIMEOUT_MS / 1000), 'start'], { ...this.user, cwd: this.dir });
    this.running = true;
    live.add(this);
    await waitFor(`PostgreSQL did not accept connections on ${this.port}`, () => portOpen(this.port), START_TIMEOUT_MS, () => this.log());
  }

  /** Immediate shutdown: every backend is killed at once, nothing is checkpointed (the next start recovers). */
  async stop(): Promise<void> {
    if (!this.running) return;
    try {
      await run(path.join(this.bin, 'pg_ctl'), ['-D', this.data, '-m', 'immediate', '-w', '-t', String(STOP_TIMEOUT_MS / 1000), 'stop'], { ...this.user, cwd: this.dir, timeoutMs: STOP_TIMEOUT_MS });
    } catch (err) {
      this.killPostmaster();
      if (existsSync(path.join(this.data, 'postmaster.pid'))) throw err;
    }
    this.running = false;
    live.delete(this);
    await waitFor(`PostgreSQL still listens on ${this.port}`, async () => !(await portOpen(this.port)), STOP_TIMEOUT_MS);
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => this.killPostmaster());
    rmSync(this.dir, { recursive: true, force: true });
  }

  log(): string {
    try {
      return execFileSync('tail', ['-c', '4000', path.join(this.dir, 'log')]).toString();
    } catch {
      return '';
    }
  }

  emergencyStop(): void {
    this.killPostmaster();
  }

  /** SIGQUIT to the postmaster (immediate shutdown), as pg_ctl's immediate mode does, when pg_ctl cannot. */
  private killPostmaster(): void {
    try {
      const pid = Number(execFileSync('head', ['-1', path.join(this.data, 'postmaster.pid')]).toString().trim());
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      // Not running.
    }
  }
}

/** A server process we spawned and keep as our child: stopped with SIGKILL. */
abstract class ChildServer implements PrivateInstance {
  protected child: ChildProcess | null = null;
  protected output = '';

  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  abstract get url(): string;
  protected abstract command(): { file: string; args: string[]; user?: { uid: number; gid: number } };
  /** Resolves true once the server answers. */
  protected abstract ready(): Promise<boolean>;

  get running(): boolean {
    return this.child !== null;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const { file, args, user } = this.command();
    const child = spawn(file, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'], uid: user?.uid, gid: user?.gid });
    this.child = child;
    live.add(this);
    const keep = (d: Buffer): void => {
      this.output = (this.output + d.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exited = false;
    child.once('exit', () => {
      exited = true;
      if (this.child === child) {
        this.child = null;
        live.delete(this);
      }
    });
    await waitFor(`${path.basename(file)} did not answer on ${this.port}`, async () => {
      if (exited) throw new Error(`${path.basename(file)} exited while starting:\n${this.log()}`);
      return this.ready();
    }, START_TIMEOUT_MS, () => this.log());
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await Promise.race([gone, new Promise((_, reject) => setTimeout(() => reject(new Error(`process ${child.pid} survived SIGKILL`)), STOP_TIMEOUT_MS))]);
    this.child = null;
    live.delete(this);
    await waitFor(`port ${this.port} still open after SIGKILL`, async () => !(await portOpen(this.port)), STOP_TIMEOUT_MS);
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  log(): string {
    return this.output;
  }

  emergencyStop(): void {
    this.child?.kill('SIGKILL');
  }
}

export class PrivateMariaDB extends ChildServer {
  private static bins(): { install: string; server: string } | undefined {
    const install = which('mariadb-install-db', SBIN) ?? which('mysql_install_db', SBIN);
    const server = which('mariadbd', SBIN) ?? which('mysqld', SBIN);
    return install && server ? { install, server } : undefined;
  }

  static available(): boolean {
    return PrivateMariaDB.bins() !== undefined;
  }

  private readonly user = serviceUser('mysql');

  /** mariadb-install-db into a new temp folder (not started). Database `test`, any user without password. */
  static async create(port?: number): Promise<PrivateMariaDB> {
    const bins = PrivateMariaDB.bins();
    if (!bins) throw new Error('mariadb-install-db / mariadbd not found');
    const dir = tempDir('msghub-maria-');
    const db = new PrivateMariaDB(port ?? (await freePort()), dir);
    if (db.user) chownSync(dir, db.user.uid, db.user.gid);
    await run(bins.install, [
      '--no-defaults',
      `--datadir=${path.join(dir, 'data')}`,
      ...(db.user ? ['--user=mysql'] : []),
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      ...PrivateMariaDB.serverOptions(),
    ]);
    return db;
  }

  /** Small and fast: test data, one client program. */
  private static serverOptions(): string[] {
    return ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=16M', '--innodb-flush-log-at-trx-commit=2', '--skip-log-bin'];
  }

  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}/test`;
  }

  protected command(): { file: string; args: string[] } {
    return {
      file: PrivateMariaDB.bins()!.server,
      args: [
        '--no-defaults',
        `--datadir=${path.join(this.dir, 'data')}`,
        `--port=${this.port}`,
        `--socket=${path.join(this.dir, 'mysqld.sock')}`,
        `--pid-file=${path.join(this.dir, 'mysqld.pid')}`,
        '--bind-address=127.0.0.1',
        '--skip-grant-tables',
        '--skip-name-resolve',
        ...(this.user ? ['--user=mysql'] : []),
        ...PrivateMariaDB.serverOptions(),
      ],
    };
  }

  protected async ready(): Promise<boolean> {
    if (!(await portOpen(this.port))) return false;
    // The port opens before the server takes queries: ask, and create the test database.
    const mysql = await import('mysql2/promise');
    try {
      const c = await mysql.createConnection({ host: '127.0.0.1', port: this.port, user: 'root', connectTimeout: 2000 });
      try {
        await c.query('CREATE DATABASE IF NOT EXISTS test');
      } finally {
        await c.end();
      }
      return true;
    } catch {
      return false;
    }
  }
}

export class PrivateRedis extends ChildServer {
  static available(): boolean {
    return which('redis-server', SBIN) !== undefined;
  }

  /** A new temp folder for it (not started). */
  static async create(port?: number): Promise<PrivateRedis> {
    if (!PrivateRedis.available()) throw new Error('redis-server not found');
    return new PrivateRedis(port ?? (await freePort()), tempDir('msghub-redis-'));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  protected command(): { file: string; args: string[] } {
    // No persistence: a restart starts empty, as the fault tests want.
    return { file: which('redis-server', SBIN)!, args: ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no'] };
  }

  protected ready(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect({ port: this.port, host: '127.0.0.1' });
      let answer = '';
      const done = (ok: boolean): void => {
        s.destroy();
        resolve(ok);
      };
      s.setTimeout(1000, () => done(false));
      s.once('connect', () => s.write('PING\r\n'));
      s.on('data', (d) => {
        answer += d.toString();
        if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
      });
      s.once('error', () => done(false));
    });
  }
}

/**
 * For a test that needs private instances: true to run; false (with a clear message) to skip when the binaries
 * are missing; throws when MSGHUB_REQUIRE_SERVICES=1 (CI), where they must be installed.
 */
export function requireBinaries(name: string, available: boolean): boolean {
  if (available) return true;
  const message = `${name} binaries are not installed; the fault tests need them`;
  if (process.env.MSGHUB_REQUIRE_SERVICES === '1') throw new Error(`${message} (MSGHUB_REQUIRE_SERVICES=1)`);
  console.warn(`SKIPPED: ${message}`);
  return false;
}
