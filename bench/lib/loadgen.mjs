// The C load generator (bench/loadgen.c): compiled at bench time with the system gcc into a temporary directory,
// driven by one command per line on stdin, one JSON answer per line on stdout.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnPinned, stop, waitForOutput } from './proc.mjs';

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'loadgen.c');

/** Compiles the load generator into `dir`; returns the binary's path. */
export function buildLoadgen(dir) {
  const bin = path.join(dir, 'loadgen');
  execFileSync('gcc', ['-O2', '-Wall', '-o', bin, SRC], { stdio: ['ignore', 'inherit', 'inherit'] });
  return bin;
}

/**
 * Starts the load generator on `cpu` against 127.0.0.1:`port`. `proto` is 'ws' or 'sio'. Returns
 * { pid, cmd(line, timeoutMs) → parsed JSON answer, stop() }.
 */
export async function startLoadgen(bin, { port, proto = 'ws', cpu = 1, maxSecs = 600, pubPort = 0 }) {
  const waiters = [];
  let buf = '';
  // pubPort: publishers connect there, subscribers to `port` (the cluster scenario's cross-node latency).
  const child = spawnPinned(cpu, bin, [String(port), proto, String(maxSecs), ...(pubPort ? [String(pubPort)] : [])], {
    stdin: 'pipe',
    onStdout: (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('{"event":"ready"')) continue;
        const w = waiters.shift();
        if (w) w.resolve(JSON.parse(line));
      }
    },
  });
  await waitForOutput(child, (t) => t.includes('"ready"'), 5000, 'loadgen');
  child.on('exit', () => {
    for (const w of waiters.splice(0)) w.reject(new Error(`loadgen exited: ${child.stderrTail ?? ''}`));
  });
  const cmd = (line, timeoutMs = 30000) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`loadgen: no answer to "${line}" in ${timeoutMs} ms`)), timeoutMs);
      waiters.push({
        resolve: (v) => {
          clearTimeout(t);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      child.stdin.write(line + '\n');
    });
  return {
    pid: child.pid,
    child,
    cmd,
    async stop() {
      try {
        child.stdin.end();
      } catch {}
      await stop(child, 2000);
    },
  };
}
