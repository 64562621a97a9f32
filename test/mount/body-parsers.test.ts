/**
 * Embedded msghub works whatever body parser the host app runs (issue 14, item 16): a body a framework already
 * parsed (Express `express.json()`, `text()`, `raw()`) is published under the same limits as one msghub reads
 * itself; a body consumed and not kept is refused with a catalogued 400, never waited on. Fastify parses
 * bodies after its `onRequest` hooks, where msghub answers, so its parsers never get ours.
 * Real Express and Fastify servers on 127.0.0.1; every request has a deadline, so a hang fails the test.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MessageService } from '../../src/index.js';
import { mountExpress } from '../../src/mount/express.js';
import { msghubFastify } from '../../src/mount/fastify.js';
import { writeConfig } from '../support/tmp.js';

const LIMIT = 4096;
const CONFIG = `
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///chat.db
      table: chat
      columns: {body: TEXT}
      max_message_bytes: ${LIMIT}
      limits: {messages_per_second: 0}
`;

interface Host {
  base: string;
  close(): Promise<void>;
}

let service: MessageService;
beforeAll(async () => {
  service = await MessageService.start(writeConfig(CONFIG), { log: () => {} });
});
afterAll(async () => {
  await service?.close();
});

/** An Express app with `before` middleware ahead of msghub and `after` behind it. */
async function expressHost(before: ((app: Express) => void) | null, after: ((app: Express) => void) | null = null): Promise<Host> {
  const app = express();
  before?.(app);
  const server = http.createServer(app);
  const mount = mountExpress(app, server, service);
  after?.(app);
  app.post('/echo', (req, res) => void res.json({ echo: req.body as unknown }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await mount.dispose();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const send = (url: string, body: string, type = 'application/json'): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': type }, body, signal: AbortSignal.timeout(5000) });

async function reply(res: Response): Promise<{ status: number; body: Record<string, unknown> & { _error?: { code: string; message: string } } }> {
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { _error?: { code: string; message: string } } };
}

const stored = async (base: string): Promise<string[]> =>
  ((await (await fetch(`${base}/chat`, { signal: AbortSignal.timeout(5000) })).json()) as { body: string }[]).map((r) => r.body);

describe('Express', () => {
  let host: Host | null = null;
  afterEach(async () => {
    await host?.close();
    host = null;
  });

  it('publishes with express.json() mounted before msghub (the body is already parsed)', async () => {
    host = await expressHost((app) => app.use(express.json({ limit: '1mb' })));
    const one = await reply(await send(`${host.base}/chat`, JSON.stringify({ body: 'json first' })));
    expect(one).toMatchObject({ status: 201, body: { body: 'json first' } });
    const many = await send(`${host.base}/chat`, JSON.stringify([{ body: 'json a' }, { body: 'json b' }]));
    expect(many.status).toBe(201);
    expect((await stored(host.base)).slice(-3)).toEqual(['json first', 'json a', 'json b']);
    // The host's own routes still get the parsed body.
    expect(await (await send(`${host.base}/echo`, '{"x":1}')).json()).toEqual({ echo: { x: 1 } });
  });

  it('publishes with express.json() mounted after msghub (msghub reads the stream)', async () => {
    host = await expressHost(null, (app) => app.use(express.json()));
    expect(await reply(await send(`${host.base}/chat`, JSON.stringify({ body: 'json after' })))).toMatchObject({ status: 201, body: { body: 'json after' } });
    expect(await (await send(`${host.base}/echo`, '{"x":2}')).json()).toEqual({ echo: { x: 2 } });
  });

  it('publishes a body express.text() or express.raw() kept as text or bytes', async () => {
    host = await expressHost((app) => {
      app.use(express.text({ type: 'text/plain' }));
      app.use(express.raw({ type: 'application/octet-stream' }));
    });
    expect((await send(`${host.base}/chat`, JSON.stringify({ body: 'as text' }), 'text/plain')).status).toBe(201);
    expect((await send(`${host.base}/chat`, JSON.stringify({ body: 'as bytes' }), 'application/octet-stream')).status).toBe(201);
    expect((await stored(host.base)).slice(-2)).toEqual(['as text', 'as bytes']);
  });

  it('refuses, never waits on, a body another middleware consumed and did not keep', async () => {
    host = await expressHost((app) =>
      app.use((req, _res, next) => {
        req.resume();
        req.on('end', () => next());
      }),
    );
    const r = await reply(await send(`${host.base}/chat`, JSON.stringify({ body: 'swallowed' })));
    expect(r.status).toBe(400);
    expect(r.body._error).toMatchObject({ code: 'MH_ERR_HTTP_BODY', message: expect.stringContaining('mount msghub before body parsers') });
    expect(await stored(host.base)).not.toContain('swallowed');
  });

  it('refuses a body a form parser turned into fields', async () => {
    host = await expressHost((app) => app.use(express.urlencoded({ extended: false })));
    const r = await reply(await send(`${host.base}/chat`, JSON.stringify({ body: 'form' }), 'application/x-www-form-urlencoded'));
    expect(r.status).toBe(400);
    expect(r.body._error).toMatchObject({ code: 'MH_ERR_HTTP_BODY', message: expect.stringContaining('form parser') });
  });

  it('applies the depth and per-message size limits to a parsed body, storing nothing of it', async () => {
    host = await expressHost((app) => app.use(express.json({ limit: '1mb' })));
    const before = await stored(host.base);
    const deep = `{"body":"deep","x":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const tooDeep = await reply(await send(`${host.base}/chat`, deep));
    expect([tooDeep.status, tooDeep.body._error?.code]).toEqual([400, 'MH_ERR_MSG_TOO_DEEP']);
    const big = await reply(await send(`${host.base}/chat`, JSON.stringify([{ body: 'small' }, { body: 'x'.repeat(LIMIT) }])));
    expect([big.status, big.body._error?.code]).toEqual([413, 'MH_ERR_MSG_TOO_LARGE']);
    const huge = await reply(await send(`${host.base}/chat`, JSON.stringify(Array.from({ length: 20 }, () => ({ body: 'y'.repeat(LIMIT - 100) })))));
    expect([huge.status, huge.body._error?.code]).toEqual([413, 'MH_ERR_MSG_TOO_LARGE']);
    expect(await stored(host.base)).toEqual(before);
  });
});

describe('Fastify', () => {
  it('publishes while Fastify parses JSON for its own routes, registered before or after msghub', async () => {
    const app = Fastify();
    app.post('/before', async (req) => ({ echo: req.body }));
    await app.register(msghubFastify, { service });
    app.post('/after', async (req) => ({ echo: req.body }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      expect(await reply(await send(`${base}/chat`, JSON.stringify({ body: 'via fastify' })))).toMatchObject({ status: 201, body: { body: 'via fastify' } });
      const big = await send(`${base}/chat`, JSON.stringify({ body: 'z'.repeat(LIMIT) }));
      expect(big.status).toBe(413);
      expect(await (await send(`${base}/before`, '{"y":1}')).json()).toEqual({ echo: { y: 1 } });
      expect(await (await send(`${base}/after`, '{"y":2}')).json()).toEqual({ echo: { y: 2 } });
      expect((await stored(base)).at(-1)).toBe('via fastify');
    } finally {
      await app.close();
    }
  });
});
