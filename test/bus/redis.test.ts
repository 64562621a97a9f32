/**
 * The Redis bus (src/bus/redis.ts) against real Redis on loopback: the Bus conformance suite; two buses that hear
 * each other's batches (and not their own echo twice); hostile messages on the channel; large batches split;
 * two MessageServices on one SQLite file whose subscribers hear each other's commits live, through Redis only;
 * a private Redis killed and started again empty: the cut-off node catches up at once on reconnect; and the
 * `bus:` setting's validation, with YAML paths.
 *
 * Isolation from parallel runs on the shared Redis: every bus here uses a channel prefix unique to this run, and
 * the services' channels hash a store key that names their own temp folder.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BusBatch, BusEvent } from '../../src/bus/bus.js';
import { parseBusSection } from '../../src/bus/config.js';
import { RedisBus, decodeEvents, redisChannel, redisOptions } from '../../src/bus/redis.js';
import { ConfigError } from '../../src/errors.js';
import { compileService } from '../../src/service.js';
import { PrivateRedis, requireBinaries } from '../support/instances.js';
import { mount, type Mounted } from '../support/mounts.js';
import { requireService, tempDir, writeConfig } from '../support/tmp.js';
import { clientPool, type Frame, type TestClient } from '../support/ws-client.js';
import { busConformance } from './conformance.js';

const URL = 'redis://127.0.0.1:6379/0';
const PREFIX = `msghub-test:${randomBytes(6).toString('hex')}:`;
const available = await requireService('Redis', 6379);

/** Resolves once `done()` holds, checking on every turn; rejects after `ms`. */
async function until(done: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function event(seq: number, body: string, entry = 'chat'): BusEvent {
  const row = { id: `m${seq}`, body };
  return { entry, event: { seq, method: 'POST', id: row.id, before: null, after: row, changed: ['id', 'body'] }, frame: { _method: 'POST', ...row, _seq: seq } };
}

if (available) busConformance('redis', () => new RedisBus({ url: URL, prefix: PREFIX }));

describe.skipIf(!available)('Redis bus between nodes', () => {
  const buses: RedisBus[] = [];
  const bus = (options: Partial<ConstructorParameters<typeof RedisBus>[0]> = {}): RedisBus => {
    const b = new RedisBus({ url: URL, prefix: PREFIX, ...options });
    buses.push(b);
    return b;
  };
  let raw: Redis;
  beforeAll(() => {
    raw = new Redis(URL);
  });
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });
  afterAll(async () => {
    await raw.quit();
  });

  it('hands a batch to the other node once, and to its own node once (locally, not again from the echo)', async () => {
    const table = `t-${randomBytes(4).toString('hex')}`;
    const a = bus();
    const b = bus();
    const heardA: BusBatch[] = [];
    const heardB: BusBatch[] = [];
    a.subscribe(table, (x) => heardA.push(x));
    b.subscribe(table, (x) => heardB.push(x));
    expect(await a.ready(10_000)).toBe(true);
    expect(await b.ready(10_000)).toBe(true);

    const events = [event(1, 'one'), event(2, 'two'), event(3, 'three')];
    a.publish({ table, events });
    // Local delivery is synchronous, inside publish.
    expect(heardA).toHaveLength(1);
    await until(() => heardB.length === 1, "B hearing A's batch");
    expect(heardB[0]).toEqual({ table, events });
    // Redis relays B's marker to A after A's own echo (B sent it only after it heard A's batch): by the time the
    // marker arrives, the echo has been seen and must have been dropped.
    b.publish({ table, events: [event(4, 'marker')] });
    await until(() => heardA.length === 2, "A hearing B's marker");
    expect(heardA.map((x) => x.events.map((e) => e.event.seq))).toEqual([[1, 2, 3], [4]]);
    expect(heardB.map((x) => x.events.map((e) => e.event.seq))).toEqual([[1, 2, 3], [4]]);
    expect(a.stats.received).toBe(1);
  });

  it('drops malformed, oversized and hostile messages from the channel without crashing, and goes on', async () => {
    const table = `t-${randomBytes(4).toString('hex')}`;
    const b = bus({ maxMessageBytes: 4096 });
    const heard: BusBatch[] = [];
    b.subscribe(table, (x) => heard.push(x));
    expect(await b.ready(10_000)).toBe(true);
    const channel = redisChannel(PREFIX, table);
    const good = event(1, 'fine');
    const hostile = [
      'not msghub at all',
      'm1:peer:{not json',
      'm1:peer:{"an":"object"}',
      'm1:peer:[]',
      `m1:peer:${JSON.stringify([{ ...good, event: { ...good.event, seq: '1' } }])}`,
      `m1:peer:${JSON.stringify([{ ...good, event: { ...good.event, seq: -5 } }])}`,
      `m1:peer:${JSON.stringify([{ ...good, event: { ...good.event, method: 'PATCH' } }])}`,
      `m1:peer:[{"entry":"chat","event":${JSON.stringify(good.event)},"frame":{"__proto__":{"polluted":1}}}]`,
      `m1:peer:[{"entry":"chat","event":${JSON.stringify(good.event)},"frame":{"deep":${'['.repeat(100)}${']'.repeat(100)}}}]`,
      `m1:peer:${JSON.stringify([event(1, 'x'.repeat(5000))])}`,
    ];
    for (const m of hostile) await raw.publish(channel, m);
    await raw.publish(channel, `m1:peer:${JSON.stringify([good])}`);
    await until(() => heard.length === 1, 'the good message after the bad ones');
    expect(heard[0]!.events).toEqual([good]);
    expect(b.stats.rejected).toBe(hostile.length);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('splits a batch too large for one message by events, in order, and does not send an event too large alone', async () => {
    const table = `t-${randomBytes(4).toString('hex')}`;
    const a = bus({ maxMessageBytes: 2000 });
    const b = bus({ maxMessageBytes: 2000 });
    const heard: BusBatch[] = [];
    b.subscribe(table, (x) => heard.push(x));
    expect(await a.ready(10_000)).toBe(true);
    expect(await b.ready(10_000)).toBe(true);
    const events = Array.from({ length: 20 }, (_, i) => event(i + 1, 'y'.repeat(200)));
    a.publish({ table, events });
    a.publish({ table, events: [event(21, 'z'.repeat(3000))] });
    a.publish({ table, events: [event(22, 'last')] });
    await until(() => heard.some((x) => x.events.some((e) => e.event.seq === 22)), 'the last event');
    expect(heard.length).toBeGreaterThan(2);
    expect(heard.flatMap((x) => x.events.map((e) => e.event.seq))).toEqual([...Array.from({ length: 20 }, (_, i) => i + 1), 22]);
    expect(a.stats.unsent).toBe(1);
  });

  it('names channels by a hash, never by the store key (which holds the database user)', () => {
    const key = 'postgresql://secretuser@db.internal:5432/prod#chat';
    const channel = redisChannel('msghub:', key);
    expect(channel).toMatch(/^msghub:[0-9a-f]{32}$/);
    expect(channel).toBe(redisChannel('msghub:', key));
    expect(redisChannel('msghub:', 'postgresql://secretuser@db.internal:5432/prod#other')).not.toBe(channel);
  });

  it('decodes only what it was sent: a header, then a non-empty list of well-formed events', () => {
    const e = event(3, 'ok');
    expect(decodeEvents(Buffer.from(`m1:n:${JSON.stringify([e])}`), 1000)).toEqual([e]);
    expect(decodeEvents(Buffer.from(`m2:n:${JSON.stringify([e])}`), 1000)).toBeTypeOf('string');
    expect(decodeEvents(Buffer.from(`m1:n:${JSON.stringify([{ ...e, frame: null }])}`), 1000)).toBeTypeOf('string');
    expect(decodeEvents(Buffer.from(`m1:n:${JSON.stringify([{ ...e, event: { ...e.event, changed: [1] } }])}`), 1000)).toBeTypeOf('string');
  });
});

/** Two services on one SQLite file, each with its own Redis bus from `bus:`, one HTTP server each. */
async function twoNodes(busUrl: string, buses: RedisBus[] = []): Promise<{ nodes: Mounted[]; pools: ReturnType<typeof clientPool>[] }> {
  const config = writeConfig(
    `
bus: ${busUrl}
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/shared.db
      table: chat
      columns: {body: TEXT}
      direct: true
      limits: {messages_per_second: 0}
`,
    tempDir(),
  );
  const nodes: Mounted[] = [];
  // Only Redis (and the reconnect catch-up) may bring A's commits to B: B never commits, and its periodic sync is
  // an hour away.
  for (let i = 0; i < 2; i++) nodes.push(await mount('http', config, { busSyncMs: 3_600_000, bus: buses[i] }));
  return { nodes, pools: nodes.map((n) => clientPool(() => n.ws)) };
}

/** Connects and waits until the subscription is live: a refused frame is answered only after it is. */
async function liveClient(pool: ReturnType<typeof clientPool>, path = '/chat'): Promise<TestClient> {
  const c = await pool.connect(path);
  await c.request({ _method: 'PATCH' });
  return c;
}

const livePosts = (frames: Frame[]): Frame[] => frames.filter((f) => f._method === 'POST' && typeof f._seq === 'number');

describe.skipIf(!available)('two services on one database, one Redis', () => {
  let nodes: Mounted[] = [];
  let pools: ReturnType<typeof clientPool>[] = [];
  afterEach(async () => {
    for (const p of pools) await p.closeAll();
    for (const n of nodes) await n.close();
    nodes = [];
    pools = [];
  });

  it("a subscriber on B hears A's commits live (B commits nothing), in _seq order, once; and A's _direct frames", async () => {
    ({ nodes, pools } = await twoNodes(URL));
    const onB = await liveClient(pools[1]!);
    const onA = await liveClient(pools[0]!);
    const N = 30;
    const acks = await Promise.all(Array.from({ length: N }, (_, i) => onA.request({ body: `m${i}` })));
    expect(acks.every((a) => typeof a._seq === 'number')).toBe(true);
    await onB.until((f) => livePosts(f).length >= N, `${N} live events on B`, 15_000);
    await onA.request({ _direct: true, body: 'typing' });
    await onA.request({ body: 'after' });
    await onB.until((f) => livePosts(f).some((x) => x.body === 'after'), 'the last event on B', 15_000);
    await onB.until((f) => f.some((x) => x._direct === true), 'the direct frame on B', 15_000);
    const seqs = livePosts(onB.frames).map((f) => f._seq);
    expect(seqs).toEqual(Array.from({ length: N + 1 }, (_, i) => i + 1));
    expect(onB.frames.filter((x) => x._direct === true)).toHaveLength(1);
    await onA.until((f) => livePosts(f).length >= N + 1, 'A hearing its own commits');
    expect(livePosts(onB.frames).map((f) => f.body)).toEqual(livePosts(onA.frames).map((f) => f.body));
  }, 60_000);

  const canFault = requireBinaries('redis-server', PrivateRedis.available());
  it.skipIf(!canFault)('a node cut off by a Redis restart (started again empty) catches up at once when it reconnects', async () => {
    const redis = await PrivateRedis.create();
    // Buses given to the services (not from `bus:`), so the test can wait until both are connected again.
    const buses = [0, 1].map(() => new RedisBus({ url: `${redis.url}/0` }));
    try {
      await redis.start();
      ({ nodes, pools } = await twoNodes(`${redis.url}/0`, buses));
      const onB = await liveClient(pools[1]!);
      const onA = await liveClient(pools[0]!);
      await onA.request({ body: 'before' });
      await onB.until((f) => livePosts(f).length >= 1, 'the first event on B', 15_000);

      await redis.stop();
      // A keeps serving its own subscribers; B hears nothing of these until Redis is back.
      for (let i = 0; i < 5; i++) await onA.request({ body: `during ${i}` });
      await onA.until((f) => livePosts(f).length >= 6, 'A hearing its own commits without Redis');
      expect(livePosts(onB.frames)).toHaveLength(1);

      await redis.start();
      await onB.until((f) => livePosts(f).length >= 6, 'B catching up after Redis came back', 20_000);
      // A's commit goes out only once A's publishing connection is back too.
      expect(await buses[0]!.ready(20_000)).toBe(true);
      await onA.request({ body: 'after' });
      await onB.until((f) => livePosts(f).length >= 7, 'the live event after the restart', 20_000);
      expect(livePosts(onB.frames).map((f) => f._seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(livePosts(onB.frames).map((f) => f.body)).toEqual(['before', 'during 0', 'during 1', 'during 2', 'during 3', 'during 4', 'after']);
    } finally {
      for (const p of pools) await p.closeAll();
      for (const n of nodes) await n.close();
      nodes = [];
      pools = [];
      await Promise.all(buses.map((b) => b.close()));
      await redis.destroy();
    }
  }, 90_000);
});

describe('the bus: setting', () => {
  const issuesOf = async (bus: unknown): Promise<{ path: string; message: string }[]> => {
    try {
      await compileService({ config: { bus, url: {} }, baseDir: tempDir() }, { log: () => undefined });
      return [];
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).issues.map(({ path, message }) => ({ path, message }));
    }
  };

  it('accepts local, a redis:// or rediss:// URL, and Sentinel', async () => {
    expect(await issuesOf('local')).toEqual([]);
    expect(await issuesOf('redis://:pw@127.0.0.1:6379/2')).toEqual([]);
    expect(await issuesOf({ url: 'rediss://user:p%40ss@mymaster/1', sentinels: [{ host: 's1', port: 26379 }, { host: 's2' }], name: 'mymaster' })).toEqual([]);
    const plain = parseBusSection('rediss://user:p%40ss@cache.internal:6380/3', { path: 'bus', file: 'x' }).config;
    expect(plain.kind).toBe('redis');
    const o = redisOptions(plain.kind === 'redis' ? plain.redis : { url: '' });
    expect([o.host, o.port, o.db, o.username, o.password, Boolean(o.tls)]).toEqual(['cache.internal', 6380, 3, 'user', 'p@ss', true]);
    const sentinel = parseBusSection({ url: 'redis://:pw@ignored/1', sentinels: [{ host: 's1', port: '26380' }], name: 'mymaster' }, { path: 'bus', file: 'x' }).config;
    const so = redisOptions(sentinel.kind === 'redis' ? sentinel.redis : { url: '' });
    expect([so.sentinels, so.name, so.password, so.db]).toEqual([[{ host: 's1', port: 26380 }], 'mymaster', 'pw', 1]);
  });

  it('reports every mistake with its YAML path, and never echoes a password', async () => {
    expect(await issuesOf('http://127.0.0.1:6379')).toEqual([{ path: 'bus', message: expect.stringContaining('unsupported scheme') }]);
    expect(await issuesOf('redis://:s3cret@host:99999/0')).toEqual([{ path: 'bus', message: expect.stringContaining('not a valid URL') }]);
    expect(await issuesOf('redis://:s3cret@host/db')).toEqual([{ path: 'bus', message: expect.stringContaining('database number') }]);
    expect(await issuesOf('redis://host/0?tls=1')).toEqual([{ path: 'bus', message: expect.stringContaining('query string') }]);
    expect(await issuesOf(42)).toEqual([{ path: 'bus', message: expect.stringContaining('must be `local`') }]);
    expect(await issuesOf(['redis://host'])).toEqual([{ path: 'bus', message: expect.stringContaining('must be `local`') }]);
    const bad = await issuesOf({ url: 'redis://:s3cret@h/0', sentinels: [{ host: 's1', port: 70000 }, 'x', { hots: 's3' }], nmae: 'm' });
    expect(bad.map((i) => i.path).sort()).toEqual(['bus.name', 'bus.nmae', 'bus.sentinels[0].port', 'bus.sentinels[1]', 'bus.sentinels[2].host', 'bus.sentinels[2].hots'].sort());
    expect(await issuesOf({ sentinels: [] })).toEqual(
      expect.arrayContaining([
        { path: 'bus.url', message: expect.stringContaining('required') },
        { path: 'bus.sentinels', message: expect.stringContaining('non-empty list') },
        { path: 'bus.name', message: expect.stringContaining('required') },
      ]),
    );
    expect(await issuesOf({ url: 'redis://h/0', name: 'm' })).toEqual([{ path: 'bus.name', message: expect.stringContaining('without sentinels') }]);
    const all = [
      ...(await issuesOf('redis://:s3cret@host:99999/0')),
      ...(await issuesOf('redis://:s3cret@host/db')),
      ...bad,
    ];
    expect(JSON.stringify(all)).not.toContain('s3cret');
  });
});
