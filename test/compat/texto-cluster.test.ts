/**
 * Issue 18, Texto v1 across processes:
 * - §2.7 test 6 and more: two nodes (two MessageServices, each its own http.Server) on one PostgreSQL with the
 *   Redis bus. Texto relayed through Redis (PUBLISH texto:<uuid>); msghub's TextoHandler crosses nodes through
 *   the bus like every handler: a client on node 1 reaches a client on node 2 live, and a client that was offline
 *   for the whole send comes back on the other node and gets everything, in order, once. Each node's periodic
 *   catch-up from the store is an hour away, so only Redis can bring node 1's commits to node 2 live.
 * - a real `msghub serve` child process SIGKILLed between a receive's delivery and its acknowledgement: the
 *   receive is sent again, with the same id, when the client comes back to the restarted server; once acked, never.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import knex from 'knex';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, mount, startCli, type Mounted } from '../support/mounts.js';
import { requireService, tempDir, writeConfig } from '../support/tmp.js';
import { TextoClient } from './support/texto-client.js';

const PG = 'postgresql://postgres@127.0.0.1:5432/test';
const REDIS = 'redis://127.0.0.1:6379/0';
const services = (await requireService('PostgreSQL', 5432)) && (await requireService('Redis', 6379));
const hostOf = (m: Mounted): string => m.http.replace(/^http:\/\//, '');
const table = `texto_${process.pid}_${randomBytes(3).toString('hex')}`;

afterAll(async () => {
  if (!services) return;
  const db = knex({ client: 'pg', connection: PG });
  try {
    await db.schema.dropTableIfExists(table);
  } finally {
    await db.destroy();
  }
});

/**
 * Resolves once client `clientId`'s acknowledged position covers every message stored for it. An ack is written
 * a few ms after it arrives (batched per turn); a client that comes back on another node sooner may get the
 * receive once more (docs/compat.md § Texto v1). The test waits for the write, as a client's human would.
 */
async function acksStored(clientId: string, ms = 10_000): Promise<void> {
  const db = knex({ client: 'pg', connection: PG });
  try {
    const deadline = Date.now() + ms;
    for (;;) {
      const [{ max }] = await db(table).where({ recipient: clientId }).max({ max: '_seq' });
      const row = await db('msghub_cursors').where({ tbl: table, handler: 'texto', user_id: clientId }).first('seq');
      if (max !== null && row && Number(row.seq) >= Number(max)) return;
      if (Date.now() > deadline) throw new Error(`the acks of ${clientId} were not stored (cursor ${row?.seq}, last ${max})`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await db.destroy();
  }
}

describe.skipIf(!services)('Texto across two nodes: PostgreSQL + Redis bus', () => {
  it('a client on node 1 reaches a client on node 2; an offline client comes back on the other node and gets all, in order, once', async () => {
    const config = writeConfig(
      `
bus: ${REDIS}
url:
  texto:
    pattern: /v1/texto
    handler: TextoHandler
    kwargs:
      url: ${PG}
      table: ${table}
      limits: {messages_per_second: 0}
`,
      tempDir('msghub-texto-cluster-'),
    );
    const nodes: Mounted[] = [];
    const clients: TextoClient[] = [];
    const on = async (n: number, options = {}): Promise<TextoClient> => {
      const c = await new TextoClient(hostOf(nodes[n]!), options).connect();
      clients.push(c);
      return c;
    };
    try {
      for (let i = 0; i < 2; i++) nodes.push(await mount('http', config, { busSyncMs: 3_600_000 }));
      const a = await on(0);
      const b = await on(1);
      await a.sendMessage(b.id, 'across');
      await b.until(() => b.received.length === 1, 'the receive on node 2', 15_000);
      expect(b.received[0]).toMatchObject({ client_id: b.id, kind: 'receive', data: { sender_id: a.id, text: 'across' } });

      // B goes away (its ack stored); A sends on node 1 meanwhile; B comes back on node 2... then on node 1.
      await acksStored(b.id);
      await b.close();
      const N = 20;
      for (let i = 0; i < N; i++) await a.sendMessage(b.id, `offline ${i}`);
      const b2 = await on(1);
      await b2.register(b.id);
      await b2.until(() => b2.received.length >= N, `${N} stored receives on node 2`, 15_000);
      expect(b2.received.map((f) => f.data.text)).toEqual(Array.from({ length: N }, (_, i) => `offline ${i}`));
      expect(new Set(b2.received.map((f) => f.id)).size).toBe(N);
      // Live again, across: B (node 2) to A (node 1) and back.
      await b2.sendMessage(a.id, 'back');
      await a.until(() => a.received.some((f) => f.data.text === 'back' && f.data.sender_id === b.id), 'the reply on node 1', 15_000);
      await a.sendMessage(b.id, 'live');
      await b2.until(() => b2.received.some((f) => f.data.text === 'live'), 'a live receive on node 2', 15_000);
      await acksStored(b.id);
      await b2.close();

      // Everything was acked (texto.js acks each receive) on node 2: on node 1, only what is new.
      const b3 = await on(0);
      await b3.register(b.id);
      await a.sendMessage(b.id, 'marker');
      await b3.until(() => b3.received.some((f) => f.data.text === 'marker'), 'the marker on node 1', 15_000);
      expect(b3.received.map((f) => f.data.text)).toEqual(['marker']);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      for (const n of nodes) await n.close();
    }
  }, 60_000);
});

describe.skipIf(!existsSync(CLI))('Texto on a `msghub serve` process that is SIGKILLed', () => {
  it('a receive delivered and not yet acknowledged is sent again (same id) after the restart; once acked, never again', async () => {
    const config = writeConfig(
      `
url:
  texto:
    pattern: /v1/texto
    handler: TextoHandler
    kwargs:
      url: sqlite:///$YAMLPATH/texto.db
      table: texto
      limits: {messages_per_second: 0}
`,
      tempDir('msghub-texto-kill-'),
    );
    let node = await startCli(config);
    const clients: TextoClient[] = [];
    const connect = async (options = {}): Promise<TextoClient> => {
      const c = await new TextoClient(hostOf(node), options).connect();
      clients.push(c);
      return c;
    };
    try {
      const a = await connect();
      // B withholds its acks (texto.js would ack at once: this is the moment between delivery and ack).
      const b = await connect({ autoAck: false });
      await a.sendMessage(b.id, 'before the crash');
      await b.until(() => b.received.length === 1, 'the receive');
      const first = b.received[0]!;

      const gone = new Promise<void>((resolve) => node.child!.once('exit', () => resolve()));
      node.child!.kill('SIGKILL');
      await gone;
      await Promise.all([a.closed, b.closed]);
      node = await startCli(config);

      const b2 = await connect({ autoAck: false });
      expect(await b2.register(b.id)).toEqual({ client_id: b.id });
      await b2.until(() => b2.received.length === 1, 'the redelivery');
      expect(b2.received[0]).toEqual(first);
      b2.ack(first.id);
      const a2 = await connect();
      // The ack is taken before the registration that follows it is answered.
      await b2.register(b.id);
      await b2.close();

      const b3 = await connect();
      await b3.register(b.id);
      await a2.sendMessage(b.id, 'after');
      await b3.until(() => b3.received.some((f) => f.data.text === 'after'), 'the new receive');
      expect(b3.received.map((f) => f.data.text)).toEqual(['after']);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await node.close();
    }
  }, 60_000);
});
