/**
 * Runs the examples as a user runs them: a copy of examples/ (and the root gramex.yaml) in a temp folder whose
 * node_modules links `msghub` (this checkout, built into dist/), `express` and `fastify`, and each example's one
 * command (`node examples/<name>/server.mjs`) as a child process. The copy keeps the checkout clean and gives
 * every test its own databases; the links resolve `import 'msghub'` the way an npm install does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './mounts.js';
import { tempDir } from './tmp.js';

/** A copy of examples/ and gramex.yaml without databases, secrets or mail files; returns its folder. */
export function copyExamples(): string {
  const dir = tempDir('msghub-examples-');
  cpSync(path.join(ROOT, 'gramex.yaml'), path.join(dir, 'gramex.yaml'));
  cpSync(path.join(ROOT, 'examples'), path.join(dir, 'examples'), {
    recursive: true,
    filter: (src) => !/(\.db(-wal|-shm)?|\.comments-secret|\.chat-secret|\.jsonl)$/.test(src),
  });
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(ROOT, path.join(dir, 'node_modules', 'msghub'), 'dir');
  for (const dep of ['express', 'fastify']) symlinkSync(path.join(ROOT, 'node_modules', dep), path.join(dir, 'node_modules', dep), 'dir');
  return dir;
}

export interface RunningExample {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  /** SIGKILL: no shutdown, no flush (a crash). Resolves when the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  close(): Promise<void>;
}

/**
 * Starts `node <script> ...args` with cwd `dir` and waits for its "listening on http://…" line. `--port 0`
 * unless `args` name a port (a restart passes the port it had).
 */
export async function startExample(dir: string, script: string, args: string[] = [], env: Record<string, string> = {}): Promise<RunningExample> {
  const argv = args.includes('--port') ? args : [...args, '--port', '0'];
  const child = spawn(process.execPath, [path.join(dir, script), ...argv], {
    cwd: dir,
    env: { ...process.env, MSGHUB_LOG: process.env.MSGHUB_LOG ?? 'error', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start in 20 s: ${err}`)), 20_000);
    const onData = (): void => {
      const m = /listening on (http:\/\/[^\s/]+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}: ${err}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    child,
    stdout: () => out,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
