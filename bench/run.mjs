#!/usr/bin/env node
// msghub benchmark: every scenario of docs/performance.md against msghub and, in the same run on the same
// machine, against bare `ws` (idiomatic and best possible) and Socket.IO.
//
//   npm run bench                      full mode: medians of 5 runs (about 15 minutes)
//   npm run bench -- --quick           one short run per scenario (under 3 minutes)
//   node bench/run.mjs --quick --smoke tiny sizes (about a minute): exits non-zero if anything crashed (CI)
//   options: --only fanout,latency,ingest,replay,conn,slow,cluster,micro,metrics   --reps N   --write-doc   --no-pin
//   metrics (issue 20) runs only when named in --only: fan-out and ingest with metrics off and on, same run
//   cluster uses Redis (BENCH_REDIS_URL) and PostgreSQL (BENCH_PG_URL): see bench/scenarios/cluster.mjs
//   node bench/render.mjs <results.json> [--write-doc]   re-renders a saved run's tables (and targets)
//
// The server under test runs on CPU 0 (taskset), the C load generator (bench/loadgen.c, compiled now with gcc
// into a temporary directory) and this driver on CPU 1. All traffic is on 127.0.0.0/8. Every child process is
// killed at the end, also on failure; each also exits by itself if this driver disappears.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildLoadgen } from './lib/loadgen.mjs';
import { killAll, setPinning } from './lib/proc.mjs';
import { renderMarkdown, targets, writeDoc } from './lib/report.mjs';
import { ROOT } from './lib/servers.mjs';
import { runWorker } from './lib/common.mjs';
import { runConnections } from './scenarios/connections.mjs';
import { runFanout, runLatency } from './scenarios/fanout.mjs';
import { runIngest } from './scenarios/ingest.mjs';
import { runReplay } from './scenarios/replay.mjs';
import { runSlow } from './scenarios/slow.mjs';
import { runCluster } from './scenarios/cluster.mjs';
import { runMetrics } from './scenarios/metrics.mjs';

const argv = process.argv.slice(2);
const has = (flag) => argv.includes(flag);
const opt = (name) => {
  const i = argv.findIndex((a) => a === name || a.startsWith(name + '='));
  if (i < 0) return undefined;
  return argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
};
const smoke = has('--smoke');
const quick = has('--quick') || smoke;
const mode = smoke ? 'smoke' : quick ? 'quick' : 'full';
const only = opt('--only')?.split(',');
const wanted = (s) => !only || only.includes(s);

const CFG = {
  full: {
    reps: 5,
    fanout: { ns: [1000, 5000], warmMs: 1000, secsMs: 3000 },
    latency: { n: 1000, rates: [100, 1000], warmMs: 1000, secsMs: 4000 },
    ingest: { pubs: 10, subs: 10, window: 320, warmMs: 1000, secsMs: 3000 },
    replay: { rows: 100000, liveSubs: 20, liveRate: 200, baselineMs: 2000 },
    conn: { n: 20000, conc: 100, warm: 1000 },
    slow: { subs: 50, rate: 2000, phaseMs: 3000, maxWaitMs: 40000 },
    cluster: {
      fanout: { n: 1000, warmMs: 1000, secsMs: 3000 },
      latency: { n: 1000, rate: 100, warmMs: 1000, secsMs: 4000 },
      ingest: { pubs: 10, subs: 10, window: 320, warmMs: 1000, secsMs: 3000 },
    },
  },
  quick: {
    reps: 1,
    fanout: { ns: [1000, 5000], warmMs: 500, secsMs: 2000 },
    latency: { n: 1000, rates: [100, 1000], warmMs: 500, secsMs: 2000 },
    ingest: { pubs: 10, subs: 10, window: 320, warmMs: 500, secsMs: 2000 },
    replay: { rows: 100000, liveSubs: 20, liveRate: 200, baselineMs: 1000 },
    conn: { n: 20000, conc: 100, warm: 500 },
    slow: { subs: 50, rate: 2000, phaseMs: 2000, maxWaitMs: 30000 },
    cluster: {
      fanout: { n: 1000, warmMs: 500, secsMs: 2000 },
      latency: { n: 1000, rate: 100, warmMs: 500, secsMs: 2000 },
      ingest: { pubs: 10, subs: 10, window: 320, warmMs: 500, secsMs: 2000 },
    },
  },
  smoke: {
    reps: 1,
    fanout: { ns: [50], warmMs: 200, secsMs: 400 },
    latency: { n: 50, rates: [100], warmMs: 200, secsMs: 400 },
    ingest: { pubs: 2, subs: 2, window: 32, warmMs: 200, secsMs: 400 },
    replay: { rows: 2000, liveSubs: 2, liveRate: 100, baselineMs: 300 },
    conn: { n: 200, conc: 50, warm: 20 },
    slow: { subs: 5, rate: 10000, phaseMs: 300, maxWaitMs: 15000, maxBufferedBytes: 256 * 1024 },
    cluster: {
      fanout: { n: 50, warmMs: 200, secsMs: 400 },
      latency: { n: 50, rate: 100, warmMs: 200, secsMs: 400 },
      ingest: { pubs: 2, subs: 2, window: 32, warmMs: 200, secsMs: 400 },
    },
  },
}[mode];
const reps = Number(opt('--reps') ?? CFG.reps);
// Metrics on/off (bench/scenarios/metrics.mjs): fan-out at N=1000 and ingest, with this mode's window lengths.
// BENCH_METRICS_SECS lengthens both measurement windows (seconds), to resolve a few percent on a noisy machine.
CFG.metrics = { fanout: { n: CFG.fanout.ns[0], warmMs: CFG.fanout.warmMs, secsMs: CFG.fanout.secsMs }, ingest: { ...CFG.ingest } };
if (process.env.BENCH_METRICS_SECS) for (const k of ['fanout', 'ingest']) CFG.metrics[k].secsMs = 1000 * Number(process.env.BENCH_METRICS_SECS);
for (const k of ['fanout', 'latency', 'ingest', 'replay', 'conn', 'slow', 'cluster', 'metrics']) CFG[k].reps = reps;

// 20k connections need more descriptors than the usual default: re-run ourselves under `ulimit -n 65536`.
function nofile() {
  try {
    return Number(/Max open files\s+(\d+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 1024);
  } catch {
    return 1024;
  }
}
const needFds = CFG.conn.n + 100;
if (wanted('conn') && nofile() < needFds && !process.env.BENCH_ULIMIT_RAISED) {
  const r = spawnSync(
    'bash',
    ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'bash', process.execPath, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, BENCH_ULIMIT_RAISED: '1' } },
  );
  process.exit(r.status ?? 1);
}
if (wanted('conn') && nofile() < needFds) {
  CFG.conn.n = Math.max(100, nofile() - 100);
  console.error(`bench: only ${nofile()} file descriptors allowed; holding ${CFG.conn.n} connections instead`);
}

const nproc = os.availableParallelism?.() ?? os.cpus().length;
if (nproc < 2 || has('--no-pin')) setPinning(false);
else {
  try {
    execFileSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  } catch {}
}



const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'msghub-bench-'));
const started = Date.now();
const LIMIT_S = { full: 3600, quick: 420, smoke: 180 }[mode];
const watchdog = setTimeout(async () => {
  console.error(`bench: over the ${LIMIT_S} s limit of ${mode} mode; stopping everything`);
  await killAll();
  fs.rmSync(tmpRoot, { recursive: true, force: true });
  process.exit(3);
}, LIMIT_S * 1000);
watchdog.unref();
let tmpN = 0;
const errors = [];
const ctx = {
  mode,
  cfg: CFG,
  tmp: (name) => {
    const d = path.join(tmpRoot, `${++tmpN}-${name}`);
    fs.mkdirSync(d, { recursive: true });
    return d;
  },
  progress: (line) => console.error(`  ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s  ${line}`),
  fail: (what, err) => {
    errors.push({ what, message: String(err?.stack ?? err) });
    console.error(`  FAILED ${what}: ${err?.stack ?? err}`);
  },
};

function gitCommit() {
  try {
    const c = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${c} + uncommitted src changes` : c;
  } catch {
    return 'unknown';
  }
}

const results = {
  meta: {
    date: new Date().toISOString(),
    mode,
    reps,
    command: `node bench/run.mjs ${argv.join(' ')}`.trim(),
    nproc,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    commit: gitCommit(),
  },
  cfg: CFG,
};

let code = 0;
try {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) {
    console.error('bench: dist/ is missing; building (npx tsc -p tsconfig.build.json)');
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  }
  ctx.loadgen = buildLoadgen(tmpRoot);
  console.error(`bench: ${mode} mode, ${reps} run(s) per measurement; ${nproc} CPUs; ${results.meta.cpu}; Node ${process.version}`);
  const step = async (name, key, fn) => {
    if (!wanted(name)) return;
    try {
      results[key] = await fn(ctx);
    } catch (err) {
      ctx.fail(name, err);
    }
    await killAll();
  };
  await step('fanout', 'fanout', (c) => runFanout({ ...c, cfg: { fanout: { ...CFG.fanout, reps } } }));
  await step('latency', 'latency', (c) => runLatency({ ...c, cfg: { latency: { ...CFG.latency, reps } } }));
  await step('ingest', 'ingest', (c) => runIngest({ ...c, cfg: { ingest: { ...CFG.ingest, reps } } }));
  await step('replay', 'replay', (c) => runReplay({ ...c, cfg: { replay: { ...CFG.replay, reps } } }));
  await step('conn', 'connections', (c) => runConnections({ ...c, cfg: { conn: { ...CFG.conn, reps: Math.min(reps, 5) } } }));
  await step('slow', 'slow', (c) => runSlow({ ...c, cfg: { slow: { ...CFG.slow, reps } } }));
  await step('cluster', 'cluster', (c) => runCluster({ ...c, cfg: { cluster: { ...CFG.cluster, reps } } }));
  // Only when asked for by name: it repeats fan-out and ingest, and has no table of its own in the report.
  if (only?.includes('metrics')) await step('metrics', 'metrics', (c) => runMetrics({ ...c, cfg: { metrics: { ...CFG.metrics, reps } } }));
  await step('micro', 'micro', async () => {
    const micro = await runWorker(path.join(ROOT, 'bench', 'workers', 'micro.mjs'), smoke ? ['--smoke'] : quick ? ['--quick'] : [], { nodeArgs: ['--expose-gc'], timeoutMs: 300000 });
    if (micro.errors) for (const [k, v] of Object.entries(micro.errors)) ctx.fail(`micro ${k}`, v);
    // The expression helper's own benchmark, when present.
    const expr = path.join(ROOT, 'bench', 'expr.mjs');
    if (fs.existsSync(expr)) {
      try {
        results.expr = await runWorker(expr, [], { timeoutMs: 120000, env: smoke ? { ITERATIONS: '20000' } : quick ? { ITERATIONS: '100000' } : {} });
      } catch (err) {
        ctx.fail('bench/expr.mjs', err);
      }
    }
    ctx.progress(`micro: ${JSON.stringify(micro)}`);
    return micro;
  });
} catch (err) {
  ctx.fail('bench', err);
} finally {
  await killAll();
}

results.errors = errors;
results.targets = targets(results);
results.elapsedS = (Date.now() - started) / 1000;
const md = renderMarkdown(results);
console.log('\n' + md);

const outDir = path.join(ROOT, 'bench', 'results');
fs.mkdirSync(outDir, { recursive: true });
const file = path.join(outDir, `${results.meta.date.replace(/[:.]/g, '-')}-${mode}.json`);
fs.writeFileSync(file, JSON.stringify(results, null, 1));
fs.writeFileSync(path.join(outDir, `latest-${mode}.json`), JSON.stringify(results, null, 1));
console.error(`bench: results in ${path.relative(process.cwd(), file)}; ${results.elapsedS.toFixed(0)} s in all`);

if (has('--write-doc')) writeDoc(md);

fs.rmSync(tmpRoot, { recursive: true, force: true });
if (errors.length) code = 1;
process.exit(code);
