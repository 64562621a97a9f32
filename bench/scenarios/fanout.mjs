// Scenarios 1 and 2: fan-out throughput (closed loop) and publish→receipt latency (open loop), msghub against
// the three comparison servers, each started fresh, interleaved within every repetition.
import { closedLoop, connect, windowEnd, windowStart } from '../lib/common.mjs';
import { startLoadgen } from '../lib/loadgen.mjs';
import { median, minMax, sleep } from '../lib/proc.mjs';
import { KINDS, protoFor, startServer } from '../lib/servers.mjs';

async function withServer(ctx, kind, fn) {
  const server = await startServer(kind, { dir: ctx.tmp(`${kind}`) });
  let lg;
  try {
    lg = await startLoadgen(ctx.loadgen, { port: server.port, proto: protoFor(kind) });
    return await fn(server, lg);
  } finally {
    await lg?.stop();
    await server.stop();
  }
}

/** Scenario 1: one publisher, N subscribers, every message to all N, closed loop with W messages in flight. */
export async function runFanout(ctx) {
  const { reps, ns, warmMs, secsMs } = ctx.cfg.fanout;
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const n of ns) {
      const window = n <= 100 ? 32 : n <= 1000 ? 16 : 8;
      for (const kind of KINDS) {
        try {
          const r = await withServer(ctx, kind, (server, lg) => closedLoop(server, lg, kind, { subs: n, pubs: 1, window, warmMs, secsMs }));
          runs.push({ rep, n, kind, window, ...r });
          ctx.progress(
            `fanout N=${n} ${kind}: ${fmtRate(r.deliveriesPerS)} deliveries/s, server CPU ${r.serverCpu?.total.toFixed(0)}%, loadgen ${r.loadgenCpu?.total.toFixed(0)}%; loop max ${r.elMaxMs?.toFixed(1)} ms (${r.elCpuMaxMs?.toFixed(1)} on CPU), longest GC ${r.gcMaxMs?.toFixed(1)} ms ${r.gcMaxKind ?? ''}`,
          );
        } catch (err) {
          ctx.fail(`fanout N=${n} ${kind}`, err);
        }
      }
    }
  }
  return summarise(runs, ns, 'deliveriesPerS');
}

/** Scenario 2: N=1000 subscribers, a fixed publish rate; every delivery's publish→receipt time. */
export async function runLatency(ctx) {
  const { reps, n, rates, warmMs, secsMs } = ctx.cfg.latency;
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of KINDS) {
      // The idiomatic and Socket.IO servers cannot sustain 1M deliveries/s (their queues would grow without
      // bound: see the fan-out table), so the high rate runs only where it can be sustained.
      const kindRates = kind === 'msghub' || kind === 'ws-best' ? rates : rates.filter((r) => r * n <= 150_000);
      try {
        await withServer(ctx, kind, async (server, lg) => {
          await connect(lg, kind, { subs: n, pubs: 1 });
          await sleep(200);
          for (const rate of kindRates) {
            await lg.cmd(`rate ${rate}`);
            await sleep(warmMs);
            await lg.cmd('record on');
            let m;
            try {
              const start = await windowStart(server, lg);
              await sleep(secsMs);
              m = await windowEnd(server, lg, start);
            } catch (err) {
              // A comparison server whose queue grows without bound at this rate (each message reaches its
              // 1000 subscribers more slowly than messages arrive) stops answering the probe: that is a
              // result (not sustained), not a failure of the run. msghub and the best bare ws server must answer.
              if (kind === 'msghub' || kind === 'ws-best') throw err;
              m = null;
            }
            await lg.cmd('record off');
            const lat = await lg.cmd('lat');
            const drain = await lg.cmd('stop', 20000);
            const sustained = m !== null && drain.ok === 1 && m.deliveriesPerS >= 0.97 * rate * n;
            runs.push({ rep, n, kind, rate, ...(m ?? { overloaded: true }), lat, undelivered: drain.undelivered, sustained });
            if (!m) {
              ctx.progress(`latency N=${n} ${rate}/s ${kind}: overloaded (no answer from the server while its queue grew; not sustained)`);
              break;
            }
            ctx.progress(`latency N=${n} ${rate}/s ${kind}: p50 ${lat.p50} ms, p99 ${lat.p99} ms, max ${lat.max} ms, server CPU ${m.serverCpu?.total.toFixed(0)}%${sustained ? '' : ' (NOT sustained)'}`);
            await sleep(300);
          }
        });
      } catch (err) {
        ctx.fail(`latency ${kind}`, err);
      }
    }
  }
  const out = [];
  for (const rate of rates) {
    for (const kind of KINDS) {
      const rs = runs.filter((r) => r.kind === kind && r.rate === rate);
      if (!rs.length) continue;
      const p = (k) => median(rs.map((r) => r.lat[k]));
      out.push({
        kind,
        rate,
        n,
        runs: rs.length,
        p50: p('p50'),
        p90: p('p90'),
        p99: p('p99'),
        p99Range: minMax(rs.map((r) => r.lat.p99)),
        p999: p('p999'),
        max: p('max'),
        serverCpu: median(rs.map((r) => r.serverCpu?.total)),
        elMaxMs: median(rs.map((r) => r.elMaxMs)),
        elCpuMaxMs: median(rs.map((r) => r.elCpuMaxMs)),
        sustained: rs.every((r) => r.sustained),
        // ratio of p99 to the best bare-ws server's p99 in the same repetition
        p99VsBest: ratioMedian(runs, rs, 'ws-best', (r) => r.lat.p99, (a, b) => a.rep === b.rep && a.rate === b.rate),
      });
    }
  }
  return { runs, rows: out };
}

function ratioMedian(all, rs, otherKind, get, same) {
  const ratios = [];
  for (const r of rs) {
    const o = all.find((x) => x.kind === otherKind && same(r, x));
    if (o && get(o) > 0) ratios.push(get(r) / get(o));
  }
  return median(ratios);
}

function summarise(runs, ns, metric) {
  const rows = [];
  for (const n of ns) {
    for (const kind of KINDS) {
      const rs = runs.filter((r) => r.kind === kind && r.n === n);
      if (!rs.length) continue;
      const same = (a, b) => a.rep === b.rep && a.n === b.n;
      rows.push({
        kind,
        n,
        runs: rs.length,
        value: median(rs.map((r) => r[metric])),
        range: minMax(rs.map((r) => r[metric])),
        msgsPerS: median(rs.map((r) => r.msgsPerS)),
        serverCpu: median(rs.map((r) => r.serverCpu?.total)),
        serverSys: median(rs.map((r) => r.serverCpu?.sys)),
        loadgenCpu: median(rs.map((r) => r.loadgenCpu?.total)),
        perCpuSec: median(rs.map((r) => (r.serverCpu?.total ? r[metric] / (r.serverCpu.total / 100) : null))),
        deliveriesPerWrite: median(rs.map((r) => r.deliveriesPerWrite)),
        elMaxMs: median(rs.map((r) => r.elMaxMs)),
        elCpuMaxMs: median(rs.map((r) => r.elCpuMaxMs)),
        txnPerMsg: median(rs.map((r) => r.txnPerMsg)),
        sqlPerMsg: rs[0].sqlPerMsg,
        prepares: Math.max(...rs.map((r) => r.prepares ?? 0)),
        undelivered: Math.max(...rs.map((r) => r.undelivered ?? 0)),
        vsBest: ratioMedian(runs, rs, 'ws-best', (r) => r[metric], same),
        vsIdiomatic: ratioMedian(runs, rs, 'ws-idiomatic', (r) => r[metric], same),
        vsSio: ratioMedian(runs, rs, 'sio', (r) => r[metric], same),
      });
    }
  }
  return { runs, rows };
}

export function fmtRate(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(x >= 1e5 ? 0 : 1)}k`;
  return x.toFixed(0);
}
