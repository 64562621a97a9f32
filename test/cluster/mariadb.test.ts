/**
 * Issue 16: the three-node cluster test on MariaDB. Three `msghub serve` processes on one private MariaDB and one
 * private Redis (the Redis bus), on loopback; subscribers with varied filters on every node, publishers on every
 * node: each subscriber receives exactly the events of the store its filter matches, in `_seq` order, none
 * missing, none twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateMariaDB, PrivateRedis, requireBinaries } from '../support/instances.js';
import { expectExactly, highestAck, publish, publisher, startCluster, subscribeEverywhere, truth } from './harness.js';

let db: PrivateMariaDB | null = null;
let redis: PrivateRedis | null = null;

beforeAll(async () => {
  if (!requireBinaries('MariaDB', PrivateMariaDB.available()) || !requireBinaries('Redis', PrivateRedis.available())) return;
  [db, redis] = await Promise.all([PrivateMariaDB.create(), PrivateRedis.create()]);
  await Promise.all([db.start(), redis.start()]);
}, 60_000);
afterAll(async () => {
  await Promise.allSettled([db?.destroy(), redis?.destroy()]);
}, 30_000);

describe('three nodes on one MariaDB and one Redis', () => {
  it('every subscriber on every node receives exactly its matching events, in _seq order, once', async (ctx) => {
    if (!db || !redis) return ctx.skip();
    const cluster = await startCluster(db.url, redis.url, `cluster_${process.pid}`);
    const subs = await subscribeEverywhere(cluster.nodes);
    const pubs = await Promise.all(cluster.nodes.map(publisher));
    try {
      const outcomes = (await Promise.all(pubs.map((p, i) => publish(p, `n${i}`, 60)))).flat();
      for (const o of outcomes) expect(o.reply._error, JSON.stringify(o.reply)).toBeUndefined();
      const last = highestAck(outcomes);
      expect(last).toBe(180);
      const all = await truth(cluster.nodes[2]!, last);
      await Promise.all(subs.map((s) => s.complete(all.filter(s.filter.matches))));
      for (const s of subs) expectExactly(s, all);
      for (const s of subs) expect(s.client.closeCode).toBeNull();
    } finally {
      await Promise.allSettled([...subs.map((s) => s.close()), ...pubs.map((p) => p.close())]);
      await cluster.close();
    }
  }, 60_000);
});
