/**
 * HTTP reads and publishes are bounded like their WebSocket twins (issue 14, items 6, 7, 8):
 * - a GET streams its history as the client reads, so paused readers cost a page each, not the whole answer,
 *   and do not stall other clients; reads per address are capped; long-poll answers are bounded in bytes;
 * - every message in an HTTP body obeys `max_message_bytes`, and an array with one too large is refused whole;
 * - the per-address HTTP rate forgives once the rate falls back (token buckets, idle entries expire).
 * Real servers on 127.0.0.1, real SQLite files, raw sockets for paused readers.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddressRates } from '../../src/auth/rate.js';
import { LIMIT_DEFAULTS } from '../../src/auth/limits.js';
import { JsonArrayResponse } from '../../src/http/json-array.js';
import { LONG_POLL } from '../../src/http/message-http.js';
import { MessageService, mountHttp } from '../../src/index.js';
import { writeConfig } from '../support/tmp.js';
import { TestClient } from '../support/ws-client.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Memory the JS side holds (heap + Buffers), after a full collection. */
function retained(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Waits until `cond()` holds, checking every few ms; fails after `timeoutMs` naming `what`. */
async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Server {
  base: string;
  port: number;
  /** Server-side sockets, in accept order. */
  sockets: net.Socket[];
  close(): Promise<void>;
}

async function serve(yaml: string): Promise<Server> {
  const service = await MessageService.start(writeConfig(yaml), { log: () => {} });
  const server = http.createServer((req, res) => {
    if (!service.handleRequest(req, res)) res.writeHead(404).end();
  });
  const sockets: net.Socket[] = [];
  server.on('connection', (s) => sockets.push(s));
  const mount = mountHttp(server, service);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    sockets,
    async close() {
      server.closeAllConnections();
      await service.close();
      await mount.dispose();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A client that sends a GET and never reads the answer (its socket is paused before any data arrives). */
function pausedGet(port: number, path: string): net.Socket {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.pause();
  s.on('error', () => {});
  s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  return s;
}

/** The client's local port, once it is connected. */
const localPort = (s: net.Socket): Promise<number> =>
  s.localPort !== undefined ? Promise.resolve(s.localPort) : new Promise((ok) => s.once('connect', () => ok(s.localPort!)));

const post = (url: string, body: unknown): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });

describe('HTTP history reads are streamed and bounded (item 6)', () => {
  const ROWS = 4000;
  const ROW_BYTES = 3000;
  const READERS = 20;
  let server: Server;

  beforeAll(async () => {
    server = await serve(`
url:
  big:
    pattern: /big
    handler: MessageHandler
    kwargs:
      url: sqlite:///big.db
      table: big
      columns: {body: TEXT}
      history_limit: ${ROWS}
      limits: {messages_per_second: 0, max_reads_per_ip: ${READERS}}
  probe:
    pattern: /probe
    handler: MessageHandler
    kwargs:
      url: sqlite:///probe.db
      table: probe
      columns: {body: TEXT}
`);
    // ~12 MB of history per full read: more than the kernel buffers of a paused reader's connection hold.
    for (let i = 0; i < ROWS; i += 250) {
      const batch = Array.from({ length: 250 }, (_, j) => ({ body: `${i + j}:`.padEnd(ROW_BYTES, 'x') }));
      expect((await post(`${server.base}/big`, batch)).status).toBe(201);
    }
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  it('answers a GET with the whole history, in order, as one JSON array', async () => {
    const rows = (await (await fetch(`${server.base}/big?_c=body`)).json()) as { body: string; _seq: number }[];
    expect(rows).toHaveLength(ROWS);
    expect(rows.map((r) => Number(r.body.split(':')[0]))).toEqual(Array.from({ length: ROWS }, (_, i) => i));
    const empty = await fetch(`${server.base}/big?body=nothing`);
    expect(empty.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await empty.json()).toEqual([]);
    const head = await fetch(`${server.base}/big`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
  });

  it('holds memory bounded while paused readers hang, keeps other clients fast, and caps reads per address', async () => {
    const probe = await TestClient.connect(`ws://127.0.0.1:${server.port}/probe`);
    const readers: net.Socket[] = [];
    try {
      const before = retained();
      for (let i = 0; i < READERS; i++) readers.push(pausedGet(server.port, '/big'));
      // Another client's writes are acknowledged promptly while the reads start and hang.
      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const ack = await probe.request({ body: `probe ${i}` });
        latencies.push(performance.now() - t0);
        expect(ack._ack).toBeTypeOf('number');
      }
      // Every reader's connection is full: the server cannot hand its socket more, so the read is paused.
      const ports = new Set(await Promise.all(readers.map(localPort)));
      const serverSide = (): net.Socket[] => server.sockets.filter((s) => ports.has(s.remotePort!));
      await until(() => serverSide().length === READERS && serverSide().every((s) => s.writableLength > 0), 'every paused read to fill its connection');
      const grown = retained() - before;
      console.log(`item 6: ${READERS} paused GETs of ${(ROWS * ROW_BYTES) / 1e6} MB each: retained +${(grown / 1e6).toFixed(1)} MB, rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB, probe acks ${latencies.map((l) => l.toFixed(0)).join('/')} ms`);
      // Unbounded, each read holds what its kernel buffers could not take: ~8 MB, 160 MB in all.
      expect(grown).toBeLessThan(48 * 1024 * 1024);
      expect(Math.max(...latencies)).toBeLessThan(500);

      // One more from the same address is refused while those run.
      const refused = await fetch(`${server.base}/big`);
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { _error: { code: string; message: string } })._error).toMatchObject({
        code: 'MH_ERR_TOO_MANY_CONNECTIONS',
        message: expect.stringContaining(`${READERS} HTTP reads running`),
      });
      // Readers that hang up give their places back.
      for (const r of readers) r.destroy();
      await until(async () => (await fetch(`${server.base}/big?_limit=1`)).status === 200, 'a read after the paused readers left');
    } finally {
      for (const r of readers) r.destroy();
      await probe.close();
    }
  }, 60_000);

  it('has a documented default cap of concurrent reads per address', () => {
    expect(LIMIT_DEFAULTS.max_reads_per_ip).toBe(16);
  });
});

describe('a read whose client stops reading', () => {
  it('is cut off after the stall time, and its replay loop ends', async () => {
    let closed!: () => void;
    const serverSawClose = new Promise<void>((r) => (closed = r));
    let sent = 0;
    const server = http.createServer(async (_req, res) => {
      const socket = new JsonArrayResponse(res, { stallMs: 200 });
      res.on('close', closed);
      const row = JSON.stringify({ body: 'x'.repeat(10_000) });
      // The replay loop of replay.ts: send while open, wait while backlogged.
      while (socket.isOpen && sent < 100_000) {
        socket.sendText(row, 0);
        sent++;
        if (socket.backlogged) await socket.drained();
      }
      socket.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const client = pausedGet((server.address() as AddressInfo).port, '/');
    try {
      await serverSawClose;
      // It stopped once the connection was full and stalled (~1 GB would have been queued otherwise).
      expect(sent).toBeLessThan(5000);
    } finally {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('long-poll answers are bounded in bytes (item 6)', () => {
  let server: Server;
  beforeAll(async () => {
    server = await serve(`
url:
  lp:
    pattern: /lp
    handler: MessageHandler
    kwargs:
      url: sqlite:///lp.db
      table: lp
      columns: {body: TEXT}
      limits: {messages_per_second: 0}
`);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('stops an answer at LONG_POLL.maxBytes; the next poll continues from its last _seq', async () => {
    const size = 20_000;
    const count = Math.ceil((2 * LONG_POLL.maxBytes) / size);
    for (let i = 0; i < count; i++) expect((await post(`${server.base}/lp`, { body: `${i}:`.padEnd(size, 'y') })).status).toBe(201);
    const seen: number[] = [];
    let since = 0;
    for (let round = 0; seen.length < count && round < 10; round++) {
      const res = await fetch(`${server.base}/lp?_since=${since}&_wait=0`);
      const text = await res.text();
      expect(res.status).toBe(200);
      expect(Buffer.byteLength(text)).toBeLessThan(LONG_POLL.maxBytes + size + 200);
      const events = JSON.parse(text) as { body: string; _seq: number }[];
      expect(events.length).toBeGreaterThan(0);
      seen.push(...events.map((e) => Number(e.body.split(':')[0])));
      since = events.at(-1)!._seq;
    }
    // More than one answer was needed, and together they hold every event once, in order.
    expect(seen).toEqual(Array.from({ length: count }, (_, i) => i));
  });
});

describe('each HTTP message obeys max_message_bytes (item 7)', () => {
  const LIMIT = 4096;
  let server: Server;
  beforeAll(async () => {
    server = await serve(`
url:
  small:
    pattern: /small
    handler: MessageHandler
    kwargs:
      url: sqlite:///small.db
      table: small
      columns: {body: TEXT}
      max_message_bytes: ${LIMIT}
      limits: {messages_per_second: 0}
`);
  });
  afterAll(async () => {
    await server?.close();
  });

  const stored = async (): Promise<string[]> => ((await (await fetch(`${server.base}/small`)).json()) as { body: string }[]).map((r) => r.body);

  it('refuses one message over the limit with 413, as a WebSocket frame would be', async () => {
    const res = await post(`${server.base}/small`, { body: 'a'.repeat(LIMIT + 1) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { _error: { code: string } })._error.code).toBe('MH_ERR_MSG_TOO_LARGE');
    const ws = await TestClient.connect(`ws://127.0.0.1:${server.port}/small`);
    ws.send({ body: 'a'.repeat(LIMIT + 1) });
    await ws.waitClose();
    expect(ws.closeCode).toBe(1009);
    expect(await stored()).toEqual([]);
  });

  it('refuses a whole array when one item is too large, storing nothing of it', async () => {
    const before = await stored();
    const res = await post(`${server.base}/small`, [{ body: 'fine 1' }, { body: 'b'.repeat(LIMIT) }, { body: 'fine 2' }]);
    expect(res.status).toBe(413);
    const err = ((await res.json()) as { _error: { code: string; message: string } })._error;
    expect(err).toMatchObject({ code: 'MH_ERR_MSG_TOO_LARGE', message: expect.stringContaining('Message 1 of the body') });
    expect(await stored()).toEqual(before);
  });

  it('accepts an array bigger than the limit whose items each fit', async () => {
    const items = ['c', 'd', 'e'].map((ch) => ({ body: ch.repeat(LIMIT - 100) }));
    const res = await post(`${server.base}/small`, items);
    expect(res.status).toBe(201);
    expect((await stored()).slice(-3)).toEqual(items.map((i) => i.body));
  });

  it('measures an item by its JSON, not by the whitespace around it', async () => {
    const body = `[${' '.repeat(2 * LIMIT)}{"body": "pretty"}${' '.repeat(LIMIT)}]`;
    const res = await post(`${server.base}/small`, body);
    expect(res.status).toBe(201);
    expect((await stored()).at(-1)).toBe('pretty');
  });
});

describe('the HTTP rate forgives (item 8)', () => {
  const clock = (): { now: () => number; advance: (ms: number) => void } => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms) => void (t += ms) };
  };

  it('refuses only while the bucket is empty, however long the burst was', () => {
    const c = clock();
    const rates = new AddressRates({ ratePerSec: 10, burst: 5 }, c.now);
    const taken = Array.from({ length: 250 }, () => rates.take('1.2.3.4'));
    expect(taken.filter(Boolean)).toHaveLength(5);
    c.advance(100);
    expect(rates.take('1.2.3.4')).toBe(true);
    expect(rates.take('1.2.3.4')).toBe(false);
    c.advance(2000);
    expect([1, 2, 3, 4, 5, 6].map(() => rates.take('1.2.3.4'))).toEqual([true, true, true, true, true, false]);
    // Another address has its own bucket; ::ffff:-mapped IPv4 is the same address.
    expect(rates.take('5.6.7.8', 5)).toBe(true);
    expect(rates.take('::ffff:5.6.7.8')).toBe(false);
  });

  it('forgets addresses idle long enough to be full again, and never holds more than maxAddresses', () => {
    const c = clock();
    const rates = new AddressRates({ ratePerSec: 10, burst: 5, maxAddresses: 100 }, c.now);
    for (let i = 0; i < 50; i++) rates.take(`10.0.0.${i}`);
    expect(rates.size).toBe(50);
    c.advance(499);
    rates.take('10.0.1.1');
    expect(rates.size).toBe(51);
    // 500 ms refills 5 tokens at 10/s: the first 50 are full again, so forgotten.
    c.advance(1);
    rates.take('10.0.1.2');
    expect(rates.size).toBe(2);
    for (let i = 0; i < 1000; i++) rates.take(`10.1.${i >> 8}.${i & 255}`);
    expect(rates.size).toBe(100);
  });

  describe('end to end', () => {
    let server: Server;
    beforeAll(async () => {
      // Refusals would close a WebSocket after 3; an HTTP publisher has no connection, so it is never banned.
      server = await serve(`
url:
  rated:
    pattern: /rated
    handler: MessageHandler
    kwargs:
      url: sqlite:///rated.db
      table: rated
      columns: {body: TEXT}
      limits: {messages_per_second: 2, burst: 5, close_after_refusals: 3}
`);
    });
    afterAll(async () => {
      await server?.close();
    });

    it('answers a burst with 429, then accepts a POST once the bucket refilled', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await post(`${server.base}/rated`, { body: `burst ${i}` })).status);
      // The bucket holds 5; a token comes back every 500 ms, so however slowly this machine sends the burst, at
      // most a few of the other 7 find one.
      expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(5);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(4);
      // Three tokens are back within 1.5 s: the refill itself is a matter of time, so this one waits for it.
      await new Promise((r) => setTimeout(r, 1600));
      const later = await post(`${server.base}/rated`, [1, 2, 3].map((i) => ({ body: `later ${i}` })));
      expect(later.status).toBe(201);
    });

    it('says so when one request carries more messages than the burst', async () => {
      const refused = await post(`${server.base}/rated`, [1, 2, 3, 4, 5, 6].map((i) => ({ body: `too many ${i}` })));
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { _error: { message: string } })._error.message).toContain('at most 5 messages (limits.burst)');
    });
  });
});
