// Issue 20: what metrics cost on the hot path. Fan-out (one publisher, N subscribers) and ingest (10 publishers,
// 10 subscribers, every message persisted) on msghub with metrics off and on, interleaved in every repetition
// (the order alternates), same machine, same run. "On" is `msghub serve --metrics-port 0` (the registry with
// Node's process metrics) scraped by this driver once a second during the whole window, as a Prometheus server
// would (every 15 s usually: this is 15× harsher). The hot-path counters themselves are always on (plain integer
// adds): "off" pays them too; an A/B against a build without them is BENCH_DIST (see bench/lib/servers.mjs).
//
//   node bench/run.mjs --quick --only metrics [--reps N]
//
// BENCH_METRICS_VARIANT picks what "on" is, to tell the costs apart: `scraped` (the default, as above),
// `no-process` (scraped, without Node's process metrics: `metrics: {port: 0, process: false}`), `idle` (the registry with
// process metrics, never scraped).
import { closedLoop } from '../lib/common.mjs';
import { startLoadgen } from '../lib/loadgen.mjs';
import { median, minMax } from '../lib/proc.mjs';
import { startServer } from '../lib/servers.mjs';

const SCRAPE_MS = 1000;
const VARIANT = process.env.BENCH_METRICS_VARIANT ?? 'scraped';
if (!['scraped', 'no-process', 'idle'].includes(VARIANT)) throw new Error(`BENCH_METRICS_VARIANT: scraped, no-process or idle, not ${VARIANT}`);

async function once(ctx, metricsOn, load) {
  const config = metricsOn && VARIANT === 'no-process' ? { metrics: { port: 0, process: false } } : {};
  const server = await startServer('msghub', { dir: ctx.tmp(`metrics-${metricsOn ? 'on' : 'off'}`), config, cliArgs: metricsOn ? ['--metrics-port', '0'] : [] });
  let lg;
  let scrapes = 0;
  let scrapeBytes = 0;
  let timer = null;
  try {
    if (metricsOn && !server.metricsUrl) throw new Error('msghub did not print its metrics address');
    if (metricsOn && VARIANT !== 'idle') {
      const scrape = async () => {
        const res = await fetch(server.metricsUrl);
        scrapeBytes += (await res.text()).length;
        if (res.status !== 200) throw new Error(`scrape: ${res.status}`);
        scrapes++;
      };
      await scrape();
      timer = setInterval(() => scrape().catch((err) => ctx.fail('metrics scrape', err)), SCRAPE_MS);
    }
    lg = await startLoadgen(ctx.loadgen, { port: server.port, proto: 'ws' });
    const m = await closedLoop(server, lg, 'msghub', load);
    return { ...m, scrapes, scrapeBytes: scrapes ? Math.round(scrapeBytes / scrapes) : 0 };
  } finally {
    if (timer) clearInterval(timer);
    await lg?.stop();
    await server.stop();
  }
}

export async function runMetrics(ctx) {
  const { reps, fanout, ingest } = ctx.cfg.metrics;
  const loads = [
    { name: 'fanout', rate: (m) => m.deliveriesPerS, unit: 'deliveries/s', load: { subs: fanout.n, pubs: 1, window: 16, warmMs: fanout.warmMs, secsMs: fanout.secsMs } },
    { name: 'ingest', rate: (m) => m.deliveriesPerS / ingest.subs, unit: 'msgs/s', load: { subs: ingest.subs, pubs: ingest.pubs, window: ingest.window, warmMs: ingest.warmMs, secsMs: ingest.secsMs } },
  ];
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const l of loads) {
      // Alternate which goes first, so a drift in machine load does not favour one side.
      const order = rep % 2 === 0 ? [false, true] : [true, false];
      for (const on of order) {
        try {
          const m = await once(ctx, on, l.load);
          const rate = l.rate(m);
          // Per CPU-second of the server: on this shared 2-core machine the server often gets a fraction of its core,
          // so throughput alone mostly measures the neighbours; work per CPU-second is what metrics can change.
          const perCpu = m.serverCpu?.total ? rate / (m.serverCpu.total / 100) : null;
          runs.push({ rep, scenario: l.name, metrics: on, rate, perCpu, serverCpu: m.serverCpu?.total, scrapes: m.scrapes, scrapeBytes: m.scrapeBytes });
          ctx.progress(`metrics ${l.name} ${on ? 'on ' : 'off'}: ${rate.toFixed(0)} ${l.unit}, server CPU ${m.serverCpu?.total.toFixed(0)}%${on ? `, ${m.scrapes} scrapes of ${m.scrapeBytes} bytes` : ''}`);
        } catch (err) {
          ctx.fail(`metrics ${l.name} ${on ? 'on' : 'off'}`, err);
        }
      }
    }
  }
  const rows = loads.map((l) => {
    const ratios = [];
    const cpuRatios = [];
    for (let rep = 0; rep < reps; rep++) {
      const on = runs.find((r) => r.rep === rep && r.scenario === l.name && r.metrics);
      const off = runs.find((r) => r.rep === rep && r.scenario === l.name && !r.metrics);
      if (on && off && off.rate > 0) ratios.push(on.rate / off.rate);
      if (on?.perCpu && off?.perCpu) cpuRatios.push(on.perCpu / off.perCpu);
    }
    const of = (on, k = 'rate') => runs.filter((r) => r.scenario === l.name && r.metrics === on).map((r) => r[k]);
    return {
      scenario: l.name,
      unit: l.unit,
      off: median(of(false)),
      on: median(of(true)),
      ratio: median(ratios),
      ratios,
      range: minMax(ratios),
      offPerCpu: median(of(false, 'perCpu')),
      onPerCpu: median(of(true, 'perCpu')),
      cpuRatio: median(cpuRatios),
      cpuRatios,
    };
  });
  for (const r of rows) {
    ctx.progress(
      `metrics ${r.scenario}: on/off ${r.ratio?.toFixed(3)} (per rep ${r.ratios.map((x) => x.toFixed(3)).join(', ')}); per server CPU-second ${r.cpuRatio?.toFixed(3)} (per rep ${r.cpuRatios.map((x) => x.toFixed(3)).join(', ')})`,
    );
  }
  return { runs, rows };
}
