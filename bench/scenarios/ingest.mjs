// Scenario 3: ingest. 10 publishers and 10 subscribers on msghub (every message persisted, then broadcast),
// closed loop; then, in the same run and on the same core, a raw better-sqlite3 batched insert of the same rows
// into a copy of msghub's table (same DDL, same pragmas), at the batch size msghub itself reached.
import path from 'node:path';
import Database from 'better-sqlite3';
import { connect, runWorker, windowEnd, windowStart } from '../lib/common.mjs';
import { startLoadgen } from '../lib/loadgen.mjs';
import { median, minMax, sleep } from '../lib/proc.mjs';
import { ROOT, startServer } from '../lib/servers.mjs';

export async function runIngest(ctx) {
  const { reps, pubs, subs, window, warmMs, secsMs } = ctx.cfg.ingest;
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    const dir = ctx.tmp('ingest');
    try {
      const server = await startServer('msghub', { dir });
      let lg;
      let m;
      let drain;
      try {
        lg = await startLoadgen(ctx.loadgen, { port: server.port, proto: 'ws' });
        await connect(lg, 'msghub', { subs, pubs });
        await sleep(200);
        await lg.cmd(`closed ${window}`);
        await sleep(warmMs);
        const start = await windowStart(server, lg);
        await sleep(secsMs);
        m = await windowEnd(server, lg, start);
        drain = await lg.cmd('stop', 20000);
      } finally {
        await lg?.stop();
        await server.stop();
      }
      // msghub's messages per statement batch = messages per BEGIN … COMMIT
      const batch = Math.max(1, Math.round(m.txnPerMsg ? 1 / m.txnPerMsg : 100));
      const dbFile = path.join(dir, 'bench.db');
      const db = new Database(dbFile, { readonly: true });
      const stored = db.prepare('SELECT count(*) FROM messages').pluck().get();
      db.close();
      const raw = await runWorker(path.join(ROOT, 'bench', 'workers', 'sqlite-raw.mjs'), [dbFile, dir, String(batch)]);
      const msgsPerS = m.deliveriesPerS / subs;
      runs.push({ rep, ...m, msgsPerS, sentPerS: m.msgsPerS, stored, sentTotal: drain.sent, undelivered: drain.undelivered, batch, raw });
      ctx.progress(
        `ingest: msghub ${msgsPerS.toFixed(0)} msgs/s persisted+broadcast (${batch}/txn, CPU ${m.serverCpu?.total.toFixed(0)}%); raw better-sqlite3 ${raw.rowsOnly?.rowsPerS.toFixed(0)} rows/s, with event rows ${raw.withEvents?.rowsPerS.toFixed(0)}/s`,
      );
    } catch (err) {
      ctx.fail('ingest', err);
    }
  }
  const ratio = (r, k) => (r.raw?.[k]?.rowsPerS ? r.msgsPerS / r.raw[k].rowsPerS : null);
  return {
    runs,
    summary: runs.length
      ? {
          runs: runs.length,
          msgsPerS: median(runs.map((r) => r.msgsPerS)),
          range: minMax(runs.map((r) => r.msgsPerS)),
          serverCpu: median(runs.map((r) => r.serverCpu?.total)),
          batch: median(runs.map((r) => r.batch)),
          sqlPerMsg: runs[0].sqlPerMsg,
          rawRowsPerS: median(runs.map((r) => r.raw?.rowsOnly?.rowsPerS)),
          rawWithEventsPerS: median(runs.map((r) => r.raw?.withEvents?.rowsPerS)),
          rawRowsPerRowPerS: median(runs.map((r) => r.raw?.rowsOnly?.perRowPerS)),
          rawRowsRunsPerS: median(runs.map((r) => r.raw?.rowsOnly?.runsPerS)),
          rawWithEventsPerRowPerS: median(runs.map((r) => r.raw?.withEvents?.perRowPerS)),
          rawWithEventsRunsPerS: median(runs.map((r) => r.raw?.withEvents?.runsPerS)),
          vsRaw: median(runs.map((r) => ratio(r, 'rowsOnly'))),
          vsRawWithEvents: median(runs.map((r) => ratio(r, 'withEvents'))),
          allStored: runs.every((r) => r.stored === r.sentTotal && r.undelivered === 0),
          stored: runs.map((r) => `${r.stored}/${r.sentTotal}`),
          elMaxMs: median(runs.map((r) => r.elMaxMs)),
        }
      : null,
  };
}
