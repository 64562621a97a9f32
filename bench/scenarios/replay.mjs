// Scenario 4: history replay from a 100k-row table (history_limit: 100000) while live fan-out goes on.
// A subscriber with a 2%-selective filter and one with none connect; we time their first frame and their
// rows/s, compare the rate with the query-only rate of the SELECT returning the same rows (same core, same
// file, no server running), and watch the publish→receipt latency of the live subscribers meanwhile.
import path from 'node:path';
import { runWorker } from '../lib/common.mjs';
import { startLoadgen } from '../lib/loadgen.mjs';
import { median, minMax, sleep } from '../lib/proc.mjs';
import { ROOT, startServer } from '../lib/servers.mjs';

const DB_WORKER = path.join(ROOT, 'bench', 'workers', 'replay-db.mjs');

export async function runReplay(ctx) {
  const { reps, rows, liveSubs, liveRate, baselineMs } = ctx.cfg.replay;
  const dir = ctx.tmp('replay');
  const plain = { historyLimit: rows };
  // The same filter twice: as it comes, and with `indexes: [[channel]]`, as an app author who filters by
  // channel declares (msghub then indexes (channel, _seq, id)). The indexed phase runs second: the index,
  // once created, stays in the file.
  const indexed = { historyLimit: rows, indexes: [['channel']] };
  // msghub creates its own schema; then the rows go in directly (faster than publishing 100k messages).
  let server = await startServer('msghub', { dir, config: plain });
  await server.stop();
  const dbFile = path.join(dir, 'bench.db');
  const setup = await runWorker(DB_WORKER, ['setup', dbFile, String(rows)], { timeoutMs: 300000 });
  const selective = 'c7'; // channels c0..c49: 2%
  const expect2 = Math.floor(rows / 50) + (rows % 50 >= 7 ? 1 : 0);
  const cases = [
    { name: '2% filter, no index', config: plain, path: `/bench?channel=${selective}`, expect: expect2, channel: selective },
    { name: 'no filter', config: plain, path: '/bench', expect: rows, channel: '-' },
    { name: '2% filter, indexes: [[channel]]', config: indexed, path: `/bench?channel=${selective}`, expect: expect2, channel: selective },
  ];
  const runs = [];
  let baseline = null;
  for (const config of [plain, indexed]) {
    const mine = cases.filter((c) => c.config === config);
    if (config === indexed) {
      // Let msghub create the index, then time the query-only SELECT with it.
      server = await startServer('msghub', { dir, config });
      await server.stop();
    }
    for (const c of mine) c.query = await runWorker(DB_WORKER, ['query', dbFile, '5', c.channel, String(rows)], { timeoutMs: 300000 });
    ctx.progress(`replay: table of ${setup.rows} rows; query-only ${mine.map((c) => `${c.name} ${c.query.ms.toFixed(1)} ms (${(c.query.rowsPerS / 1000).toFixed(0)}k rows/s; after a commit ${c.query.afterCommit.ms.toFixed(1)} ms)`).join(', ')}`);
    const phase = await measure(ctx, { dir, config, cases: mine, reps, liveSubs, liveRate, baselineMs, wantBaseline: !baseline });
    baseline ??= phase.baseline;
    runs.push(...phase.runs);
  }
  const rowsOut = cases.map((c) => {
    const rs = runs.filter((r) => r.name === c.name);
    return {
      name: c.name,
      expect: c.expect,
      runs: rs.length,
      ok: rs.length > 0 && rs.every((r) => r.ok),
      rows: median(rs.map((r) => r.rows)),
      frames: median(rs.map((r) => r.frames)),
      firstMs: median(rs.map((r) => r.firstMs)),
      firstRange: minMax(rs.map((r) => r.firstMs)),
      doneMs: median(rs.map((r) => r.doneMs)),
      rowsPerS: median(rs.map((r) => r.rowsPerS)),
      queryMs: c.query.ms,
      queryRowsPerS: c.query.rowsPerS,
      queryColdRowsPerS: c.query.afterCommit?.rowsPerS ?? null,
      vsQueryCold: median(rs.map((r) => r.vsQueryCold)),
      queryPlan: c.query.plan,
      vsQuery: median(rs.map((r) => r.vsQuery)),
      liveMaxMs: median(rs.map((r) => r.liveMaxMs)),
      liveMaxRange: minMax(rs.map((r) => r.liveMaxMs)),
      liveP99Ms: median(rs.map((r) => r.liveP99Ms)),
      elMaxMs: median(rs.map((r) => r.elMaxMs)),
      elCpuMaxMs: median(rs.map((r) => r.elCpuMaxMs)),
    };
  });
  return { setup, baseline, runs, rows: rowsOut, sql: [...new Set(cases.map((c) => c.query.sql))] };
}

/** One server configuration: live subscribers and a publisher, then `reps` replays of each case. */
async function measure(ctx, { dir, config, cases, reps, liveSubs, liveRate, baselineMs, wantBaseline }) {
  const server = await startServer('msghub', { dir, config });
  let lg;
  const runs = [];
  let baseline = null;
  try {
    lg = await startLoadgen(ctx.loadgen, { port: server.port, proto: 'ws' });
    await lg.cmd('channel live');
    // live subscribers hear the publisher (channel=live); their history query is empty
    const r = await lg.cmd(`open sub ${liveSubs} 20 0 /bench?channel=live`, 120000);
    if (!r.ok) throw new Error(`live subscribers: ${JSON.stringify(r)}`);
    // The publisher subscribes too (every msghub connection does): with `channel=live` its own history is empty,
    // so its messages are not held back behind a 100k-row replay of its own.
    const p = await lg.cmd('open pub 1 1 0 /bench?channel=live', 30000);
    if (!p.ok) throw new Error('publisher did not connect');
    await lg.cmd(`rate ${liveRate}`);
    await sleep(1000);
    if (wantBaseline) {
      await lg.cmd('record on');
      await server.call('reset');
      await sleep(baselineMs);
      const bstats = await server.call('stats');
      await lg.cmd('record off');
      baseline = { live: await lg.cmd('lat'), elMaxMs: bstats.elMaxMs, elCpuMaxMs: bstats.elCpuMaxMs, gcMaxMs: bstats.gcMaxMs };
      ctx.progress(`replay baseline: loop max ${bstats.elMaxMs.toFixed(1)} ms (${bstats.elCpuMaxMs.toFixed(1)} on CPU; longest GC ${bstats.gcMaxMs.toFixed(1)} ms, ${bstats.gcMaxKind})`);
    }
    // One unmeasured replay of each kind first: the server's read-only replay connections and SQLite page
    // cache are then warm, as they are on a server that has been up for a while.
    for (const c of cases) await lg.cmd(`replay ${c.expect} 60000 0 ${c.path}`, 70000);
    await sleep(300);
    for (let rep = 0; rep < reps; rep++) {
      for (const c of cases) {
        await lg.cmd('record on');
        await server.call('reset');
        const res = await lg.cmd(`replay ${c.expect} 60000 0 ${c.path}`, 70000);
        // keep recording a little: live events held up by the replay arrive after it
        await sleep(300);
        const st = await server.call('stats');
        await lg.cmd('record off');
        const live = await lg.cmd('lat');
        const rowsPerS = res.done_ms > 0 ? res.rows / (res.done_ms / 1000) : null;
        runs.push({
          rep,
          name: c.name,
          ok: res.ok === 1,
          rows: res.rows,
          frames: res.frames,
          firstMs: res.first_ms,
          doneMs: res.done_ms,
          rowsPerS,
          vsQuery: rowsPerS ? rowsPerS / c.query.rowsPerS : null,
          vsQueryCold: rowsPerS && c.query.afterCommit ? rowsPerS / c.query.afterCommit.rowsPerS : null,
          gaps: res.gaps,
          liveMaxMs: live.max,
          liveP99Ms: live.p99,
          liveN: live.n,
          elMaxMs: st.elMaxMs,
          elCpuMaxMs: st.elCpuMaxMs,
        });
        ctx.progress(
          `replay ${c.name}: ${res.rows} rows in ${res.frames} frames, first frame ${res.first_ms.toFixed(1)} ms, done ${res.done_ms.toFixed(0)} ms (${rowsPerS ? (rowsPerS / 1000).toFixed(0) : '–'}k rows/s); live max ${live.max} ms, server loop max ${st.elMaxMs.toFixed(1)} ms (${st.elCpuMaxMs.toFixed(1)} ms on CPU; longest GC ${st.gcMaxMs.toFixed(1)} ms, ${st.gcMaxKind})`,
        );
        await sleep(300);
      }
    }
    await lg.cmd('stop', 20000);
  } catch (err) {
    ctx.fail('replay', err);
  } finally {
    await lg?.stop();
    await server.stop();
  }
  return { runs, baseline };
}
