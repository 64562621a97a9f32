// Preloaded (`node --import bench/lib/probe.mjs …`) into every Node server the bench starts, msghub's real CLI
// included. It answers the bench over the IPC channel and changes nothing in the server's behaviour:
//
//   stats  RSS and heap, the event-loop delay histogram (longest synchronous stretch), how many socket write
//          requests were made (each is one write()/writev() syscall when nothing is queued), WebSocket close
//          codes used, and, with BENCH_PROBE_SQL=1, SQLite statement executions by kind (BEGIN, SAVEPOINT,
//          INSERT, …) and prepare() calls.
//   gc     runs a full GC first (the server is started with --expose-gc)
//   reset  clears the delay histogram and the counters
//
// The process exits if the bench goes away (IPC disconnect) or after BENCH_MAX_SECS, so nothing outlives a run.
import net from 'node:net';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';

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
