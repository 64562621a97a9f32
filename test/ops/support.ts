/** Helpers for the operations tests: a served MessageService with its ops endpoints, and a metrics text parser. */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MessageService, type ServiceOptions } from '../../src/service.js';
import { createServer } from '../../src/mount/http.js';
import { createOpsHandler, type OpsRoutes } from '../../src/ops/http.js';

export interface Served {
  service: MessageService;
  server: http.Server;
  http: string;
  ws: string;
  close(): Promise<void>;
}

/** A service on a real loopback server (port 0), with `routes` (default: health on, metrics at /metrics with no token). */
export async function serve(config: unknown, baseDir: string, routes?: Partial<OpsRoutes>, options: ServiceOptions = {}): Promise<Served> {
  const service = await MessageService.start({ config, baseDir }, { log: () => {}, ...options });
  const ops = createOpsHandler(service, {
    health: routes?.health ?? service.compiled.ops.health,
    metrics: routes?.metrics === undefined ? { path: '/metrics', statusPath: '/status', token: null } : routes.metrics,
  });
  const { server, close } = createServer(service, ops);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { service, server, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}`, close };
}

/** One sample of the Prometheus text format: `name{a="b",c="d"}` → value. Labels sorted, so keys are stable. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a metrics line: ${line}`);
    const labels = m[2] ? [...m[2].matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((x) => `${x[1]}="${x[2]}"`).sort() : [];
    out.set(labels.length ? `${m[1]}{${labels.join(',')}}` : m[1]!, Number(m[3]));
  }
  return out;
}

export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return parseMetrics(await res.text());
}
