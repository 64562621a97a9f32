/**
 * Where a Gramex user's habits meet msghub's rules, on a real service over loopback, on a SQLite file, PostgreSQL
 * and MariaDB (the latter two when they run; required in CI):
 * - a DELETE carrying conditions besides `id` (Gramex ANDs them into its WHERE) is refused with an `_error` naming
 *   them, and the row stays; a DELETE by id alone deletes;
 * - `DELETE /chat?id=…` without a body deletes that row; without an id it says the id is missing;
 * - `service.publish(name, msg)` goes through the same intake: the subscribers hear it, and the same rules apply.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageService, MhError, mountHttp } from '../../src/index.js';
import { requireService, tempDir, writeConfig } from '../support/tmp.js';
import { TestClient, type Frame } from '../support/ws-client.js';

const TARGETS: { name: string; port?: number; url: (dir: string) => string }[] = [
  { name: 'sqlite', url: (dir) => `sqlite:///${path.join(dir, 'guards.db')}` },
  { name: 'postgresql', port: 5432, url: () => 'postgresql://postgres@127.0.0.1:5432/test' },
  { name: 'mariadb', port: 3306, url: () => 'mysql://root@127.0.0.1:3306/test' },
];

describe.each(TARGETS)('Gramex guards on $name', ({ name, port, url }) => {
  let available = true;
  let service: MessageService;
  let server: http.Server;
  let base = '';
  let admin: Knex | undefined;
  const clients: TestClient[] = [];
  const table = `guards_${name}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;

  const connect = async (): Promise<TestClient> => {
    const c = await TestClient.connect(`${base.replace(/^http/, 'ws')}/chat`);
    clients.push(c);
    return c;
  };
  const history = async (): Promise<Frame[]> => (await (await fetch(`${base}/chat`)).json()) as Frame[];

  beforeAll(async () => {
    if (port && !(await requireService(name, port))) {
      available = false;
      return;
    }
    const dir = tempDir();
    const configFile = writeConfig(
      `
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: ${url(dir)}
      table: ${table}
      columns: {body: TEXT, topic: TEXT}
      edit: any
      limits: {messages_per_second: 0}
`,
      dir,
    );
    service = await MessageService.start(configFile, { log: () => {} });
    server = http.createServer((req, res) => {
      if (!service.handleRequest(req, res)) res.writeHead(404).end();
    });
    mountHttp(server, service);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (name !== 'sqlite') admin = knexFactory({ client: name === 'postgresql' ? 'pg' : 'mysql2', connection: url(dir) });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await service?.close();
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (admin) {
      await admin.schema.dropTableIfExists(table);
      for (const t of ['msghub_events', 'msghub_seq']) await admin(t).where('tbl', table).delete();
      await admin.destroy();
    }
  });

  it('refuses a DELETE with column or operator keys besides id, naming them, and keeps the row', async ({ skip }) => {
    if (!available) return skip();
    const c = await connect();
    const posted = await c.request({ body: 'keep me', topic: 'Help' });
    const id = posted.id as string;
    for (const extra of [{ topic: 'Other' }, { 'timestamp<': '2000' }, { topic: 'Help', 'body~': 'keep' }]) {
      const answer = await c.request({ _method: 'DELETE', id, ...extra });
      expect(answer._error).toMatchObject({ code: 'MH_ERR_MSG_DELETE_KEYS' });
      for (const key of Object.keys(extra)) expect((answer._error as { message: string }).message).toContain(JSON.stringify(key));
    }
    expect((await history()).map((r) => r.id)).toContain(id);
    // Keys that are no column and no condition (Gramex ignores them too) do not stop a DELETE by id.
    const deleted = await c.request({ _method: 'DELETE', id, note: 'cleanup' });
    expect(deleted).toMatchObject({ _ack: expect.any(Number), id });
    expect((await history()).map((r) => r.id)).not.toContain(id);
  });

  it('DELETE /chat?id=… without a body deletes that row; without an id it names what is missing', async ({ skip }) => {
    if (!available) return skip();
    const created = (await (await fetch(`${base}/chat`, { method: 'POST', body: JSON.stringify({ body: 'by query' }) })).json()) as Frame;
    const del = await fetch(`${base}/chat?id=${encodeURIComponent(created.id as string)}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await del.json()).toMatchObject({ _method: 'DELETE', id: created.id });
    expect((await history()).map((r) => r.id)).not.toContain(created.id);
    const none = await fetch(`${base}/chat`, { method: 'DELETE' });
    expect(none.status).toBe(400);
    expect(((await none.json()) as { _error: { code: string } })._error.code).toBe('MH_ERR_MSG_MISSING_ID');
  });

  it('service.publish goes through the same intake: subscribers hear it, and DELETE guards hold', async ({ skip }) => {
    if (!available) return skip();
    const c = await connect();
    const from = c.frames.length;
    const frame = await service.publish('chat', { body: 'from the server', topic: 'ops' });
    expect(frame).toMatchObject({ _method: 'POST', body: 'from the server', topic: 'ops', user: null, _seq: expect.any(Number) });
    await c.until((fs) => fs.slice(from).some((f) => f.id === frame.id), 'the published message');
    const err = await service.publish('chat', { _method: 'DELETE', id: frame.id as string, topic: 'ops' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MhError);
    expect((err as MhError).code).toBe('MH_ERR_MSG_DELETE_KEYS');
    const missing = await service.publish('nochat', { body: 'x' }).catch((e: unknown) => e);
    expect((missing as MhError).code).toBe('MH_ERR_NO_HANDLER');
    expect(await service.publish('chat', { _method: 'DELETE', id: frame.id as string })).toMatchObject({ _method: 'DELETE', id: frame.id });
  });
});
