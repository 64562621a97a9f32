// Turns a results object into the markdown tables printed at the end of a run and kept in docs/performance.md,
// and checks the issue's targets against the ratios measured in the same run.
import fs from 'node:fs';
import path from 'node:path';
import { LABEL, ROOT } from './servers.mjs';

const f = (x, d = 0) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const ms = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x < 10 ? x.toFixed(2) : x.toFixed(1));
const rate = (x) => {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(0)}k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
};
const range = (r, fmt = rate) => (r && r[0] !== r[1] ? ` [${fmt(r[0])}–${fmt(r[1])}]` : '');
const x = (v, d = 2) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(d)}×`);
const kb = (b) => (b === null || b === undefined || !Number.isFinite(b) ? '–' : (b / 1024).toFixed(1));

/** Every target of the issue, evaluated on this run's numbers. */
export function targets(res) {
  const t = [];
  const add = (id, what, measured, met) => t.push({ id, what, measured, met: met === null ? null : !!met });
  for (const row of res.fanout?.rows?.filter((r) => r.kind === 'msghub') ?? []) {
    add(`1 N=${row.n}`, `fan-out ≥ 0.5× best bare ws`, `${x(row.vsBest)} (${rate(row.value)}/s)`, row.vsBest === null ? null : row.vsBest >= 0.5);
    add(`1 N=${row.n}`, `fan-out ≥ 10× Socket.IO`, `${x(row.vsSio, 1)}`, row.vsSio === null ? null : row.vsSio >= 10);
  }
  const lat = (r) => res.latency?.rows?.find((x) => x.kind === 'msghub' && x.rate === r);
  const l100 = lat(100);
  const l1000 = lat(1000);
  if (l100) add('2', 'p99 at 1000 subs × 100 msgs/s ≤ 1.5× best bare ws', `${ms(l100.p99)} ms = ${x(l100.p99VsBest)}`, l100.p99VsBest === null ? null : l100.p99VsBest <= 1.5);
  if (l1000)
    add(
      '2',
      '1000 subs × 1000 msgs/s sustained, p99 ≤ 3× best bare ws',
      `${l1000.sustained ? 'sustained' : 'NOT sustained'}, ${ms(l1000.p99)} ms = ${x(l1000.p99VsBest)}`,
      l1000.p99VsBest === null ? null : l1000.sustained && l1000.p99VsBest <= 3,
    );
  const ing = res.ingest?.summary;
  if (ing) {
    add('3', 'ingest ≥ 30,000 msgs/s persisted + broadcast', `${rate(ing.msgsPerS)}/s`, ing.msgsPerS >= 30000);
    const best = res.ingest.kinds?.find((k) => k.kind === 'ws-best');
    const net = res.ingest.kinds?.find((k) => k.kind === 'net-best');
    add(
      '3',
      'ingest ≥ 0.5× raw better-sqlite3 batched insert',
      `${x(ing.vsRaw)} (rows only), ${x(ing.vsRawWithEvents)} (rows + event rows); with no database: the best bare ws server ${x(best?.vsRaw)} / ${x(best?.vsRawWithEvents)}, bare Node net with its own framing ${x(net?.vsRaw)} / ${x(net?.vsRawWithEvents)}; msghub ÷ best bare ws ${x(ing.vsBest)}`,
      ing.vsRaw === null ? null : ing.vsRaw >= 0.5,
    );
  }
  for (const r of res.replay?.rows ?? []) {
    add('4', `replay ${r.name}: first frame ≤ 10 ms`, `${ms(r.firstMs)} ms`, r.firstMs === null ? null : r.firstMs <= 10);
    add('4', `replay ${r.name}: rows/s ≥ 0.4× query-only`, `${x(r.vsQuery)} (${rate(r.rowsPerS)} vs ${rate(r.queryRowsPerS)} rows/s)`, r.vsQuery === null ? null : r.vsQuery >= 0.4);
    const base = res.replay.baseline;
    add(
      '4',
      `replay ${r.name}: live fan-out never stalls > 10 ms`,
      `server's longest stretch on CPU ${ms(r.elCpuMaxMs)} ms; wall clock: loop max ${ms(r.elMaxMs)} ms, live latency max ${ms(r.liveMaxMs)} ms${base ? ` (with no replay: on CPU ${ms(base.elCpuMaxMs)}, loop ${ms(base.elMaxMs)}, live ${ms(base.live.max)} ms)` : ''}`,
      // msghub's own stall: wall-clock maxima here include the VM's pauses of the whole process (see the probe)
      r.elCpuMaxMs === null || r.elCpuMaxMs === undefined ? null : r.elCpuMaxMs <= 10,
    );
  }
  const mh = res.connections?.rows?.find((r) => r.kind === 'msghub');
  if (mh) {
    add('5', `${mh.opened} idle connections: memory ≤ 2.5× net`, `${kb(mh.rssPerConn)} KB = ${x(mh.memVsNet)}`, mh.memVsNet === null ? null : mh.memVsNet <= 2.5);
    add('5', 'accept rate ≥ 0.4× net', `${rate(mh.acceptPerS)}/s = ${x(mh.acceptVsNet)}`, mh.acceptVsNet === null ? null : mh.acceptVsNet >= 0.4);
  }
  const s = res.slow?.summary;
  if (s) {
    add('6', "slow consumer: others' p99 rises ≤ 10%", `${ms(s.p99Before)} → ${ms(s.p99During)} ms (${f(100 * s.p99Rise, 0)}%)`, s.p99Rise === null ? null : s.p99Rise <= 0.1);
    add('6', 'slow consumer closed with 4408, queue bounded', `code ${s.closeCodes.join('/')}, after ${s.closedAfterMs ? (s.closedAfterMs / 1000).toFixed(1) + ' s' : '–'}, server heap+buffers +${(s.memRise / 2 ** 20).toFixed(1)} MiB`, s.closeCodes.length === 1 && s.closeCodes[0] === 4408);
    add('6', 'slow consumer resumes by _seq with no gap', s.resumeExact ? 'exact' : 'NOT exact', s.resumeExact);
  }
  clusterTargets(res.cluster, add);
  return t;
}

/** Issue 16's targets (scenario 8); a measurement skipped for a missing service is listed, unjudged. */
function clusterTargets(c, add) {
  if (!c) return;
  const skip = (service) => c.skipped?.find((s) => s.startsWith(service));
  const cs = c.summary;
  const judge = (v, ok) => (v === null || v === undefined ? null : ok(v));
  const n = cs?.n;
  if (skip('Redis')) {
    add('8', 'fan-out, one node: Redis bus ≥ 0.8× local bus', 'skipped: no Redis', null);
    add('8', 'cross-node p99 ≤ 1.5× one node', 'skipped: no Redis', null);
  } else if (cs) {
    add('8', `fan-out N=${n}, one node: Redis bus ≥ 0.8× local bus`, `${x(cs.redisVsLocal)} (${rate(cs.fanoutRedis?.deliveriesPerS)} vs ${rate(cs.fanoutLocal?.deliveriesPerS)}/s)`, judge(cs.redisVsLocal, (v) => v >= 0.8));
    const a = cs.latencyCross;
    const b = cs.latencyOne;
    add(
      '8',
      `cross-node p99 (${cs.latency.n} subs on node B, ${cs.latency.rate} msgs/s published on node A) ≤ 1.5× one node`,
      `${ms(a?.p99)} vs ${ms(b?.p99)} ms = ${x(cs.crossVsOneP99)}${a && !a.sustained ? ' (cross-node NOT sustained)' : ''}`,
      judge(cs.crossVsOneP99, (v) => v <= 1.5 && !!a?.sustained),
    );
  }
  if (skip('PostgreSQL')) {
    add('8', 'PostgreSQL ingest ≥ 0.5× raw pg batched insert', 'skipped: no PostgreSQL', null);
    add('8', 'PostgreSQL fan-out ≥ 0.8× SQLite', 'skipped: no PostgreSQL', null);
  } else if (cs) {
    const i = cs.ingestPg;
    add(
      '8',
      `PostgreSQL ingest (${cs.ingestShape.pubs} pubs, ${cs.ingestShape.subs} subs) ≥ 0.5× raw pg batched insert`,
      `${x(i?.vsRaw)} (${rate(i?.msgsPerS)} msgs/s vs ${rate(i?.rawRowsPerS)} rows/s at ${f(i?.batch)} rows per transaction); rows + event rows ${x(i?.vsRawWithEvents)}`,
      judge(i?.vsRaw, (v) => v >= 0.5),
    );
    add('8', `PostgreSQL fan-out N=${n} ≥ 0.8× SQLite`, `${x(cs.pgVsSqlite)} (${rate(cs.fanoutPg?.deliveriesPerS)} vs ${rate(cs.fanoutLocal?.deliveriesPerS)}/s)`, judge(cs.pgVsSqlite, (v) => v >= 0.8));
  }
}

export function renderMarkdown(res) {
  const out = [];
  const m = res.meta;
  out.push(
    `Run: \`${m.command}\` (${m.mode} mode${m.mode === 'full' ? `, medians of ${m.reps} runs` : ', one run'}), ${m.date}.`,
    `Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memGiB} GiB RAM, Linux ${m.kernel}, Node ${m.node}. Server pinned to CPU 0, load generator (C, epoll) to CPU 1. Commit ${m.commit}.`,
    '',
  );

  if (res.fanout?.rows?.length) {
    const ns = [...new Set(res.fanout.rows.map((r) => r.n))];
    out.push('### 1. Fan-out: one publisher, N subscribers, every message to all N (deliveries/s)', '');
    out.push(`| server | ${ns.map((n) => `N=${n}`).join(' | ')} | per server CPU-second (N=${ns[0]}) | server CPU % | loadgen CPU % | deliveries per write() |`);
    out.push(`|---|${ns.map(() => '---:').join('|')}|---:|---:|---:|---:|`);
    for (const kind of [...new Set(res.fanout.rows.map((r) => r.kind))]) {
      const rs = ns.map((n) => res.fanout.rows.find((r) => r.kind === kind && r.n === n));
      const r0 = rs[0];
      out.push(
        `| ${kind === 'msghub' ? '**msghub** (10 filters, persisted)' : LABEL[kind]} | ${rs.map((r) => (r ? `${rate(r.value)}${range(r.range)}` : '–')).join(' | ')} | ${rate(r0?.perCpuSec)} | ${f(r0?.serverCpu)} | ${f(r0?.loadgenCpu)} | ${f(r0?.deliveriesPerWrite, 1)} |`,
      );
    }
    const mh = ns.map((n) => res.fanout.rows.find((r) => r.kind === 'msghub' && r.n === n));
    out.push(`| msghub ÷ best bare ws | ${mh.map((r) => x(r?.vsBest)).join(' | ')} | | | | |`);
    out.push(`| msghub ÷ idiomatic ws | ${mh.map((r) => x(r?.vsIdiomatic, 1)).join(' | ')} | | | | |`);
    out.push(`| msghub ÷ Socket.IO | ${mh.map((r) => x(r?.vsSio, 1)).join(' | ')} | | | | |`);
    const r = mh[0];
    if (r) {
      const sql = r.sqlPerMsg ? Object.entries(r.sqlPerMsg).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') : '–';
      out.push('', `msghub at N=${r.n}: ${f(r.msgsPerS)} msgs/s, ${f(r.txnPerMsg ? 1 / r.txnPerMsg : null, 1)} messages per transaction; SQL statements per message: ${sql}; prepare() calls during the window: ${r.prepares}; longest event-loop delay ${ms(r.elMaxMs)} ms (${ms(r.elCpuMaxMs)} ms of it on CPU).`);
    }
    out.push('');
  }

  if (res.latency?.rows?.length) {
    out.push('### 2. Latency: 1000 subscribers, fixed publish rate, publish → receipt (ms, every delivery)', '');
    out.push('| server | msgs/s | p50 | p90 | p99 | p99.9 | max | server CPU % | p99 ÷ best bare ws |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of res.latency.rows) {
      out.push(
        `| ${r.kind === 'msghub' ? '**msghub**' : LABEL[r.kind]} | ${r.rate}${r.sustained ? '' : ' (not sustained)'} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.p99)}${range(r.p99Range, ms)} | ${ms(r.p999)} | ${ms(r.max)} | ${f(r.serverCpu)} | ${x(r.p99VsBest)} |`,
      );
    }
    out.push('');
  }

  const ing = res.ingest?.summary;
  if (ing) {
    out.push('### 3. Ingest: 10 publishers, 10 subscribers, every message broadcast (msghub: and persisted)', '');
    out.push('| server | msgs/s | server CPU % | loadgen CPU % | ÷ raw insert of the rows | ÷ raw insert of rows + event rows | msghub ÷ this server |');
    out.push('|---|---:|---:|---:|---:|---:|---:|');
    const vsMine = { msghub: null, 'ws-best': ing.vsBest, 'ws-idiomatic': ing.vsIdiomatic, sio: ing.vsSio, 'net-best': ing.vsNetBest };
    for (const k of res.ingest.kinds ?? []) {
      out.push(
        `| ${k.kind === 'msghub' ? '**msghub** (persisted)' : LABEL[k.kind]} | ${rate(k.msgsPerS)}${range(k.range)} | ${f(k.serverCpu)} | ${f(k.loadgenCpu)} | ${x(k.vsRaw)} | ${x(k.vsRawWithEvents)} | ${k.kind === 'msghub' ? '' : x(vsMine[k.kind])} |`,
      );
    }
    out.push('', '| msghub: messages per transaction | raw better-sqlite3, same rows, same batch (rows/s) | msghub ÷ raw | raw incl. event-record rows | msghub ÷ that |');
    out.push('|---:|---:|---:|---:|---:|');
    out.push(`| ${f(ing.batch)} | ${rate(ing.rawRowsPerS)} | ${x(ing.vsRaw)} | ${rate(ing.rawWithEventsPerS)} | ${x(ing.vsRawWithEvents)} |`);
    const sql = ing.sqlPerMsg ? Object.entries(ing.sqlPerMsg).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') : '–';
    out.push('', `SQL statements per message: ${sql}. Every published message was stored: ${ing.allStored ? 'yes' : 'NO'} (${ing.stored.join(', ')}).`);
    out.push(
      '',
      `Raw figures are the faster of one row per INSERT and 32 rows per INSERT (msghub's own statement for runs of POSTs): rows alone ${rate(ing.rawRowsPerRowPerS)} / ${rate(ing.rawRowsRunsPerS)}, with event-record rows ${rate(ing.rawWithEventsPerRowPerS)} / ${rate(ing.rawWithEventsRunsPerS)} rows/s.`,
      '',
    );
  }

  if (res.replay?.rows?.length) {
    const b = res.replay.baseline;
    out.push(`### 4. Replay: ${res.replay.setup?.rows ?? '?'}-row table, history_limit ${res.replay.setup?.rows ?? '?'}, while ${res.cfg?.replay?.liveSubs ?? ''} live subscribers get ${res.cfg?.replay?.liveRate ?? ''} msgs/s`, '');
    out.push('| subscriber | rows | frames | first frame ms | rows/s | query-only rows/s | ÷ query-only | query-only after a commit | ÷ that | live latency max / p99 ms | server loop max ms | longest stretch on CPU ms |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    if (b) out.push(`| (no replay: baseline) | | | | | | | | | ${ms(b.live.max)} / ${ms(b.live.p99)} | ${ms(b.elMaxMs)} | ${ms(b.elCpuMaxMs)} |`);
    for (const r of res.replay.rows) {
      out.push(
        `| ${r.name} | ${f(r.rows)} | ${f(r.frames)} | ${ms(r.firstMs)} | ${rate(r.rowsPerS)} | ${rate(r.queryRowsPerS)} | ${x(r.vsQuery)} | ${rate(r.queryColdRowsPerS)} | ${x(r.vsQueryCold)} | ${ms(r.liveMaxMs)} / ${ms(r.liveP99Ms)} | ${ms(r.elMaxMs)} | ${ms(r.elCpuMaxMs)} |`,
      );
    }
    out.push(
      '',
      `Query-only SELECTs: ${res.replay.sql.map((s) => `\`${s}\``).join('; ')}. "Query-only" is the target's figure: the same SELECT repeated on one connection with nothing committed in between, so its page cache is warm. "After a commit" runs it on a read-only connection right after another connection committed, as every replay reader of a server with live writes does: SQLite then empties that reader's page cache.`,
      '',
    );
  }

  if (res.connections?.rows?.length) {
    out.push(`### 5. Idle connections: ${res.connections.rows[0].n} WebSocket connections in one process`, '');
    out.push('| server | accepts/s | ÷ net | server CPU % while accepting | RSS per connection KB | ÷ net | JS heap per connection KB |');
    out.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const r of res.connections.rows) {
      out.push(
        `| ${r.kind === 'msghub' ? '**msghub**' : r.kind === 'ws-idiomatic' ? 'bare ws' : LABEL[r.kind]} | ${rate(r.acceptPerS)}${range(r.acceptRange)} | ${x(r.acceptVsNet)} | ${f(r.serverCpu)} | ${kb(r.rssPerConn)} | ${x(r.memVsNet)} | ${kb(r.heapPerConn)} |`,
      );
    }
    out.push('');
  }

  const s = res.slow?.summary;
  if (s) {
    out.push(`### 6. Slow consumer: ${s.subs} subscribers at ${s.rate} msgs/s, one more stops reading (max_buffered_bytes ${(s.maxBufferedBytes / 2 ** 20).toFixed(2)} MiB)`, '');
    out.push("| others' p99 before | while it is stuck | rise | closed after | close code | bytes it still received | server heap + buffers at close − before (after GC) | resume with `_since` |");
    out.push('|---:|---:|---:|---:|---:|---:|---:|---|');
    out.push(
      `| ${ms(s.p99Before)} ms | ${ms(s.p99During)} ms | ${f(100 * s.p99Rise, 0)}% | ${s.closedAfterMs ? (s.closedAfterMs / 1000).toFixed(1) + ' s' : 'not closed'} | ${s.closeCodes.join(', ')} | ${kb(s.bytesWhilePaused)} KB | ${(s.memRise / 2 ** 20).toFixed(1)} MiB | ${s.resumeExact ? 'exact: every missed event, no gap, no duplicate' : 'NOT exact'} |`,
      '',
    );
  }

  const mi = res.micro;
  if (mi) {
    out.push('### 7. Expressions, filters and the hot path (one core, in process, fastest of several rounds)', '');
    out.push('| what | cost |', '|---|---:|');
    const row = (k, v) => out.push(`| ${k} | ${v} |`);
    if (res.expr?.us_per_msg !== undefined) row('expression chain (3 POST defaults as expressions + a typical prepare), bench/expr.mjs', `${res.expr.us_per_msg} µs/msg`);
    if (mi.pipeline) {
      row('parseFrame (JSON.parse) of the 235-byte frame', `${mi.pipeline.parseUs} µs/msg`);
      row('parse + default chain (built-in id/user/timestamp, column normalisation)', `${mi.pipeline.parseAndDefaultChainUs} µs/msg`);
      row('parse + default chain + typical prepare', `${mi.pipeline.parseChainAndPrepareUs} µs/msg`);
    }
    if (mi.filters) {
      row('hub.publish, 1 filter group (predicate + one JSON.stringify)', `${mi.filters.publish1GroupUs} µs/msg`);
      row('hub.publish, 10 filter groups', `${mi.filters.publish10GroupsUs} µs/msg (${mi.filters.perExtraGroupUs} µs per extra group)`);
    }
    if (mi.encode) row('serializations per event: 10 groups, one projection / two projections', `${mi.encode.groups10SameProjection} / ${mi.encode.groups10TwoProjections}`);
    if (mi.deliver) {
      row(`per delivery, Connection → WsSocket → flush (${mi.deliver.subscribers} subscribers, ${mi.deliver.framesPerTurn} frames per turn)`, `${mi.deliver.usPerDelivery} µs`);
      row('JS heap allocated per delivery (before the turn’s flush)', `${mi.deliver.heapBytesPerDelivery} bytes`);
      row('writes per subscriber per turn / distinct buffers written per turn', `${mi.deliver.writesPerSubscriberPerTurn} / ${mi.deliver.distinctBuffersPerTurn}`);
    }
    if (mi.store) {
      row('SqliteStore.write, 1 message per transaction', `${mi.store.usPerMsgBatch1} µs/msg`);
      row('SqliteStore.write, 100 messages per transaction', `${mi.store.usPerMsgBatch100} µs/msg`);
      row('prepare() calls during writes (hot path)', `${mi.store.preparesDuringWrites}`);
    }
    if (mi.open) {
      row(`MessageHandler.open, a new subscriber (${mi.open.connections} held): no filter`, `${mi.open.noFilterUs} µs, ${mi.open.noFilterBytes} bytes retained`);
      row('… with `?channel!=zzN` (10 distinct filters among them)', `${mi.open.filterUs} µs, ${mi.open.filterBytes} bytes retained`);
    }
    out.push('');
  }

  renderCluster(res.cluster, out);

  const t = targets(res);
  if (t.length) {
    out.push('### Targets (issues 6 and 16), from this run', '');
    out.push('| # | target | measured | met |', '|---|---|---|---|');
    for (const r of t) out.push(`| ${r.id} | ${r.what} | ${r.measured} | ${r.met === null ? '–' : r.met ? 'yes' : '**no**'} |`);
    out.push('');
  }
  if (res.errors?.length) {
    out.push('### Errors', '');
    for (const e of res.errors) out.push(`- ${e.what}: ${e.message.split('\n')[0]}`);
    out.push('');
  }
  return out.join('\n');
}

/** Scenario 8: the Redis bus and PostgreSQL as the store, each against its baseline of the same run. */
function renderCluster(c, out) {
  if (!c) return;
  const cs = c.summary;
  out.push('### 8. Cluster: the Redis bus between nodes, PostgreSQL as the store (ratios within one run)', '');
  for (const s of c.skipped ?? []) out.push(`- skipped: ${s}`);
  if (c.skipped?.length) out.push('');
  if (!cs) return;
  const fan = (r) => (r ? `${rate(r.deliveriesPerS)}${range(r.range)}` : '–');
  out.push(`| fan-out, 1 publisher, ${cs.n} subscribers, one node | deliveries/s | server CPU % | messages per transaction | all delivered |`);
  out.push('|---|---:|---:|---:|---|');
  for (const [label, r] of [
    ['SQLite, local bus (the baseline)', cs.fanoutLocal],
    ['SQLite, Redis bus', cs.fanoutRedis],
    ['PostgreSQL, local bus', cs.fanoutPg],
  ]) {
    if (r) out.push(`| ${label} | ${fan(r)} | ${f(r.serverCpu)} | ${f(r.txnPerMsg ? 1 / r.txnPerMsg : null, 1)} | ${r.undelivered ? `**no** (${r.undelivered})` : 'yes'} |`);
  }
  if (cs.fanoutRedis) out.push(`| Redis bus ÷ local bus | ${x(cs.redisVsLocal)} | | | |`);
  if (cs.fanoutPg) out.push(`| PostgreSQL ÷ SQLite | ${x(cs.pgVsSqlite)} | | | |`);
  out.push('');
  if (cs.latencyOne || cs.latencyCross) {
    out.push(`| latency, ${cs.latency.n} subscribers, ${cs.latency.rate} msgs/s (ms) | p50 | p90 | p99 | p99.9 | max | subscribers' node CPU % | sustained |`);
    out.push('|---|---:|---:|---:|---:|---:|---:|---|');
    for (const [label, r] of [
      ['one node, local bus', cs.latencyOne],
      ['publisher on node A, subscribers on node B, Redis bus', cs.latencyCross],
    ]) {
      if (r) out.push(`| ${label} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.p99)}${range(r.p99Range, ms)} | ${ms(r.p999)} | ${ms(r.max)} | ${f(r.serverCpu)} | ${r.sustained ? 'yes' : '**no**'} |`);
    }
    out.push(`| cross-node p99 ÷ one node | | | ${x(cs.crossVsOneP99)} | | | | |`, '');
  }
  const i = cs.ingestPg;
  if (i) {
    out.push(`| ingest on PostgreSQL, ${cs.ingestShape.pubs} publishers, ${cs.ingestShape.subs} subscribers | msgs/s | server CPU % | messages per transaction | raw \`pg\` batched insert, rows/s | msghub ÷ raw | raw incl. event-record rows | msghub ÷ that |`);
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
    out.push(`| msghub (persisted + broadcast) | ${rate(i.msgsPerS)}${range(i.range)} | ${f(i.serverCpu)} | ${f(i.batch)} | ${rate(i.rawRowsPerS)} | ${x(i.vsRaw)} | ${rate(i.rawWithEventsPerS)} | ${x(i.vsRawWithEvents)} |`);
    const sql = i.sqlPerMsg ? Object.entries(i.sqlPerMsg).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') : '–';
    out.push('', `PostgreSQL statements per message: ${sql}. Every published message was stored: ${i.allStored ? 'yes' : 'NO'} (${i.stored.join(', ')}).`, '');
  }
}

/** Replaces the results section of docs/performance.md (between its markers) with `md`. */
export function writeDoc(md) {
  const doc = path.join(ROOT, 'docs', 'performance.md');
  const text = fs.readFileSync(doc, 'utf8');
  const begin = '<!-- bench:results:begin -->';
  const end = '<!-- bench:results:end -->';
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a >= 0 && b > a) {
    fs.writeFileSync(doc, text.slice(0, a + begin.length) + '\n' + md + '\n' + text.slice(b));
    console.error('bench: docs/performance.md updated');
  } else console.error('bench: docs/performance.md has no results markers; not updated');
}
