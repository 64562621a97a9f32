// What one /metrics scrape costs the server's CPU, by connection count (docs/performance.md, "Issue 20: metrics on
// the hot path"): a MessageService (the built dist/) on loopback, N WebSocket subscribers connected from this same
// process (so the process holds 2N sockets), the registry with Node's process metrics as the CLI makes it, then
// 15 scrapes timed with process.cpuUsage(), and the five costliest metrics (mean of 5 collections each).
//
//   node bench/workers/scrape-cost.mjs [N, e.g. 1000]
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

const DIST = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : new URL('../../dist', import.meta.url).pathname;
const { MessageService, mountHttp } = await import(path.join(DIST, 'index.js'));
const N = Number(process.argv[2] ?? 1000);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msghub-scrape-'));
const kwargs = { url: `sqlite:///${dir}/b.db`, table: 'm', columns: { body: 'TEXT', channel: 'TEXT' }, limits: { messages_per_second: 0, max_connections: 0, max_connections_per_ip: 0 } };
const service = await MessageService.start({ config: { url: { bench: { pattern: '/bench', handler: 'MessageHandler', kwargs } } }, baseDir: dir });
const server = http.createServer((req, res) => {
  if (!service.handleRequest(req, res)) res.end();
});
mountHttp(server, service);
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const sockets = await Promise.all(
  Array.from({ length: N }, (_, i) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/bench?channel!=zz${i % 10}`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  })),
);
try {
  const registry = service.metricsRegistry({ processMetrics: true });
  const runs = [];
  for (let i = 0; i < 15; i++) {
    const cpu0 = process.cpuUsage();
    const text = await service.metrics();
    const cpu = process.cpuUsage(cpu0);
    runs.push({ ms: (cpu.user + cpu.system) / 1000, bytes: text.length });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
  const per = {};
  for (let r = 0; r < 5; r++) {
    for (const m of registry.getMetricsAsArray()) {
      const t = performance.now();
      await m.get();
      per[m.name] = (per[m.name] ?? 0) + (performance.now() - t) / 5;
    }
  }
  const top = Object.entries(per).sort((a, b) => b[1] - a[1]).slice(0, 5);
  console.log(`${N} WebSockets: a scrape costs ${ms[7].toFixed(2)} ms of CPU (median of 15; ${ms[0].toFixed(2)}–${ms[14].toFixed(2)}), ${runs[0].bytes} bytes`);
  console.log(`costliest: ${top.map(([k, v]) => `${k} ${v.toFixed(2)} ms`).join(', ')}`);
} finally {
  for (const ws of sockets) ws.terminate();
  await service.close();
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
