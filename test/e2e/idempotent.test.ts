/**
 * Idempotent publish (core/idempotency.ts, docs/client.md): a message sent with an `idem:` `_ref` (WebSocket) or an
 * `Idempotency-Key` header (HTTP) is stored once per user and key; a retry gets the original acknowledgement. A real
 * service over loopback on a SQLite file, PostgreSQL and MariaDB (the latter two when they run; required in CI).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageService, mountHttp } from '../../src/index.js';
import { REFS_TABLE } from '../../src/store/refs.js';
import { headerUser } from '../support/mounts.js';
import { requireService, tempDir, writeConfig } from '../support/tmp.js';
import { TestClient, type Frame } from '../support/ws-client.js';

const TARGETS: { name: string; port?: number; url: (dir: string) => string }[] = [
  { name: 'sqlite', url: (dir) => `sqlite:///${path.join(dir, 'idem.db')}` },
  { name: 'postgresql', port: 5432, url: () => 'postgresql://postgres@127.0.0.1:5432/test' },
  { name: 'mariadb', port: 3306, url: () => 'mysql://root@127.0.0.1:3306/test' },
];

/** A running service on a loopback port (a restart can ask for the same port again). */
interface Running {
  service: MessageService;
  ws: string;
  http: string;
  port: number;
  close(): Promise<void>;
}

async function start(configFile: string, port = 0): Promise<Running> {
  const service = await MessageService.start(configFile, { log: () => {}, authenticate: headerUser });
  const server = http.createServer((req, res) => {
    if (!service.handleRequest(req, res)) res.writeHead(404).end();
  });
  const m = mountHttp(server, service);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const p = (server.address() as AddressInfo).port;
  return {
    service,
    port: p,
    ws: `ws://127.0.0.1:${p}`,
    http: `http://127.0.0.1:${p}`,
    async close() {
      await service.close();
      await m.dispose();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A fresh random key, as the client library makes them (22 base64url characters: 128 bits). */
const key = (): string => Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');

describe.each(TARGETS)('idempotent publish on $name', ({ name, port, url }) => {
  let available = true;
  let dir: string;
  let configFile: string;
  let server: Running;
  let admin: Knex;
  const table = `idem_${name}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const clients: TestClient[] = [];

  const connect = async (user?: string): Promise<TestClient> => {
    const c = await TestClient.connect(`${server.ws}/chat`, user ? { 'x-user': user } : undefined);
    clients.push(c);
    return c;
  };
  /** Sends `msg` with its own `_ref` and waits for the next answer naming it. */
  const ask = async (c: TestClient, msg: Frame): Promise<Frame> => {
    const from = c.frames.length;
    c.send(msg);
    const frames = await c.until((fs) => fs.slice(from).some((f) => f._ref === msg._ref), `the answer to ${String(msg._ref)}`);
    return frames.slice(from).find((f) => f._ref === msg._ref)!;
  };
  const rows = async (where: Record<string, unknown> = {}): Promise<Frame[]> => (await admin(table).where(where).select('*')) as Frame[];
  const refRows = async (): Promise<Frame[]> => (await admin(REFS_TABLE).where({ tbl: table }).select('*')) as Frame[];

  beforeAll(async () => {
    if (port && !(await requireService(name, port))) {
      available = false;
      return;
    }
    dir = tempDir();
    configFile = writeConfig(
      `
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: ${url(dir)}
      table: ${table}
      columns: {body: TEXT}
      edit: any
      limits: {messages_per_second: 0}
`,
      dir,
    );
    server = await start(configFile);
    const file = url(dir);
    admin = knexFactory(
      name === 'sqlite'
        ? { client: 'better-sqlite3', connection: { filename: file.slice('sqlite:///'.length) }, useNullAsDefault: true }
        : name === 'postgresql'
          ? { client: 'pg', connection: file }
          : { client: 'mysql2', connection: file },
    );
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server?.close();
    if (admin && name !== 'sqlite') {
      await admin.schema.dropTableIfExists(table);
      for (const t of ['msghub_events', 'msghub_seq', REFS_TABLE]) await admin(t).where('tbl', table).delete();
    }
    await admin?.destroy();
  });

  it('stores the same idem: _ref once and answers the retry with the original acknowledgement', async ({ skip }) => {
    if (!available) return skip();
    const c = await connect('alice');
    const ref = `idem:${key()}`;
    const first = await ask(c, { body: 'once', _ref: ref });
    expect(first).toMatchObject({ _ref: ref, _ack: expect.any(Number) });
    const retry = await ask(c, { body: 'once (retry)', _ref: ref });
    expect(retry).toEqual(first);
    expect(await rows({ body: 'once' })).toHaveLength(1);
    expect(await rows({ body: 'once (retry)' })).toHaveLength(0);
    // Exactly one live event for it: subscribers never hear of the retry.
    const live = c.frames.filter((f) => f._method === 'POST' && String(f.body).startsWith('once'));
    expect(live).toHaveLength(1);
  });

  it('answers two racing sends of one key in one group commit with one row and the same acknowledgement', async ({ skip }) => {
    if (!available) return skip();
    const c = await connect('alice');
    const ref = `idem:${key()}`;
    // Both frames in one write: they reach the intake in the same turn, miss the lookup together and commit in one batch.
    c.ws.send(JSON.stringify({ body: 'race', _ref: ref }));
    c.ws.send(JSON.stringify({ body: 'race', _ref: ref }));
    const frames = await c.until((fs) => fs.filter((f) => f._ref === ref).length === 2, 'both answers');
    const [a, b] = frames.filter((f) => f._ref === ref);
    expect(a!._ack).toEqual(expect.any(Number));
    expect(b).toEqual(a);
    expect(await rows({ body: 'race' })).toHaveLength(1);
  });

  it('makes a PUT and a DELETE idempotent too (a retried DELETE is not "not found")', async ({ skip }) => {
    if (!available) return skip();
    const c = await connect('alice');
    const posted = await c.request({ body: 'to edit' });
    const put = `idem:${key()}`;
    const p1 = await ask(c, { _method: 'PUT', id: posted.id, body: 'edited', _ref: put });
    const p2 = await ask(c, { _method: 'PUT', id: posted.id, body: 'edited', _ref: put });
    expect(p2).toEqual(p1);
    const del = `idem:${key()}`;
    const d1 = await ask(c, { _method: 'DELETE', id: posted.id, _ref: del });
    expect(d1._ack).toEqual(expect.any(Number));
    const d2 = await ask(c, { _method: 'DELETE', id: posted.id, _ref: del });
    expect(d2).toEqual(d1);
  });

  it('answers a retry after a restart of the service with the original acknowledgement', async ({ skip }) => {
    if (!available) return skip();
    const c = await connect('bob');
    const ref = `idem:${key()}`;
    const original = await ask(c, { body: 'before restart', _ref: ref });
    // The acknowledgement "was lost": the service goes away, a new one starts on the same database and port.
    await c.close();
    const samePort = server.port;
    await server.close();
    server = await start(configFile, samePort);
    const again = await connect('bob');
    const retry = await ask(again, { body: 'before restart', _ref: ref });
    expect(retry).toEqual(original);
    expect(await rows({ body: 'before restart' })).toHaveLength(1);
  });

  it('keeps one user’s key apart from another’s: the same ref is independent and never reveals the other ack', async ({ skip }) => {
    if (!available) return skip();
    const alice = await connect('alice');
    const mallory = await connect('mallory');
    const ref = `idem:${key()}`;
    const a = await ask(alice, { body: 'alice private', _ref: ref });
    const m = await ask(mallory, { body: 'mallory', _ref: ref });
    expect(m._ack).toEqual(expect.any(Number));
    expect(m.id).not.toEqual(a.id);
    expect(m._seq).not.toEqual(a._seq);
    expect(await rows({ body: 'mallory' })).toHaveLength(1);
    // Anonymous clients have a scope of their own, apart from every user's.
    const anon = await connect();
    const n = await ask(anon, { body: 'anonymous', _ref: ref });
    expect(n.id).not.toEqual(a.id);
    expect(n.id).not.toEqual(m.id);
  });

  it('stores an HTTP POST with an Idempotency-Key once and answers its retry with the same response', async ({ skip }) => {
    if (!available) return skip();
    const k = key();
    const send = (): Promise<Response> =>
      fetch(`${server.http}/chat`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': k, 'x-user': 'carol' }, body: JSON.stringify({ body: 'over http' }) });
    const r1 = await send();
    const t1 = await r1.text();
    const r2 = await send();
    const t2 = await r2.text();
    expect(r1.status).toBe(201);
    expect(r2.status).toBe(201);
    expect(JSON.parse(t2)).toEqual(JSON.parse(t1));
    expect(JSON.parse(t1)).toMatchObject({ body: 'over http', _method: 'POST', user: 'carol' });
    expect(await rows({ body: 'over http' })).toHaveLength(1);
    // Another user's same key is a new message.
    const r3 = await fetch(`${server.http}/chat`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': k, 'x-user': 'dave' }, body: JSON.stringify({ body: 'over http' }) });
    expect(r3.status).toBe(201);
    expect(((await r3.json()) as Frame).id).not.toEqual(JSON.parse(t1).id);
    expect(await rows({ body: 'over http' })).toHaveLength(2);
  });

  it('refuses a malformed idempotency key, and keeps no record for ordinary references', async ({ skip }) => {
    if (!available) return skip();
    const c = await connect('erin');
    const bad = await ask(c, { body: 'x', _ref: 'idem:short' });
    expect(bad).toMatchObject({ _error: { code: 'MH_ERR_IDEMPOTENCY_KEY' }, _ref: 'idem:short' });
    const res = await fetch(`${server.http}/chat`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'no spaces allowed here' }, body: '{"body":"x"}' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { _error: { code: string } })._error.code).toBe('MH_ERR_IDEMPOTENCY_KEY');
    const before = (await refRows()).length;
    await c.request({ body: 'plain ref' });
    await ask(c, { body: 'numeric ref', _ref: 7 });
    expect(await refRows()).toHaveLength(before);
    expect(await rows({ body: 'x' })).toHaveLength(0);
  });
});
