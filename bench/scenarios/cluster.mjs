// Scenario 8 (issue 16): msghub beyond one node, every ratio against a baseline measured in the same repetition.
//
//   a. fan-out, one node, the Redis bus ÷ the local bus (SQLite store both): what publishing each batch to Redis,
//      and dropping its echo, costs a node's own subscribers (target ≥ 0.8);
//   b. latency, N subscribers at a fixed rate: publisher on node A, subscribers on node B (two `msghub serve`
//      processes on one SQLite file, the Redis bus between them) ÷ the same on one node with the local bus
//      (target p99 ≤ 1.5×);
//   c. fan-out, one node, PostgreSQL ÷ SQLite as the store (local bus both; target ≥ 0.8);
//   d. ingest on PostgreSQL (P publishers, S subscribers, closed loop) ÷ a raw `pg` batched insert of the same rows
//      (bench/workers/pg-raw.mjs: multi-row INSERTs, one transaction per as many rows as msghub's transactions held;
//      target ≥ 0.5).
//
// Services: the machine's Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/14: a database number of the
// bench's own, flushed before use) and PostgreSQL (BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/test:
// a table of the bench's own per server start, `bench_c<pid>_<n>`, dropped after with its rows in msghub's shared
// tables). A missing service is reported and its measurements are skipped; the bench does not fail for it.
//
// Pinning: the server under test (node B in b.) on CPU 0 like every scenario; node A in b. (100 commits/s, light)
// shares CPU 1 with the load generator. Redis and PostgreSQL are the machine's own processes, not pinned.
import path from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { closedLoop, connect, runWorker, windowEnd, windowStart } from '../lib/common.mjs';
import { startLoadgen } from '../lib/loadgen.mjs';
import { median, minMax, sleep } from '../lib/proc.mjs';
import { ROOT, startServer } from '../lib/servers.mjs';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14';
const PG_URL = process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
/** A URL as printed: never its password. */
const shown = (u) => u.replace(/\/\/[^@/]*@/, '//…@');

/**
 * Preloaded into msghub on PostgreSQL (after bench/lib/probe.mjs): counts `pg` statements by their first word
 * (BEGIN, SAVEPOINT, INSERT, COMMIT…) and adds them to the `sql` of the probe's answers, as the probe does for
 * SQLite. `TXN` counts transactions (a BEGIN, or a statement sent outside one, which PostgreSQL commits on its
 * own: msghub's one-statement batches), and `txnPerMsg` is taken from it: the batch size the raw insert must use.
 * (Reads outside a transaction, such as a gap fill, count too; the window has none unless something went wrong.)
 * It wraps `process.send`
 * because the probe owns the IPC answers; a `reset` clears the counts after the probe has answered it.
 */
const PG_COUNTER = `data:text/javascript,${encodeURIComponent(`
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))});
const counts = {};
const { Client } = require('pg');
const query = Client.prototype.query;
const inTxn = new WeakSet();
Client.prototype.query = function (config, ...rest) {
  const text = typeof config === 'string' ? config : config && config.text;
  const m = /^\\s*(\\w+)/.exec(text || '');
  const k = m ? m[1].toUpperCase() : '?';
  counts[k] = (counts[k] || 0) + 1;
  // TXN: transactions, whether BEGIN … COMMIT or one statement committed on its own (outside BEGIN).
  if (k === 'BEGIN') inTxn.add(this), (counts.TXN = (counts.TXN || 0) + 1);
  else if (k === 'COMMIT' || k === 'ROLLBACK') inTxn.delete(this);
  else if (!inTxn.has(this)) counts.TXN = (counts.TXN || 0) + 1;
  return query.call(this, config, ...rest);
};
if (process.send) {
  const send = process.send.bind(process);
  process.send = (m, ...rest) => send(m && m.rid !== undefined && m.sql ? { ...m, sql: { ...m.sql, ...counts } } : m, ...rest);
  process.on('message', (m) => { if (m && m.cmd === 'reset') for (const k of Object.keys(counts)) delete counts[k]; });
}
`)}`;

/** Redis answers and its database is flushed: { ok } or { ok: false, why }. */
async function redisCheck(url) {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  // ioredis rejects with "Connection is closed."; the cause (ECONNREFUSED, a timeout) is in its error event.
  let cause;
  r.on('error', (err) => (cause ??= err));
  try {
    await r.connect();
    await r.flushdb();
    return { ok: true };
  } catch (err) {
    return { ok: false, why: String(cause?.message ?? err?.message ?? err) };
  } finally {
    r.disconnect();
  }
}

async function withPg(url, fn) {
  const db = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  db.on('error', () => {});
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end().catch(() => {});
  }
}

async function pgCheck(url) {
  try {
    await withPg(url, (db) => db.query('SELECT 1'));
    return { ok: true };
  } catch (err) {
    return { ok: false, why: String(err?.message ?? err) };
  }
}

/** Drops a table of the bench's and its rows in msghub's shared tables (each statement on its own: some may not exist). */
async function pgDrop(url, table) {
  await withPg(url, async (db) => {
    await db.query(`DROP TABLE IF EXISTS "${table}"`).catch(() => {});
    for (const shared of ['msghub_events', 'msghub_seq', 'msghub_cursors']) await db.query(`DELETE FROM "${shared}" WHERE tbl = $1`, [table]).catch(() => {});
  }).catch(() => {});
}

/** Transactions per message from PG_COUNTER's `TXN` (then dropped from the statements per message it is not one of). */
function pgTxns(m) {
  const txn = m.sqlPerMsg?.TXN;
  if (txn === undefined) return m;
  const { TXN, ...sqlPerMsg } = m.sqlPerMsg;
  return { ...m, txnPerMsg: TXN, sqlPerMsg };
}

/** One closed-loop fan-out window (1 publisher, `n` subscribers) on a fresh node. */
async function fanoutOnce(ctx, name, config, nodeArgs = []) {
  const { n, warmMs, secsMs } = ctx.cfg.cluster.fanout;
  const window = n <= 100 ? 32 : n <= 1000 ? 16 : 8;
  const server = await startServer('msghub', { dir: ctx.tmp(name), config, nodeArgs });
  let lg;
  try {
    lg = await startLoadgen(ctx.loadgen, { port: server.port });
    return pgTxns(await closedLoop(server, lg, 'msghub', { subs: n, pubs: 1, window, warmMs, secsMs }));
  } finally {
    await lg?.stop();
    await server.stop();
  }
}

/** Open-loop latency: one node (local bus), or node A publishing and node B serving the subscribers (Redis bus). */
async function latencyOnce(ctx, cross) {
  const { n, rate, warmMs, secsMs } = ctx.cfg.cluster.latency;
  const dir = ctx.tmp(cross ? 'cluster-cross' : 'cluster-one');
  const config = cross ? { bus: REDIS_URL } : {};
  const nodes = [];
  let lg;
  try {
    const b = await startServer('msghub', { dir, config, cpu: 0 });
    nodes.push(b);
    const a = cross ? await startServer('msghub', { dir, config, cpu: 1 }) : null;
    if (a) nodes.push(a);
    lg = await startLoadgen(ctx.loadgen, { port: b.port, pubPort: a?.port ?? 0 });
    await connect(lg, 'msghub', { subs: n, pubs: 1 });
    await sleep(200);
    await lg.cmd(`rate ${rate}`);
    await sleep(warmMs);
    await lg.cmd('record on');
    const start = await windowStart(b, lg);
    await sleep(secsMs);
    const m = await windowEnd(b, lg, start);
    await lg.cmd('record off');
    const lat = await lg.cmd('lat');
    const drain = await lg.cmd('stop', 20000);
    return { ...m, lat, undelivered: drain.undelivered, sustained: drain.ok === 1 && m.deliveriesPerS >= 0.97 * rate * n };
  } finally {
    await lg?.stop();
    for (const s of nodes.reverse()) await s.stop();
  }
}

let tables = 0;
const pgTable = () => `bench_c${process.pid}_${++tables}`;

/** Ingest on PostgreSQL, then the raw insert of the rows it stored; the table is dropped after. */
async function ingestPg(ctx) {
  const { pubs, subs, window, warmMs, secsMs } = ctx.cfg.cluster.ingest;
  const table = pgTable();
  try {
    const server = await startServer('msghub', { dir: ctx.tmp('cluster-ingest-pg'), config: { url: PG_URL, table }, nodeArgs: ['--import', PG_COUNTER] });
    let lg;
    let m;
    try {
      lg = await startLoadgen(ctx.loadgen, { port: server.port });
      m = pgTxns(await closedLoop(server, lg, 'msghub', { subs, pubs, window, warmMs, secsMs }));
    } finally {
      await lg?.stop();
      await server.stop();
    }
    // msghub's messages per transaction (counted in the server by PG_COUNTER)
    const batch = Math.max(1, Math.round(m.txnPerMsg ? 1 / m.txnPerMsg : 100));
    const stored = await withPg(PG_URL, async (db) => Number((await db.query(`SELECT count(*) AS c FROM "${table}"`)).rows[0].c));
    const raw = await runWorker(path.join(ROOT, 'bench', 'workers', 'pg-raw.mjs'), [PG_URL, table, String(batch)], { timeoutMs: 300000 });
    return { ...m, msgsPerS: m.deliveriesPerS / subs, sentPerS: m.msgsPerS, batch, stored, raw };
  } finally {
    await pgDrop(PG_URL, table);
  }
}

export async function runCluster(ctx) {
  const { reps } = ctx.cfg.cluster;
  const redis = await redisCheck(REDIS_URL);
  const pgs = await pgCheck(PG_URL);
  const skipped = [];
  if (!redis.ok) skipped.push(`Redis not reachable at ${shown(REDIS_URL)} (${redis.why}): the Redis bus fan-out and the cross-node latency were skipped`);
  if (!pgs.ok) skipped.push(`PostgreSQL not reachable at ${shown(PG_URL)} (${pgs.why}): the PostgreSQL fan-out and ingest were skipped`);
  for (const s of skipped) ctx.progress(`cluster: ${s}`);
  const runs = [];
  if (!redis.ok && !pgs.ok) return { skipped, runs, summary: null };
  // BENCH_CLUSTER_STEPS=fanout-local,fanout-pg: only those steps (to measure one change, or profile one server
  // with BENCH_NODE_ARGS); the targets of steps left out are then not measured.
  const steps = process.env.BENCH_CLUSTER_STEPS?.split(',');

  const step = async (what, fn, line) => {
    if (steps && !steps.includes(what)) return;
    try {
      const r = await fn();
      runs.push({ what, ...r });
      ctx.progress(`cluster ${what}: ${line(r)}`);
    } catch (err) {
      ctx.fail(`cluster ${what}`, err);
    }
  };
  const fanLine = (r) => `${Math.round(r.deliveriesPerS)} deliveries/s, server CPU ${r.serverCpu?.total.toFixed(0)}%${r.undelivered ? `, ${r.undelivered} UNDELIVERED` : ''}`;
  const latLine = (r) => `p50 ${r.lat.p50} ms, p99 ${r.lat.p99} ms, max ${r.lat.max} ms, node CPU ${r.serverCpu?.total.toFixed(0)}%${r.sustained ? '' : ' (NOT sustained)'}`;
  for (let rep = 0; rep < reps; rep++) {
    const tag = (r) => ({ rep, ...r });
    await step('fanout-local', async () => tag(await fanoutOnce(ctx, 'cluster-fanout-local', {})), fanLine);
    if (redis.ok) await step('fanout-redis', async () => tag(await fanoutOnce(ctx, 'cluster-fanout-redis', { bus: REDIS_URL })), fanLine);
    if (pgs.ok) {
      await step(
        'fanout-pg',
        async () => {
          const table = pgTable();
          try {
            return tag(await fanoutOnce(ctx, 'cluster-fanout-pg', { url: PG_URL, table }, ['--import', PG_COUNTER]));
          } finally {
            await pgDrop(PG_URL, table);
          }
        },
        fanLine,
      );
    }
    if (redis.ok) {
      await step('latency-one', async () => tag(await latencyOnce(ctx, false)), latLine);
      await step('latency-cross', async () => tag(await latencyOnce(ctx, true)), latLine);
    }
    if (pgs.ok) {
      await step('ingest-pg', async () => tag(await ingestPg(ctx)), (r) =>
        `${r.msgsPerS.toFixed(0)} msgs/s persisted+broadcast (${r.batch}/txn, CPU ${r.serverCpu?.total.toFixed(0)}%); raw pg ${r.raw.rowsOnly?.rowsPerS.toFixed(0)} rows/s, with event rows ${r.raw.withEvents?.rowsPerS.toFixed(0)}/s; stored ${r.stored}/${r.sentTotal}`,
      );
    }
  }
  return { skipped, runs, summary: summarise(ctx.cfg.cluster, runs) };
}

function summarise(cfg, runs) {
  const of = (what) => runs.filter((r) => r.what === what);
  /** Median over repetitions of (a's metric ÷ b's metric in the same repetition). */
  const ratio = (a, b, get) =>
    median(
      of(a)
        .map((r) => {
          const o = of(b).find((x) => x.rep === r.rep);
          return o && get(o) > 0 ? get(r) / get(o) : null;
        })
        .filter((v) => v !== null),
    );
  const fan = (what) => {
    const rs = of(what);
    if (!rs.length) return null;
    return {
      runs: rs.length,
      deliveriesPerS: median(rs.map((r) => r.deliveriesPerS)),
      range: minMax(rs.map((r) => r.deliveriesPerS)),
      msgsPerS: median(rs.map((r) => r.msgsPerS)),
      serverCpu: median(rs.map((r) => r.serverCpu?.total)),
      txnPerMsg: median(rs.map((r) => r.txnPerMsg)),
      undelivered: Math.max(...rs.map((r) => r.undelivered ?? 0)),
    };
  };
  const lat = (what) => {
    const rs = of(what);
    if (!rs.length) return null;
    const p = (k) => median(rs.map((r) => r.lat[k]));
    return {
      runs: rs.length,
      p50: p('p50'),
      p90: p('p90'),
      p99: p('p99'),
      p99Range: minMax(rs.map((r) => r.lat.p99)),
      p999: p('p999'),
      max: p('max'),
      serverCpu: median(rs.map((r) => r.serverCpu?.total)),
      sustained: rs.every((r) => r.sustained),
      undelivered: Math.max(...rs.map((r) => r.undelivered ?? 0)),
    };
  };
  const ing = of('ingest-pg');
  return {
    n: cfg.fanout.n,
    latency: { n: cfg.latency.n, rate: cfg.latency.rate },
    ingestShape: { pubs: cfg.ingest.pubs, subs: cfg.ingest.subs },
    fanoutLocal: fan('fanout-local'),
    fanoutRedis: fan('fanout-redis'),
    fanoutPg: fan('fanout-pg'),
    redisVsLocal: ratio('fanout-redis', 'fanout-local', (r) => r.deliveriesPerS),
    pgVsSqlite: ratio('fanout-pg', 'fanout-local', (r) => r.deliveriesPerS),
    latencyOne: lat('latency-one'),
    latencyCross: lat('latency-cross'),
    crossVsOneP99: ratio('latency-cross', 'latency-one', (r) => r.lat.p99),
    ingestPg: ing.length
      ? {
          runs: ing.length,
          msgsPerS: median(ing.map((r) => r.msgsPerS)),
          range: minMax(ing.map((r) => r.msgsPerS)),
          serverCpu: median(ing.map((r) => r.serverCpu?.total)),
          batch: median(ing.map((r) => r.batch)),
          sqlPerMsg: ing[0].sqlPerMsg,
          rawRowsPerS: median(ing.map((r) => r.raw?.rowsOnly?.rowsPerS)),
          rawWithEventsPerS: median(ing.map((r) => r.raw?.withEvents?.rowsPerS)),
          vsRaw: median(ing.map((r) => (r.raw?.rowsOnly?.rowsPerS ? r.msgsPerS / r.raw.rowsOnly.rowsPerS : null)).filter((v) => v !== null)),
          vsRawWithEvents: median(ing.map((r) => (r.raw?.withEvents?.rowsPerS ? r.msgsPerS / r.raw.withEvents.rowsPerS : null)).filter((v) => v !== null)),
          allStored: ing.every((r) => r.stored === r.sentTotal && r.undelivered === 0),
          stored: ing.map((r) => `${r.stored}/${r.sentTotal}`),
        }
      : null,
  };
}
