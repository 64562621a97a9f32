// Scenario 3: ingest. 10 publishers and 10 subscribers, closed loop, on msghub (every message persisted, then
// broadcast) and, interleaved in every repetition on the same core, on the three comparison servers (no
// persistence). Then a raw better-sqlite3 batched insert of msghub's rows into a copy of its table (same DDL, same
// pragmas), at the batch size msghub itself reached.
//
// The comparison servers bound what persistence costs: the best bare ws server's ingest is what a Node WebSocket
// server on this core reaches with no database at all, so msghub ÷ it is msghub's own overhead, and it ÷ the raw
// insert says whether "0.5× a raw insert" is reachable by any Node WebSocket server here. The net-best server
// goes further down: no `ws` and no HTTP parser at all, only what this load needs (see baselines.mjs), so it
// ÷ the raw insert bounds what any Node server could reach here even before it writes a row.
import path from 'node:path';
import Database from 'better-sqlite3';
import { closedLoop, runWorker } from '../lib/common.mjs';
import { startLoadgen } from '../lib/loadgen.mjs';
import { median, minMax } from '../lib/proc.mjs';
import { KINDS, ROOT, protoFor, startServer } from '../lib/servers.mjs';

const INGEST_KINDS = [...KINDS, 'net-best'];

/** One closed-loop window on a fresh server of `kind`; `dir` keeps msghub's database for the raw comparison. */
async function ingestOnce(ctx, kind, dir) {
  const { pubs, subs, window, warmMs, secsMs } = ctx.cfg.ingest;
  const server = await startServer(kind, { dir });
  let lg;
  try {
    lg = await startLoadgen(ctx.loadgen, { port: server.port, proto: protoFor(kind) });
    const m = await closedLoop(server, lg, kind, { subs, pubs, window, warmMs, secsMs });
    return { ...m, msgsPerS: m.deliveriesPerS / subs, sentPerS: m.msgsPerS };
  } finally {
    await lg?.stop();
    await server.stop();
  }
}

export async function runIngest(ctx) {
  const { reps, subs } = ctx.cfg.ingest;
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of INGEST_KINDS) {
      const dir = ctx.tmp(`ingest-${kind}`);
      try {
        const m = await ingestOnce(ctx, kind, dir);
        if (kind !== 'msghub') {
          runs.push({ rep, kind, ...m });
          ctx.progress(`ingest ${kind}: ${m.msgsPerS.toFixed(0)} msgs/s broadcast (CPU ${m.serverCpu?.total.toFixed(0)}%)`);
          continue;
        }
        // msghub's messages per statement batch = messages per BEGIN … COMMIT
        const batch = Math.max(1, Math.round(m.txnPerMsg ? 1 / m.txnPerMsg : 100));
        const dbFile = path.join(dir, 'bench.db');
        const db = new Database(dbFile, { readonly: true });
        const stored = db.prepare('SELECT count(*) FROM messages').pluck().get();
        db.close();
        const raw = await runWorker(path.join(ROOT, 'bench', 'workers', 'sqlite-raw.mjs'), [dbFile, dir, String(batch)]);
        runs.push({ rep, kind, ...m, stored, batch, raw });
        ctx.progress(
          `ingest msghub: ${m.msgsPerS.toFixed(0)} msgs/s persisted+broadcast (${batch}/txn, CPU ${m.serverCpu?.total.toFixed(0)}%); raw better-sqlite3 ${raw.rowsOnly?.rowsPerS.toFixed(0)} rows/s, with event rows ${raw.withEvents?.rowsPerS.toFixed(0)}/s`,
        );
      } catch (err) {
        ctx.fail(`ingest ${kind}`, err);
      }
    }
  }
  const mine = runs.filter((r) => r.kind === 'msghub');
  // Ratios within one repetition: msghub (or a comparison server) against another server or the raw insert.
  const sameRep = (r, kind) => runs.find((o) => o.kind === kind && o.rep === r.rep);
  const vsKind = (rs, kind) => median(rs.map((r) => (sameRep(r, kind)?.msgsPerS ? r.msgsPerS / sameRep(r, kind).msgsPerS : null)).filter((v) => v !== null));
  const vsRawOf = (r, k) => (r.raw?.[k]?.rowsPerS ? r.msgsPerS / r.raw[k].rowsPerS : null);
  const kinds = INGEST_KINDS.map((kind) => {
    const rs = runs.filter((r) => r.kind === kind);
    if (!rs.length) return null;
    return {
      kind,
      runs: rs.length,
      msgsPerS: median(rs.map((r) => r.msgsPerS)),
      range: minMax(rs.map((r) => r.msgsPerS)),
      serverCpu: median(rs.map((r) => r.serverCpu?.total)),
      loadgenCpu: median(rs.map((r) => r.loadgenCpu?.total)),
      deliveriesPerWrite: median(rs.map((r) => r.deliveriesPerWrite)),
      // this server's ingest ÷ the raw insert of msghub's rows in the same repetition
      vsRaw: median(rs.map((r) => vsRawOf({ msgsPerS: r.msgsPerS, raw: sameRep(r, 'msghub')?.raw }, 'rowsOnly')).filter((v) => v !== null)),
      vsRawWithEvents: median(rs.map((r) => vsRawOf({ msgsPerS: r.msgsPerS, raw: sameRep(r, 'msghub')?.raw }, 'withEvents')).filter((v) => v !== null)),
      undelivered: Math.max(...rs.map((r) => r.undelivered ?? 0)),
    };
  }).filter(Boolean);
  return {
    runs,
    kinds,
    summary: mine.length
      ? {
          runs: mine.length,
          subs,
          msgsPerS: median(mine.map((r) => r.msgsPerS)),
          range: minMax(mine.map((r) => r.msgsPerS)),
          serverCpu: median(mine.map((r) => r.serverCpu?.total)),
          batch: median(mine.map((r) => r.batch)),
          sqlPerMsg: mine[0].sqlPerMsg,
          rawRowsPerS: median(mine.map((r) => r.raw?.rowsOnly?.rowsPerS)),
          rawWithEventsPerS: median(mine.map((r) => r.raw?.withEvents?.rowsPerS)),
          rawRowsPerRowPerS: median(mine.map((r) => r.raw?.rowsOnly?.perRowPerS)),
          rawRowsRunsPerS: median(mine.map((r) => r.raw?.rowsOnly?.runsPerS)),
          rawWithEventsPerRowPerS: median(mine.map((r) => r.raw?.withEvents?.perRowPerS)),
          rawWithEventsRunsPerS: median(mine.map((r) => r.raw?.withEvents?.runsPerS)),
          vsRaw: median(mine.map((r) => vsRawOf(r, 'rowsOnly'))),
          vsRawWithEvents: median(mine.map((r) => vsRawOf(r, 'withEvents'))),
          vsBest: vsKind(mine, 'ws-best'),
          vsIdiomatic: vsKind(mine, 'ws-idiomatic'),
          vsSio: vsKind(mine, 'sio'),
          vsNetBest: vsKind(mine, 'net-best'),
          allStored: mine.every((r) => r.stored === r.sentTotal && r.undelivered === 0),
          stored: mine.map((r) => `${r.stored}/${r.sentTotal}`),
          elMaxMs: median(mine.map((r) => r.elMaxMs)),
          elCpuMaxMs: median(mine.map((r) => r.elCpuMaxMs)),
        }
      : null,
  };
}
