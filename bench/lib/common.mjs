// Shared by the scenarios: connecting the load generator's clients to a server kind, and sampling CPU and the
// server's probe around a measurement window.
import { cpuPct, cpuTimes, sleep } from './proc.mjs';
import { pathsFor } from './servers.mjs';

/**
 * Opens `subs` subscribers (msghub: spread evenly over its 10 filters, all of which match every message) and
 * `pubs` publishers. Returns the loadgen index of the first subscriber and of the first publisher.
 */
export async function connect(lg, kind, { subs, pubs = 1, conc = 200 }) {
  const p = pathsFor(kind);
  let firstSub = -1;
  const groups = Math.min(p.filters, subs);
  for (let g = 0; g < groups; g++) {
    const count = Math.floor(subs / groups) + (g < subs % groups ? 1 : 0);
    if (!count) continue;
    const r = await lg.cmd(`open sub ${count} ${conc} 0 ${p.sub(g)}`, 180000);
    if (!r.ok) throw new Error(`${kind}: could not open ${count} subscribers: ${JSON.stringify(r)}`);
    if (firstSub < 0) firstSub = r.first;
  }
  let firstPub = -1;
  if (pubs > 0) {
    const r = await lg.cmd(`open pub ${pubs} ${pubs} 0 ${p.pub}`, 30000);
    if (!r.ok) throw new Error(`${kind}: could not open publishers: ${JSON.stringify(r)}`);
    firstPub = r.first;
  }
  return { firstSub, firstPub };
}

/**
 * Closed-loop throughput on a fresh server: `subs` subscribers and `pubs` publishers, `window` messages in flight,
 * a warm-up, then one measured window; ends by draining, which checks every message reached every subscriber.
 */
export async function closedLoop(server, lg, kind, { subs, pubs, window, warmMs, secsMs }) {
  await connect(lg, kind, { subs, pubs });
  await sleep(200);
  await lg.cmd(`closed ${window}`);
  await sleep(warmMs);
  const start = await windowStart(server, lg);
  await sleep(secsMs);
  const m = await windowEnd(server, lg, start);
  const drain = await lg.cmd('stop', 20000);
  return { ...m, sentTotal: drain.sent, undelivered: drain.undelivered };
}

/** Starts a measurement window: server counters reset, CPU of both processes sampled. */
export async function windowStart(server, lg) {
  await server.call('reset');
  const snap = await lg.cmd('snap');
  return { snap, cpuS: cpuTimes(server.pid), cpuL: cpuTimes(lg.pid) };
}

/** Ends it: rates over the window, CPU % of both processes, and what the server's probe counted. */
export async function windowEnd(server, lg, start) {
  const snap = await lg.cmd('snap');
  const cpuS = cpuTimes(server.pid);
  const cpuL = cpuTimes(lg.pid);
  const probe = await server.call('stats');
  const dt = snap.t - start.snap.t;
  const deliveries = snap.delivered - start.snap.delivered;
  const msgs = snap.sent - start.snap.sent;
  const sql = probe.sql ?? {};
  return {
    secs: dt,
    deliveriesPerS: deliveries / dt,
    msgsPerS: msgs / dt,
    serverCpu: cpuPct(start.cpuS, cpuS),
    loadgenCpu: cpuPct(start.cpuL, cpuL),
    /** Deliveries per socket write request: 1 = one write per delivery, more = coalesced. */
    deliveriesPerWrite: probe.writes ? deliveries / probe.writes : null,
    elMaxMs: probe.elMaxMs,
    elCpuMaxMs: probe.elCpuMaxMs,
    gcMaxMs: probe.gcMaxMs,
    gcMaxKind: probe.gcMaxKind,
    elP99Ms: probe.elP99Ms,
    txnPerMsg: sql.BEGIN !== undefined && msgs ? sql.BEGIN / msgs : null,
    sqlPerMsg: msgs && Object.keys(sql).length ? Object.fromEntries(Object.entries(sql).map(([k, v]) => [k, v / msgs])) : null,
    prepares: probe.prepares,
    rss: probe.rss,
  };
}

/** Runs a bench worker script pinned to `cpu`; resolves to the JSON of its last stdout line. */
export async function runWorker(script, args, { cpu = 0, timeoutMs = 120000, nodeArgs = [], env = {} } = {}) {
  const { spawnPinned, stop } = await import('./proc.mjs');
  let out = '';
  const child = spawnPinned(cpu, process.execPath, [...nodeArgs, script, ...args], { env, onStdout: (d) => (out += d) });
  const timer = setTimeout(() => stop(child, 1000), timeoutMs);
  const { code, signal } = await child.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${script} failed (${code ?? signal}): ${(child.stderrTail ?? '').slice(-1500)}`);
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}
