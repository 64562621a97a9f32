/**
 * Issue 16, as a real cluster with faults: three `msghub serve` processes on one private PostgreSQL and one
 * private Redis (the Redis bus), on loopback. Subscribers with varied filters on every node, publishers on every
 * node; each subscriber must receive exactly the events of the store that its filter matches, in `_seq` order
 * (so in the same order on every node), none missing, none twice:
 * - with nothing going wrong;
 * - when a node is SIGKILLed mid-stream (its subscribers resume on another node with `_since`);
 * - when Redis is killed mid-stream and started again empty (every subscriber stays connected);
 * - when PostgreSQL is stopped mid-stream and started again: writes are refused meanwhile with the catalogued
 *   MH_ERR_STORE_UNAVAILABLE (503 over HTTP, `_error` on WebSocket), nothing refused is stored, writes are
 *   accepted after, and every subscriber stays connected and completes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivatePostgres, PrivateRedis, requireBinaries } from '../support/instances.js';
import { SignJWT } from 'jose';
import { SseClient } from '../support/http-clients.js';
import { TestClient, type Frame } from '../support/ws-client.js';
import {
  CLUSTER_SECRET,
  expectExactly,
  highestAck,
  killNode,
  publish,
  publisher,
  startCluster,
  subscribeEverywhere,
  truth,
  type Cluster,
  type Node,
  type Outcome,
  type Subscriber,
} from './harness.js';

let pg: PrivatePostgres | null = null;
let redis: PrivateRedis | null = null;
let tables = 0;
const table = (): string => `cluster_${process.pid}_${++tables}`;

beforeAll(async () => {
  if (!requireBinaries('PostgreSQL', PrivatePostgres.available()) || !requireBinaries('Redis', PrivateRedis.available())) return;
  [pg, redis] = await Promise.all([PrivatePostgres.create(), PrivateRedis.create()]);
  await Promise.all([pg.start(), redis.start()]);
}, 60_000);
afterAll(async () => {
  await Promise.allSettled([pg?.destroy(), redis?.destroy()]);
}, 30_000);

/** One test's cluster, subscribers and publishers, all closed at the end whatever happened. */
async function withCluster(run: (c: Cluster, subs: Subscriber[], pubs: TestClient[]) => Promise<void>): Promise<void> {
  const cluster = await startCluster(pg!.url, redis!.url, table());
  const subs: Subscriber[] = [];
  const pubs: TestClient[] = [];
  try {
    subs.push(...(await subscribeEverywhere(cluster.nodes)));
    for (const n of cluster.nodes) pubs.push(await publisher(n));
    await run(cluster, subs, pubs);
  } finally {
    await Promise.allSettled([...subs.map((s) => s.close()), ...pubs.map((p) => p.close())]);
    await cluster.close();
  }
}

function expectAllAcked(outcomes: Outcome[]): void {
  for (const o of outcomes) expect(o.reply._error, JSON.stringify(o.reply)).toBeUndefined();
}

function expectStillConnected(subs: Subscriber[]): void {
  for (const s of subs) expect(s.client.closeCode, `${s.filter.query || 'all'} on node ${s.node.index}`).toBeNull();
}

describe('resumes on another node', () => {
  it('an SSE client resumes on another node with Last-Event-ID, and a durable user from its acknowledged position', async (ctx) => {
    if (!pg || !redis) return ctx.skip();
    const cluster = await startCluster(pg.url, redis.url, table());
    const [a, b, c] = cluster.nodes as [Node, Node, Node];
    const closers: (() => Promise<unknown>)[] = [];
    try {
      // SSE on node A hears the first ten (published on node B); it comes back on node C with the last id it saw.
      const pub = await publisher(b);
      closers.push(() => pub.close());
      const sse = SseClient.open(`${a.http}/chat`);
      closers.push(() => sse.close());
      await sse.until((x) => x.comments.some((t) => t.includes('stream open')), 'the stream');
      const first = (await publish(pub, 'sse-a', 10)).map((o) => o.reply._seq as number);
      await sse.until((x) => x.events.filter((e) => e.id !== undefined).length >= 10, 'ten events');
      const lastId = sse.events.filter((e) => e.id !== undefined).at(-1)!.id!;
      expect(Number(lastId)).toBe(Math.max(...first));
      await sse.close();
      const later = (await publish(pub, 'sse-b', 10)).map((o) => o.reply._seq as number);
      const again = SseClient.open(`${c.http}/chat`, { 'last-event-id': lastId });
      closers.push(() => again.close());
      await again.until((x) => x.events.filter((e) => e.id !== undefined).length >= 10, 'the ten it missed');
      expect(again.events.filter((e) => e.id !== undefined).map((e) => Number(e.id))).toEqual(later);

      // A durable user acknowledges 3 of 5 on node A; on node C it gets exactly the other 2.
      const jwt = await new SignJWT({ sub: 'u1' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(CLUSTER_SECRET));
      const bearer = { authorization: `Bearer ${jwt}` };
      const reader = await TestClient.connect(`${a.ws}/inbox`, bearer);
      closers.push(() => reader.close());
      const writer = await TestClient.connect(`${b.ws}/inbox`, bearer);
      closers.push(() => writer.close());
      const sent: Frame[] = [];
      for (let i = 0; i < 5; i++) sent.push(await writer.request({ body: `d${i}` }));
      await reader.until((fs) => fs.filter((f) => f._method === 'POST').length >= 5, 'five on node A');
      reader.send({ _ack: sent[2]!._seq });
      await reader.close();
      // The acknowledgement is written on a later turn on node A: wait until node C's resume reflects it.
      const deadline = Date.now() + 10_000;
      let resumed: Frame[] = [];
      for (;;) {
        const r = await TestClient.connect(`${c.ws}/inbox`, bearer);
        closers.push(() => r.close());
        await r.until((fs) => fs.some((f) => f._seq === sent[4]!._seq), 'the last one', 10_000);
        resumed = r.frames.filter((f) => f._seq !== undefined);
        await r.close();
        if (resumed.length === 2 || Date.now() > deadline) break;
      }
      expect(resumed.map((f) => f.body)).toEqual(['d3', 'd4']);
    } finally {
      for (const close of closers) await close().catch(() => undefined);
      await cluster.close();
    }
  }, 60_000);
});

describe('three nodes on one PostgreSQL and one Redis', () => {
  it('every subscriber on every node receives exactly its matching events, in _seq order, once', async (ctx) => {
    if (!pg || !redis) return ctx.skip();
    await withCluster(async (cluster, subs, pubs) => {
      const outcomes = (await Promise.all(pubs.map((p, i) => publish(p, `n${i}`, 60)))).flat();
      expectAllAcked(outcomes);
      const last = highestAck(outcomes);
      expect(last).toBe(180);
      const all = await truth(cluster.nodes[1]!, last);
      await Promise.all(subs.map((s) => s.complete(all.filter(s.filter.matches))));
      for (const s of subs) expectExactly(s, all);
      expectStillConnected(subs);
    });
  }, 60_000);

  it('a SIGKILLed node: its subscribers resume on another node with _since and lose nothing', async (ctx) => {
    if (!pg || !redis) return ctx.skip();
    await withCluster(async (cluster, subs, pubs) => {
      const victim = cluster.nodes[2]!;
      const moved = subs.filter((s) => s.node === victim);
      const fault = async (sent: number): Promise<void> => {
        if (sent !== 30) return;
        await killNode(victim);
        await Promise.all(moved.map((s) => s.client.waitClose(10_000)));
        // Each to a surviving node, resuming after the last event it saw.
        await Promise.all(moved.map((s, i) => s.connect(cluster.nodes[i % 2]!, true)));
      };
      // Publishers on the surviving nodes (the victim's replies would die with it).
      const outcomes = (await Promise.all([publish(pubs[0]!, 'n0', 80, { between: fault }), publish(pubs[1]!, 'n1', 80)])).flat();
      expectAllAcked(outcomes);
      const last = highestAck(outcomes);
      expect(last).toBe(160);
      const all = await truth(cluster.nodes[0]!, last);
      await Promise.all(subs.map((s) => s.complete(all.filter(s.filter.matches))));
      for (const s of subs) expectExactly(s, all);
      expectStillConnected(subs);
    });
  }, 60_000);

  it('Redis killed mid-stream and started again empty: nothing lost, nothing doubled, nobody disconnected', async (ctx) => {
    if (!pg || !redis) return ctx.skip();
    const r = redis;
    try {
      await withCluster(async (cluster, subs, pubs) => {
        const fault = async (sent: number): Promise<void> => {
          if (sent === 20) await r.stop();
          // While it is down the other nodes go on publishing: each node serves its own subscribers, and fills
          // the others' commits from the store.
          if (sent === 40) await r.start();
        };
        const outcomes = (await Promise.all([publish(pubs[0]!, 'n0', 70, { between: fault }), publish(pubs[1]!, 'n1', 60), publish(pubs[2]!, 'n2', 60)])).flat();
        expectAllAcked(outcomes);
        const last = highestAck(outcomes);
        expect(last).toBe(190);
        const all = await truth(cluster.nodes[2]!, last);
        await Promise.all(subs.map((s) => s.complete(all.filter(s.filter.matches))));
        for (const s of subs) expectExactly(s, all);
        expectStillConnected(subs);
      });
    } finally {
      if (!r.running) await r.start();
    }
  }, 60_000);

  it('PostgreSQL stopped mid-stream: writes refused with MH_ERR_STORE_UNAVAILABLE, accepted after, subscribers stay and complete', async (ctx) => {
    if (!pg || !redis) return ctx.skip();
    const db = pg;
    try {
      await withCluster(async (cluster, subs, pubs) => {
        const whileDown: { http?: { status: number; body: unknown }; ws?: Record<string, unknown> } = {};
        const fault = async (sent: number): Promise<void> => {
          if (sent !== 30) return;
          await db.stop();
          // HTTP publish: a 503 with the catalogued error.
          const res = await fetch(`${cluster.nodes[1]!.http}/chat`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ body: 'http-while-down', topic: 'a', n: 1 }),
          });
          whileDown.http = { status: res.status, body: await res.json() };
          // WebSocket publish: an `_error` reply, the socket stays open.
          whileDown.ws = await pubs[2]!.request({ body: 'ws-while-down', topic: 'b', n: 2 });
          expectStillConnected(subs);
          await db.start();
        };
        const [first, ...others] = await Promise.all([publish(pubs[0]!, 'n0', 80, { between: fault }), publish(pubs[1]!, 'n1', 40), publish(pubs[2]!, 'n2', 40)]);
        expect(whileDown.http?.status).toBe(503);
        expect(whileDown.http?.body).toMatchObject({ _error: { code: 'MH_ERR_STORE_UNAVAILABLE' } });
        expect(whileDown.ws).toMatchObject({ _error: { code: 'MH_ERR_STORE_UNAVAILABLE' } });
        // Before the outage, and after the database is back: every write accepted, without a restart.
        expectAllAcked(first!.slice(0, 30));
        expectAllAcked(first!.slice(30));
        const outcomes = [...first!, ...others.flat()];
        // Whatever the other publishers sent meanwhile was either stored or refused with the catalogued error.
        const refused = outcomes.filter((o) => o.reply._error !== undefined);
        for (const o of refused) expect((o.reply._error as { code: string }).code, JSON.stringify(o.reply)).toBe('MH_ERR_STORE_UNAVAILABLE');
        const last = highestAck(outcomes);
        const all = await truth(cluster.nodes[0]!, last);
        const stored = new Set(all.map((f) => f.body));
        // Nothing reported stored that was not; nothing refused was stored (unless its commit was in doubt, and
        // said so).
        for (const o of outcomes) if (o.reply._ack !== undefined) expect(stored.has(o.body), o.body).toBe(true);
        for (const o of refused) {
          const inDoubt = /may have been stored/.test((o.reply._error as { message: string }).message);
          if (!inDoubt) expect(stored.has(o.body), o.body).toBe(false);
        }
        expect(stored.has('http-while-down') || stored.has('ws-while-down')).toBe(false);
        await Promise.all(subs.map((s) => s.complete(all.filter(s.filter.matches))));
        for (const s of subs) expectExactly(s, all);
        expectStillConnected(subs);
      });
    } finally {
      if (!db.running) await db.start();
    }
  }, 60_000);
});
