// Preloaded (`node --import bench/lib/probe.mjs …`) into every Node server the bench starts, msghub's real CLI
// included. It answers the bench over the IPC channel and changes nothing in the server's behaviour (it only adds
// a 1 ms timer of its own, below):
//
//   stats  RSS and heap, the event-loop delay histogram (longest synchronous stretch, in wall-clock time and in
//          the main thread's CPU time: see below), the longest GC pause, how many socket write
//          requests were made (each is one write()/writev() syscall when nothing is queued), WebSocket close
//          codes used, and, with BENCH_PROBE_SQL=1, SQLite statement executions by kind (BEGIN, SAVEPOINT,
//          INSERT, …) and prepare() calls.
//   gc     runs a full GC first (the server is started with --expose-gc)
//   reset  clears the delay histogram and the counters
//
// The process exits if the bench goes away (IPC disconnect) or after BENCH_MAX_SECS, so nothing outlives a run.
import fs from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';
import { PerformanceObserver, constants as perfConstants, monitorEventLoopDelay } from 'node:perf_hooks';

if (process.send) {
  const require = createRequire(import.meta.url);
  const counters = { writes: 0, writev: 0, closes: {}, sql: {}, prepares: 0 };

  const origWrite = net.Socket.prototype._writeGeneric;
  net.Socket.prototype._writeGeneric = function (writev, data, encoding, cb) {
    counters.writes++;
    if (writev) counters.writev++;
    return origWrite.call(this, writev, data, encoding, cb);
  };

  try {
    const WebSocket = require('ws');
    const origClose = WebSocket.prototype.close;
    WebSocket.prototype.close = function (code, data) {
      if (this.readyState === 1) counters.closes[code ?? 1005] = (counters.closes[code ?? 1005] ?? 0) + 1;
      return origClose.call(this, code, data);
    };
  } catch {
    // not a ws server
  }

  if (process.env.BENCH_PROBE_SQL === '1') {
    const Database = require('better-sqlite3');
    const scratch = new Database(':memory:');
    const Statement = Object.getPrototypeOf(scratch.prepare('SELECT 1'));
    scratch.close();
    const kinds = new WeakMap();
    const origRun = Statement.run;
    Statement.run = function (...args) {
      let k = kinds.get(this);
      if (!k) {
        k = /^\s*(\w+)/.exec(this.source)?.[1]?.toUpperCase() ?? '?';
        kinds.set(this, k);
      }
      counters.sql[k] = (counters.sql[k] ?? 0) + 1;
      return origRun.apply(this, args);
    };
    const origPrepare = Database.prototype.prepare;
    Database.prototype.prepare = function (...args) {
      counters.prepares++;
      return origPrepare.apply(this, args);
    };
  }

  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();

  // The delay histogram counts wall-clock time, so it also counts the stretches in which the VM did not run this
  // process at all (an idle Node process pinned to one CPU here sees 15–20 ms gaps between 1 ms timer ticks with
  // under 0.5 ms of CPU time in them). A 1 ms tick of our own also takes the main thread's CPU time between ticks
  // (Linux: /proc/thread-self/schedstat, in ns; elsewhere the whole process's): min(wall gap, CPU time in it) is
  // how long the server itself kept its event loop busy, whatever the VM did. Other threads of the process (WAL
  // checkpoints, V8's compiler and GC helpers) share the pinned core and can stretch a gap too: the wall-clock
  // figure keeps that, this one does not. Cost: one pread per tick (~2 µs).
  const mainCpuMs = (() => {
    try {
      const fd = fs.openSync('/proc/thread-self/schedstat', 'r');
      const buf = Buffer.alloc(128);
      return () => {
        const n = fs.readSync(fd, buf, 0, 128, 0);
        const text = buf.latin1Slice(0, n);
        return Number(text.slice(0, text.indexOf(' '))) / 1e6;
      };
    } catch {
      return () => {
        const c = process.cpuUsage();
        return (c.user + c.system) / 1000;
      };
    }
  })();
  let lastTick = performance.now();
  let lastCpu = mainCpuMs();
  let cpuMaxMs = 0;
  // Garbage collection pauses, the longest by kind: a mark-compact of a big heap is a stall of the process's own.
  let gcMax = { ms: 0, kind: null };
  const GC_KINDS = {
    [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.duration > gcMax.ms) gcMax = { ms: e.duration, kind: GC_KINDS[e.detail?.kind] ?? String(e.detail?.kind) };
  }).observe({ entryTypes: ['gc'] });
  setInterval(() => {
    const now = performance.now();
    const cpu = mainCpuMs();
    const onCpu = Math.min(now - lastTick, cpu - lastCpu);
    if (onCpu > cpuMaxMs) cpuMaxMs = onCpu;
    lastTick = now;
    lastCpu = cpu;
  }, 1).unref();

  const stats = () => {
    const m = process.memoryUsage();
    return {
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      // monitorEventLoopDelay reports in ns; its floor is the 1 ms sampling interval.
      elMaxMs: delay.max / 1e6,
      elP99Ms: delay.percentile(99) / 1e6,
      elCpuMaxMs: cpuMaxMs,
      gcMaxMs: gcMax.ms,
      gcMaxKind: gcMax.kind,
      writes: counters.writes,
      writev: counters.writev,
      closes: { ...counters.closes },
      sql: { ...counters.sql },
      prepares: counters.prepares,
    };
  };

  process.on('message', (m) => {
    if (!m || typeof m !== 'object' || m.rid === undefined) return;
    let r;
    if (m.cmd === 'gc') {
      if (global.gc) {
        global.gc();
        global.gc();
      }
      r = stats();
    } else if (m.cmd === 'reset') {
      delay.reset();
      cpuMaxMs = 0;
      gcMax = { ms: 0, kind: null };
      lastTick = performance.now();
      lastCpu = mainCpuMs();
      counters.writes = counters.writev = counters.prepares = 0;
      counters.closes = {};
      counters.sql = {};
      r = stats();
    } else r = stats();
    process.send({ rid: m.rid, ...r });
  });
  process.on('disconnect', () => process.exit(0));
  const max = Number(process.env.BENCH_MAX_SECS || 0);
  if (max > 0) setTimeout(() => process.exit(5), max * 1000).unref();
}
