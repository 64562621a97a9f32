/**
 * Starts a msghub config four ways — the standalone CLI, a plain http.Server, Express and Fastify — so one
 * end-to-end suite can run against every mount. Each embedding host also has its own route (`/host`) and its
 * own WebSocket path (`/host-ws`) that must keep working beside ours.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import Fastify from 'fastify';
import { WebSocketServer } from 'ws';
import { MessageService, mountHttp, type ServiceOptions } from '../../src/index.js';
import { mountExpress } from '../../src/mount/express.js';
import { msghubFastify } from '../../src/mount/fastify.js';

export const MOUNTS = ['cli', 'http', 'express', 'fastify'] as const;
export type MountKind = (typeof MOUNTS)[number];

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/cli.js');

export interface Mounted {
  http: string;
  ws: string;
  /** Only for the CLI: the child process. */
  child?: ChildProcess;
  close(): Promise<void>;
}

/** Adds the host's own routes to a plain server: /host answers "host", /host-ws echoes. */
function hostWs(server: http.Server): () => void {
  const wss = new WebSocketServer({ noServer: true });
  const onUpgrade = (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void => {
    if (req.url?.startsWith('/host-ws')) wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d) => ws.send(`echo:${d}`)));
  };
  server.on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
    for (const c of wss.clients) c.terminate();
    wss.close();
  };
}

function urls(server: http.Server): { http: string; ws: string } {
  const { port } = server.address() as AddressInfo;
  return { http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
}

function listen(server: http.Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function mount(kind: MountKind, configFile: string, options: ServiceOptions = {}): Promise<Mounted> {
  if (kind === 'cli') return startCli(configFile);
  const service = await MessageService.start(configFile, { log: () => {}, ...options });
  if (kind === 'http') {
    const server = http.createServer((req, res) => {
      if (service.handleRequest(req, res)) return;
      res.end(req.url === '/host' ? 'host' : 'host 404');
    });
    const stopHostWs = hostWs(server);
    const m = mountHttp(server, service);
    await listen(server);
    return {
      ...urls(server),
      async close() {
        await service.close();
        await m.dispose();
        stopHostWs();
        await closeServer(server);
      },
    };
  }
  if (kind === 'express') {
    const app = express();
    app.get('/host', (_req, res) => void res.send('host'));
    const server = http.createServer(app);
    const stopHostWs = hostWs(server);
    const m = mountExpress(app, server, service);
    app.use((_req, res) => void res.send('host 404'));
    await listen(server);
    return {
      ...urls(server),
      async close() {
        await service.close();
        await m.dispose();
        stopHostWs();
        await closeServer(server);
      },
    };
  }
  const app = Fastify();
  app.get('/host', async () => 'host');
  await app.register(msghubFastify, { service });
  const stopHostWs = hostWs(app.server);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    ...urls(app.server),
    async close() {
      await service.close();
      stopHostWs();
      await app.close();
    },
  };
}

/** Runs `msghub serve CONFIG --port 0` and waits for its one "listening" line. */
export async function startCli(configFile: string, extraArgs: string[] = []): Promise<Mounted> {
  const child = spawn(process.execPath, [CLI, 'serve', configFile, '--port', '0', ...extraArgs], {
    cwd: path.dirname(configFile),
    env: { ...process.env, MSGHUB_LOG: process.env.MSGHUB_LOG ?? 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`CLI did not start: ${stderr}`)), 15_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /msghub listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`CLI exited with ${code}: ${stderr}`));
    });
  });
  return {
    http: address,
    ws: address.replace(/^http/, 'ws'),
    child,
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`CLI exited with ${code} on SIGTERM: ${stderr}`);
    },
  };
}

/** An embedding app's authenticate(): the user named by the `x-user` request header (tests only). */
export function headerUser(req: http.IncomingMessage): { id: string } | null {
  const id = req.headers['x-user'];
  return typeof id === 'string' ? { id } : null;
}
