// Scenario 5: N idle WebSocket connections held by one server process. Accept rate (N handshakes, C in flight)
// and memory per connection (RSS and JS heap after a full GC, relative to the same server warmed up and empty),
// for msghub, bare ws, Socket.IO and the plain Node `net` floor (canned 101 reply).
import { startLoadgen } from '../lib/loadgen.mjs';
import { cpuPct, cpuTimes, median, minMax, sleep } from '../lib/proc.mjs';
import { protoFor, startServer } from '../lib/servers.mjs';

export const CONN_KINDS = process.env.BENCH_CONN_KINDS ? process.env.BENCH_CONN_KINDS.split(',') : ['msghub', 'ws-idiomatic', 'sio', 'net'];
const PATH = { msghub: '/bench', sio: '/socket.io/?EIO=4&transport=websocket' };

export async function runConnections(ctx) {
  const { reps, n, conc, warm } = ctx.cfg.conn;
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of CONN_KINDS) {
      const server = await startServer(kind, { dir: ctx.tmp(`conn-${kind}`), sqlProbe: false });
      let lg;
      try {
        lg = await startLoadgen(ctx.loadgen, { port: server.port, proto: protoFor(kind) });
        const path = PATH[kind] ?? '/';
        const w = await lg.cmd(`open sub ${warm} ${conc} 0 ${path}`, 60000);
        if (!w.ok) throw new Error(`warm-up: ${JSON.stringify(w)}`);
        await lg.cmd('close_all');
        await sleep(700);
        const base = await server.call('gc', 30000);
        const c0 = cpuTimes(server.pid);
        const r = await lg.cmd(`open sub ${n} ${conc} 0 ${path}`, 240000);
        const c1 = cpuTimes(server.pid);
        await sleep(1000);
        const after = await server.call('gc', 60000);
        const run = {
          rep,
          kind,
          n,
          opened: r.opened,
          failed: r.failed,
          acceptPerS: r.per_s,
          acceptMs: r.ms,
          serverCpu: cpuPct(c0, c1)?.total,
          rssPerConn: (after.rss - base.rss) / r.opened,
          heapPerConn: (after.heapUsed - base.heapUsed) / r.opened,
          rssTotal: after.rss,
        };
        runs.push(run);
        ctx.progress(
          `connections ${kind}: ${r.opened}/${n} open in ${(r.ms / 1000).toFixed(1)} s (${r.per_s} accepts/s), ${(run.rssPerConn / 1024).toFixed(1)} KB RSS and ${(run.heapPerConn / 1024).toFixed(1)} KB heap per connection`,
        );
        await lg.cmd('close_all');
      } catch (err) {
        ctx.fail(`connections ${kind}`, err);
      } finally {
        await lg?.stop();
        await server.stop();
      }
      await sleep(300);
    }
  }
  const same = (a, b) => a.rep === b.rep;
  const ratio = (rs, get) =>
    median(
      rs.map((r) => {
        const o = runs.find((x) => x.kind === 'net' && same(r, x));
        return o && get(o) ? get(r) / get(o) : null;
      }),
    );
  const rows = CONN_KINDS.map((kind) => {
    const rs = runs.filter((r) => r.kind === kind);
    if (!rs.length) return null;
    return {
      kind,
      n,
      runs: rs.length,
      opened: Math.min(...rs.map((r) => r.opened)),
      acceptPerS: median(rs.map((r) => r.acceptPerS)),
      acceptRange: minMax(rs.map((r) => r.acceptPerS)),
      serverCpu: median(rs.map((r) => r.serverCpu)),
      rssPerConn: median(rs.map((r) => r.rssPerConn)),
      heapPerConn: median(rs.map((r) => r.heapPerConn)),
      memVsNet: ratio(rs, (r) => r.rssPerConn),
      acceptVsNet: ratio(rs, (r) => r.acceptPerS),
    };
  }).filter(Boolean);
  return { runs, rows };
}
