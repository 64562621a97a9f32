// Scenario 6: a slow consumer. N subscribers at a fixed publish rate; one extra subscriber (small receive buffer)
// stops reading. We compare the others' p99 before and while it is stuck, watch the server's memory, wait for
// msghub to close it (4408) once max_buffered_bytes is exceeded, let it read what it had, and resume with
// `_since=<last _seq it saw>`: it must get exactly the events it missed, with no gap and no duplicate.
import { connect } from '../lib/common.mjs';
import { startLoadgen } from '../lib/loadgen.mjs';
import { median, sleep } from '../lib/proc.mjs';
import { startServer } from '../lib/servers.mjs';

export async function runSlow(ctx) {
  const { reps, subs, rate, phaseMs, maxWaitMs, maxBufferedBytes } = ctx.cfg.slow;
  const runs = [];
  for (let rep = 0; rep < reps; rep++) {
    const config = maxBufferedBytes ? { maxBufferedBytes } : {};
    const server = await startServer('msghub', { dir: ctx.tmp('slow'), config, sqlProbe: false });
    let lg;
    try {
      lg = await startLoadgen(ctx.loadgen, { port: server.port, proto: 'ws' });
      await connect(lg, 'msghub', { subs, pubs: 0 });
      const s = await lg.cmd('open sub 1 1 4096 /bench?channel!=zz0', 30000);
      if (!s.ok) throw new Error('slow subscriber did not connect');
      const slow = s.first;
      await connect(lg, 'msghub', { subs: 0, pubs: 1 });
      await lg.cmd(`track ${slow}`);
      await lg.cmd(`rate ${rate}`);
      await sleep(1000);

      await lg.cmd('record on');
      await sleep(phaseMs);
      await lg.cmd('record off');
      const before = await lg.cmd('lat');
      const memBefore = await server.call('gc', 30000);

      // Stuck: pause it, let its kernel buffers fill (so the server queues for it), then measure the others
      // over a window as long as the first one.
      const atPause = await lg.cmd(`pause ${slow}`);
      const t0 = performance.now();
      await sleep(Math.min(2000, phaseMs));
      await lg.cmd('record on');
      await sleep(phaseMs);
      await lg.cmd('record off');
      const during = await lg.cmd('lat');
      let closedAfterMs = null;
      while (performance.now() - t0 < maxWaitMs) {
        const st = await server.call('stats');
        if (st.closes?.['4408']) {
          closedAfterMs = performance.now() - t0;
          break;
        }
        await sleep(100);
      }
      // The server's memory once it gave up on the slow consumer, after a full GC (ws keeps the closed socket's
      // queue until the close handshake times out, so it is still counted here).
      const memAfter = await server.call('gc', 30000);
      const mem = (m) => m.heapUsed + m.arrayBuffers;
      const drain = await lg.cmd('stop', 20000);

      await lg.cmd(`unpause ${slow}`);
      let info;
      for (let i = 0; i < 50; i++) {
        await sleep(100);
        info = await lg.cmd(`info ${slow}`);
        if (info.closed) break;
      }
      const last = info.last_seq;
      const resumed = await lg.cmd(`replay 0 15000 500 /bench?channel!=zz0&_since=${last}`, 20000);
      const run = {
        rep,
        subs,
        rate,
        p99Before: before.p99,
        p99During: during.p99,
        p99Rise: before.p99 > 0 ? during.p99 / before.p99 - 1 : null,
        maxBefore: before.max,
        maxDuring: during.max,
        closedAfterMs,
        closeCode: info.close_code,
        bytesWhilePaused: info.bytes - atPause.bytes,
        memRise: mem(memAfter) - mem(memBefore),
        rssRise: memAfter.rss - memBefore.rss,
        lastSeqSeen: last,
        published: drain.sent,
        resumedFirst: resumed.first_seq,
        resumedLast: resumed.last_seq,
        resumedRows: resumed.rows,
        resumedGaps: resumed.gaps,
        resumed,
        resumeExact: resumed.first_seq === last + 1 && resumed.gaps === 0 && resumed.last_seq === drain.sent,
      };
      runs.push(run);
      ctx.progress(
        `slow consumer: others' p99 ${before.p99} → ${during.p99} ms; closed with ${run.closeCode} after ${closedAfterMs ? (closedAfterMs / 1000).toFixed(1) + ' s' : 'never'}; server heap+buffers +${(run.memRise / 2 ** 20).toFixed(1)} MiB; resume from _seq ${last}: first ${resumed.first_seq}, last ${resumed.last_seq}/${drain.sent}, gaps ${resumed.gaps}`,
      );
    } catch (err) {
      ctx.fail('slow consumer', err);
    } finally {
      await lg?.stop();
      await server.stop();
    }
  }
  if (!runs.length) return { runs, summary: null };
  return {
    runs,
    summary: {
      runs: runs.length,
      subs,
      rate,
      maxBufferedBytes: maxBufferedBytes ?? 4 * 2 ** 20,
      p99Before: median(runs.map((r) => r.p99Before)),
      p99During: median(runs.map((r) => r.p99During)),
      p99Rise: median(runs.map((r) => r.p99Rise)),
      closedAfterMs: median(runs.map((r) => r.closedAfterMs)),
      closeCodes: [...new Set(runs.map((r) => r.closeCode))],
      bytesWhilePaused: median(runs.map((r) => r.bytesWhilePaused)),
      rssRise: median(runs.map((r) => r.rssRise)),
      memRise: median(runs.map((r) => r.memRise)),
      resumeExact: runs.every((r) => r.resumeExact),
    },
  };
}
