/**
 * Server-Sent Events and long-polling run the same handler as WebSockets: history, filters, resume by `_seq`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseClient, poll } from '../support/http-clients.js';
import { mount, type Mounted } from '../support/mounts.js';
import { writeConfig } from '../support/tmp.js';
import { TestClient } from '../support/ws-client.js';

const CONFIG = `
url:
  news:
    pattern: /news
    handler: MessageHandler
    kwargs:
      url: sqlite:///news.db
      table: news
      columns: {body: TEXT, topic: TEXT}
`;

describe('HTTP transports', () => {
  let server: Mounted;
  let pub: TestClient;
  const sse: SseClient[] = [];

  beforeAll(async () => {
    server = await mount('http', writeConfig(CONFIG), { sseKeepAliveMs: 100 });
    pub = await TestClient.connect(`${server.ws}/news`);
    for (const body of ['h1', 'h2']) await pub.request({ body, topic: 'sse' });
  });
  afterAll(async () => {
    await Promise.all(sse.map((c) => c.close()));
    await pub?.close();
    await server?.close();
  });

  describe('Server-Sent Events', () => {
    it('streams history then live events, each with id = _seq, and keep-alive comments', async () => {
      const c = SseClient.open(`${server.http}/news?topic=sse`);
      sse.push(c);
      await c.until((x) => x.frames.length === 2, 'history');
      expect(c.frames.map((f) => f.body)).toEqual(['h1', 'h2']);
      expect(c.frames.every((f) => !f._method)).toBe(true);
      const ack = await pub.request({ body: 'live', topic: 'sse' });
      await pub.request({ body: 'other', topic: 'elsewhere' });
      await c.until((x) => x.frames.length === 3, 'live event');
      expect(c.frames[2]).toMatchObject({ _method: 'POST', body: 'live' });
      expect(c.events.map((e) => Number(e.id))).toEqual(c.frames.map((f) => f._seq));
      expect(c.events[2]!.id).toBe(String(ack._seq));
      await c.until((x) => x.comments.includes('keep-alive'), 'a keep-alive comment');
      expect(c.status).toBe(200);
    });

    it('resumes from Last-Event-ID with exactly the later matching events', async () => {
      const first = await pub.request({ body: 'r1', topic: 'resume' });
      const r2 = await pub.request({ body: 'r2', topic: 'resume' });
      await pub.request({ body: 'x', topic: 'not-resume' });
      const r3 = await pub.request({ _method: 'DELETE', id: first.id });
      const c = SseClient.open(`${server.http}/news?topic=resume`, { 'last-event-id': String(first._seq) });
      sse.push(c);
      await c.until((x) => x.frames.length === 2, 'resumed events');
      expect(c.frames.map((f) => [f._method, f._seq])).toEqual([
        ['POST', r2._seq],
        ['DELETE', r3._seq],
      ]);
    });
  });

  describe('long-polling', () => {
    it('answers at once with the matching events after _since', async () => {
      const a = await pub.request({ body: 'p1', topic: 'poll' });
      const b = await pub.request({ body: 'p2', topic: 'poll' });
      const r = await poll(`${server.http}/news?topic=poll&_since=${Number(a._seq) - 1}&_wait=5`);
      expect(r.status).toBe(200);
      expect((r.body as { body: string; _seq: number }[]).map((f) => [f.body, f._seq])).toEqual([
        ['p1', a._seq],
        ['p2', b._seq],
      ]);
      expect(r.ms).toBeLessThan(2000);
    });

    it('waits for the first matching event when there is none yet', async () => {
      const since = Number((await pub.request({ body: 'mark', topic: 'wait' }))._seq);
      const pending = poll(`${server.http}/news?topic=wait&_since=${since}&_wait=10`);
      // The request is parked; publish a non-matching then a matching event.
      await pub.request({ body: 'nope', topic: 'other' });
      const hit = await pub.request({ body: 'hit', topic: 'wait' });
      const r = await pending;
      expect((r.body as { body: string; _seq: number }[]).map((f) => [f.body, f._seq])).toEqual([['hit', hit._seq]]);
    });

    it('returns an empty list after _wait seconds without events', async () => {
      const since = Number((await pub.request({ body: 'idle', topic: 'idle' }))._seq);
      const r = await poll(`${server.http}/news?topic=idle&_since=${since}&_wait=0.3`);
      expect(r.body).toEqual([]);
      expect(r.ms).toBeGreaterThanOrEqual(250);
    });

    it('refuses a bad _wait or filter with 400 and the error code', async () => {
      expect(await poll(`${server.http}/news?_since=1&_wait=soon`)).toMatchObject({ status: 400, body: { _error: { code: 'MH_ERR_FILTER_VALUE' } } });
      expect(await poll(`${server.http}/news?nope=1&_since=1`)).toMatchObject({ status: 400, body: { _error: { code: 'MH_ERR_FILTER_COLUMN' } } });
    });
  });
});

describe('WebSocket keep-alive', () => {
  it('terminates a peer that stops answering pings and keeps one that answers', async () => {
    const server = await mount('http', writeConfig(CONFIG), { pingIntervalMs: 100 });
    const { default: WebSocket } = await import('ws');
    const open = (autoPong: boolean): Promise<InstanceType<typeof WebSocket>> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`${server.ws}/news?topic=keepalive`, { autoPong });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    const silent = await open(false);
    const live = await open(true);
    try {
      // The silent peer misses a ping; the next round terminates it (close code 1006: no close frame).
      const code = await new Promise<number>((resolve) => silent.once('close', (c: number) => resolve(c)));
      expect(code).toBe(1006);
      // The answering peer is still subscribed: it gets a live event.
      const got = new Promise<Record<string, unknown>>((resolve) => live.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()))));
      const pub = await TestClient.connect(`${server.ws}/news`);
      await pub.request({ body: 'still here', topic: 'keepalive' });
      expect(await got).toMatchObject({ _method: 'POST', body: 'still here' });
      await pub.close();
    } finally {
      live.terminate();
      silent.terminate();
      await server.close();
    }
  });
});
