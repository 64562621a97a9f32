// Starting the servers under test: msghub as the real `node dist/cli.js serve <generated gramex.yaml>` process
// with a temporary SQLite file, and the comparison servers of bench/servers/baselines.mjs. Every Node server gets
// bench/lib/probe.mjs preloaded (IPC stats) and --expose-gc (memory after a full GC).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnPinned, stop, waitForOutput } from './proc.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
const PROBE = pathToFileURL(path.join(HERE, 'probe.mjs')).href;
// BENCH_DIST points at another build of msghub (e.g. a patched copy) to measure a change before making it.
export const DIST = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : path.join(ROOT, 'dist');
const CLI = path.join(DIST, 'cli.js');
const BASELINES = path.join(ROOT, 'bench', 'servers', 'baselines.mjs');

/** Server kinds, in the order tables show them. */
export const KINDS = ['msghub', 'ws-best', 'ws-idiomatic', 'sio'];
export const LABEL = {
  msghub: 'msghub',
  'ws-best': 'bare ws, best (pre-framed + per-turn coalescing)',
  'ws-idiomatic': 'bare ws, idiomatic (stringify once, ws.send each)',
  sio: 'Socket.IO io.emit',
  net: 'Node net floor (canned 101)',
  'net-best': 'bare Node net, own framing (no ws, no HTTP parser)',
};

/**
 * The bench's MessageHandler: the baseline message's fields as columns, everything else at its default.
 * `url` and `table` put it on another database (a PostgreSQL URL, a table of the scenario's own); `bus` is the
 * app-level `bus:` (e.g. `redis://127.0.0.1:6379/14`). Both for bench/scenarios/cluster.mjs.
 */
export function writeMsghubConfig(dir, { historyLimit, maxBufferedBytes, prepare, indexes, url, table, bus, metrics } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const lines = [
    'listen: {port: 9988, host: 127.0.0.1}',
    ...(bus ? [`bus: ${JSON.stringify(bus)}`] : []),
    // `metrics`: the app-level `metrics:` section (bench/scenarios/metrics.mjs: `{process: false}`).
    ...(metrics ? [`metrics: ${JSON.stringify(metrics)}`] : []),
    'url:',
    '  bench:',
    '    pattern: /bench',
    '    handler: MessageHandler',
    '    kwargs:',
    `      url: ${url ? JSON.stringify(url) : 'sqlite:///$YAMLPATH/bench.db'}`,
    `      table: ${table ?? 'messages'}`,
    '      columns: {seq: TEXT, channel: TEXT, body: TEXT}',
    // One load generator holds thousands of connections from a few addresses and publishes as fast as the
    // server takes it: the per-connection abuse limits (kwargs.limits) would refuse exactly that, so they are off.
    '      limits: {messages_per_second: 0, max_connections: 0, max_connections_per_ip: 0}',
  ];
  if (historyLimit !== undefined) lines.push(`      history_limit: ${historyLimit}`);
  if (maxBufferedBytes !== undefined) lines.push(`      max_buffered_bytes: ${maxBufferedBytes}`);
  if (prepare) lines.push(`      prepare: ${JSON.stringify(prepare)}`);
  if (indexes) lines.push(`      indexes: ${JSON.stringify(indexes)}`);
  const file = path.join(dir, 'gramex.yaml');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { file, db: path.join(dir, 'bench.db') };
}

/** WebSocket paths a kind's subscribers (i = subscriber number) and publishers use. */
export function pathsFor(kind) {
  if (kind === 'msghub') return { sub: (i) => `/bench?channel!=zz${i % 10}`, pub: '/bench', filters: 10 };
  if (kind === 'sio') return { sub: () => '/socket.io/?EIO=4&transport=websocket', pub: '/socket.io/?EIO=4&transport=websocket', filters: 1 };
  return { sub: () => '/', pub: '/', filters: 1 };
}

export const protoFor = (kind) => (kind === 'sio' ? 'sio' : 'ws');

/**
 * Starts a server on `cpu`; resolves to { kind, pid, port, call(cmd), stop() }.
 * msghub needs `dir` (where its gramex.yaml and SQLite file go) and optional config overrides.
 */
export async function startServer(kind, { cpu = 0, dir, config = {}, maxSecs = 900, sqlProbe = true, nodeArgs: extraArgs = [], cliArgs = [] } = {}) {
  // BENCH_NODE_ARGS: extra Node flags for the servers under test, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  // `nodeArgs`: a scenario's own (cluster.mjs preloads a PostgreSQL statement counter).
  const nodeArgs = ['--expose-gc', '--import', PROBE, ...extraArgs, ...(process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)];
  let child;
  let ready;
  if (kind === 'msghub') {
    const { file } = writeMsghubConfig(dir, config);
    // `cliArgs`: extra `msghub serve` flags (bench/scenarios/metrics.mjs: `--metrics-port 0`).
    child = spawnPinned(cpu, process.execPath, [...nodeArgs, CLI, 'serve', file, '--port', '0', '--host', '127.0.0.1', ...cliArgs], {
      ipc: true,
      env: { BENCH_MAX_SECS: String(maxSecs), BENCH_PROBE_SQL: sqlProbe ? '1' : '0', MSGHUB_LOG: 'warn' },
    });
    ready = waitForOutput(child, (t) => /listening on http:\/\/[^:]+:(\d+)/.exec(t)?.[1] && t, 20000, 'msghub');
  } else {
    child = spawnPinned(cpu, process.execPath, [...nodeArgs, BASELINES, kind, '0'], {
      ipc: true,
      env: { BENCH_MAX_SECS: String(maxSecs) },
    });
    ready = waitForOutput(child, (t) => /listening (\d+)/.exec(t)?.[1], 20000, kind);
  }
  const out = String(await ready);
  const port = Number(kind === 'msghub' ? /listening on http:\/\/[^:]+:(\d+)/.exec(out)[1] : out);
  return {
    kind,
    /** msghub started with `--metrics-port`: where its metrics are. */
    metricsUrl: kind === 'msghub' ? (/metrics on (http:\/\/\S+)/.exec(out)?.[1] ?? null) : null,
    pid: child.pid,
    port,
    child,
    call: (cmd, timeoutMs) => child.call(cmd, timeoutMs),
    stop: () => stop(child, 12000),
  };
}
