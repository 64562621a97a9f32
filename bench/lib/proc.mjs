// Child processes of the bench: pinned with taskset, tracked, and always killed at the end (even on failure).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const children = new Set();

/** Kills every child still running (SIGTERM, then SIGKILL after a grace period). */
export async function killAll(graceMs = 1500) {
  const live = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of live) {
    try {
      c.kill('SIGTERM');
    } catch {}
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && live.some((c) => c.exitCode === null && c.signalCode === null)) await sleep(50);
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL');
      } catch {}
    }
  }
}

function killAllSync() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL');
      } catch {}
    }
  }
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAllSync();
    process.exit(130);
  });
}

let pinning = true;
/** Turns taskset pinning off (machines with one CPU). */
export function setPinning(on) {
  pinning = on;
}

/**
 * Spawns `cmd args` on `cpu` (taskset execs the command, so the child's pid is the program's own).
 * `ipc: true` opens a Node IPC channel with request/response over `call()`.
 */
export function spawnPinned(cpu, cmd, args, { ipc = false, env = {}, stdin = 'ignore', onStdout, onStderr } = {}) {
  const argv = pinning && cpu != null ? ['-c', String(cpu), cmd, ...args] : args;
  const bin = pinning && cpu != null ? 'taskset' : cmd;
  const stdio = [stdin, 'pipe', 'pipe'];
  if (ipc) stdio.push('ipc');
  const child = spawn(bin, argv, { stdio, env: { ...process.env, ...env } });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  if (onStdout) child.stdout.on('data', onStdout);
  else child.stdout.on('data', () => {});
  child.stderr.on('data', (d) => {
    child.stderrTail = ((child.stderrTail ?? '') + d).slice(-4000);
    if (onStderr) onStderr(d);
  });
  child.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  if (ipc) {
    const pending = new Map();
    let rid = 0;
    child.on('message', (m) => {
      const w = m && pending.get(m.rid);
      if (w) {
        pending.delete(m.rid);
        w(m);
      }
    });
    child.call = (cmd, timeoutMs = 15000) =>
      new Promise((resolve, reject) => {
        const id = ++rid;
        const t = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`no answer from pid ${child.pid} to ${cmd}`));
        }, timeoutMs);
        pending.set(id, (m) => {
          clearTimeout(t);
          resolve(m);
        });
        try {
          child.send({ rid: id, cmd });
        } catch (err) {
          clearTimeout(t);
          pending.delete(id);
          reject(err);
        }
      });
  }
  return child;
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. */
export async function stop(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill('SIGTERM');
  } catch {}
  const t = setTimeout(() => {
    try {
      child.kill('SIGKILL');
    } catch {}
  }, graceMs);
  await child.exited;
  clearTimeout(t);
}

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {}

/** User and system CPU seconds of a process so far, from /proc/<pid>/stat. */
export function cpuTimes(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after the command: state(3) … utime(14) stime(15), i.e. f[11], f[12]
    return { user: Number(f[11]) / clkTck, sys: Number(f[12]) / clkTck, t: performance.now() / 1000 };
  } catch {
    return null;
  }
}

/** CPU use between two cpuTimes() samples, in % of one core. */
export function cpuPct(a, b) {
  if (!a || !b || b.t <= a.t) return null;
  const dt = b.t - a.t;
  return { total: (100 * (b.user - a.user + b.sys - a.sys)) / dt, user: (100 * (b.user - a.user)) / dt, sys: (100 * (b.sys - a.sys)) / dt };
}

/** Resident set size of a process, bytes (from /proc, without asking it). */
export function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export function median(xs) {
  const a = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((p, q) => p - q);
  if (!a.length) return null;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

export function minMax(xs) {
  const a = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return a.length ? [Math.min(...a), Math.max(...a)] : null;
}

/** Waits for `pred(text so far)` on a child's stdout, bounded. */
export function waitForOutput(child, pred, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d) => {
      text += d;
      const m = pred(text);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = ({ code, signal } = {}) => {
      cleanup();
      reject(new Error(`${what} exited (${code ?? signal}) before it was ready: ${(child.stderrTail ?? '').slice(-1500)}`));
    };
    const t = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} not ready after ${timeoutMs} ms: ${(child.stderrTail ?? '').slice(-1500)}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(t);
      child.stdout.off('data', onData);
      child.off('exit', onExitEvt);
    };
    const onExitEvt = (code, signal) => onExit({ code, signal });
    child.stdout.on('data', onData);
    child.once('exit', onExitEvt);
  });
}
