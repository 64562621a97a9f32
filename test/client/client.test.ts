/**
 * The client library (src/client, docs/client.md) against a real MessageService over loopback, with `ws` as its
 * WebSocket: history then live, acknowledged sends, reconnect and resume across a restart of the service on the
 * same SQLite file and port (no gap, no duplicate), sends queued while down and delivered exactly once, a lost
 * acknowledgement retried without a second row, `_reset`, the async iterator, the queue bound and token refresh.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, type Hub, type HubEvent, type Row, type State } from '../../src/client/index.js';
import { MessageService, mountHttp } from '../../src/index.js';
import { NodeEventSource } from '../support/event-source.js';
import { tempDir, writeConfig } from '../support/tmp.js';

const SECRET = 'client-test-secret-of-at-least-32-bytes!';

const config = (dir: string, extra = ''): string =>
  writeConfig(
    `
${extra}
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///${path.join(dir, 'chat.db')}
      table: chat
      columns: {body: TEXT, topic: TEXT}
      edit: any
      limits: {messages_per_second: 0}
`,
    dir,
  );

interface Running {
  port: number;
  url: string;
  close(): Promise<void>;
}

async function start(file: string, port = 0): Promise<Running> {
  const service = await MessageService.start(file, { log: () => {} });
  const server = http.createServer((req, res) => {
    if (!service.handleRequest(req, res)) res.writeHead(404).end();
  });
  const m = mountHttp(server, service);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const p = (server.address() as AddressInfo).port;
  return {
    port: p,
    url: `ws://127.0.0.1:${p}/chat`,
    async close() {
      await service.close();
      await m.dispose();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Records a hub's events and waits for them (bounded, event driven). */
function record(hub: Hub): { events: HubEvent[]; until(pred: (e: HubEvent[]) => boolean, what: string, ms?: number): Promise<void> } {
  const events: HubEvent[] = [];
  let check = (): void => undefined;
  for (const type of ['history', 'message', 'reset', 'error', 'state'] as const) {
    hub.on(type, (data: unknown) => {
      events.push({ type, data } as HubEvent);
      check();
    });
  }
  return {
    events,
    until(pred, what, ms = 8000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(events).slice(0, 1500)}`)), ms);
        check = () => {
          if (pred(events)) {
            clearTimeout(timer);
            check = () => undefined;
            resolve();
          }
        };
        check();
      });
    },
  };
}

const live = (events: HubEvent[]): Row[] => events.filter((e) => e.type === 'message').map((e) => e.data as Row);
const states = (events: HubEvent[]): State[] => events.filter((e) => e.type === 'state').map((e) => e.data as State);

describe('msghub/client', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  const open = (url: string, options: Parameters<typeof connect>[1] = {}): Hub => {
    const hub = connect(url, { WebSocket: WebSocket as never, reconnect: { minMs: 20, maxMs: 200 }, ...options });
    cleanup.push(() => hub.close());
    return hub;
  };

  it('delivers history then live events, and settles sends with the acknowledgement or the catalogued error', async () => {
    const dir = tempDir();
    const server = await start(config(dir));
    cleanup.push(() => server.close());
    const writer = open(server.url);
    await writer.send({ body: 'old', topic: 'a' });
    await writer.send({ body: 'other', topic: 'b' });

    const hub = open(server.url, { filter: { topic: 'a' } });
    const r = record(hub);
    await r.until((e) => e.some((x) => x.type === 'history'), 'history');
    expect(r.events.filter((e) => e.type === 'history').map((e) => (e.data as Row).body)).toEqual(['old']);
    const ack = await hub.send({ body: 'new', topic: 'a' });
    expect(ack).toEqual({ id: expect.any(String), _seq: expect.any(Number) });
    await r.until((e) => live(e).some((m) => m.id === ack.id), 'the live POST');
    expect(hub.lastSeq).toBe(ack._seq);
    const put = await hub.send({ _method: 'PUT', id: ack.id, body: 'edited' });
    expect(put.id).toBe(ack.id);
    await expect(hub.send({ _method: 'DELETE', id: 'no-such-id' })).rejects.toMatchObject({ code: 'MH_ERR_MSG_NOT_FOUND' });
    await r.until((e) => live(e).some((m) => m._method === 'PUT'), 'the live PUT');
    expect(live(r.events).map((m) => m._method)).toEqual(['POST', 'PUT']);
    expect(states(r.events)).toEqual(['open']);
  });

  it('resumes from the last _seq after a restart on the same file and port: no gap, no duplicate, queued sends stored once', async () => {
    const dir = tempDir();
    const file = config(dir);
    let server = await start(file);
    const hub = open(server.url, { reconnect: { minMs: 400, maxMs: 400 } });
    const r = record(hub);
    await r.until((e) => states(e).includes('open'), 'open');
    const a1 = await hub.send({ body: 'a1' });
    await r.until((e) => live(e).length === 1, 'a1 live');

    const port = server.port;
    await server.close();
    await r.until((e) => states(e).includes('reconnecting'), 'reconnecting');
    // Sends while the server is down wait in the queue.
    const queued = [hub.send({ body: 'q1' }), hub.send({ body: 'q2' }), hub.send({ body: 'q3' })];
    server = await start(file, port);
    cleanup.push(() => server.close());
    // Others write while the client is still away: it must hear of these by resuming.
    const other = open(server.url);
    const o1 = await other.send({ body: 'o1' });
    const o2 = await other.send({ body: 'o2' });
    const acks = await Promise.all(queued);
    await r.until((e) => live(e).length === 6, 'every event once');
    const seqs = live(r.events).map((m) => m._seq as number);
    // In order, each once, and every event committed: the client's own, and those made while it was away.
    expect(seqs).toEqual([...new Set(seqs)].sort((x, y) => x - y));
    expect(seqs).toEqual([a1._seq, o1._seq, o2._seq, ...acks.map((a) => a._seq)].sort((x, y) => x! - y!));
    // Resumed, not replayed: no history the second time.
    expect(r.events.filter((e) => e.type === 'history')).toEqual([]);
    const db = new Database(path.join(dir, 'chat.db'), { readonly: true });
    cleanup.push(() => db.close());
    expect(db.prepare(`SELECT body, COUNT(*) AS n FROM chat WHERE body LIKE 'q%' GROUP BY body`).all()).toEqual([
      { body: 'q1', n: 1 },
      { body: 'q2', n: 1 },
      { body: 'q3', n: 1 },
    ]);
  });

  it('sends again, with the same _ref, a message whose acknowledgement was lost with the connection: stored once', async () => {
    const dir = tempDir();
    const server = await start(config(dir));
    cleanup.push(() => server.close());
    // A network that loses the first acknowledgement it carries and then drops the connection.
    let lost = 0;
    class LossyWebSocket {
      private readonly ws: WebSocket;
      onopen: ((ev: unknown) => void) | null = null;
      onmessage: ((ev: { data: unknown }) => void) | null = null;
      onclose: ((ev: { code: number; reason: string }) => void) | null = null;
      onerror: ((ev: unknown) => void) | null = null;
      constructor(url: string) {
        this.ws = new WebSocket(url);
        this.ws.onopen = (ev) => this.onopen?.(ev);
        this.ws.onerror = (ev) => this.onerror?.(ev);
        this.ws.onclose = (ev) => this.onclose?.({ code: ev.code, reason: ev.reason });
        this.ws.onmessage = (ev) => {
          if (lost === 0 && String(ev.data).startsWith('{"_ack"')) {
            lost++;
            this.ws.terminate();
            return;
          }
          this.onmessage?.(ev);
        };
      }
      get readyState(): number {
        return this.ws.readyState;
      }
      send(data: string): void {
        this.ws.send(data);
      }
      close(code?: number, reason?: string): void {
        this.ws.close(code, reason);
      }
    }
    const hub = open(server.url, { WebSocket: LossyWebSocket as never });
    const r = record(hub);
    const ack = await hub.send({ body: 'exactly once' });
    expect(lost).toBe(1);
    expect(states(r.events)).toContain('reconnecting');
    const db = new Database(path.join(dir, 'chat.db'), { readonly: true });
    cleanup.push(() => db.close());
    expect(db.prepare(`SELECT id FROM chat WHERE body = 'exactly once'`).all()).toEqual([{ id: ack.id }]);
  });

  it('passes on _reset when the server cannot resume, and takes its position from the history that follows', async () => {
    const dir = tempDir();
    const file = config(dir);
    let server = await start(file);
    // Slow to come back, so the record can be pruned while it is away.
    const hub = open(server.url, { reconnect: { minMs: 2000, maxMs: 2000 } });
    const r = record(hub);
    await hub.send({ body: 'r1' });
    await r.until((e) => live(e).length === 1, 'r1 live');
    const port = server.port;
    await server.close();
    server = await start(file, port);
    cleanup.push(() => server.close());
    const other = open(server.url);
    const r2 = await other.send({ body: 'r2' });
    const r3 = await other.send({ body: 'r3' });
    // The event record loses what came after the client's position (as retention would prune it).
    const db = new Database(path.join(dir, 'chat.db'));
    db.prepare(`DELETE FROM msghub_events WHERE seq <= ?`).run(r2._seq);
    db.close();
    await r.until((e) => e.some((x) => x.type === 'reset') && e.filter((x) => x.type === 'history').length === 3, 'reset and history');
    const after = r.events.slice(r.events.findIndex((e) => e.type === 'reset'));
    expect(after.filter((e) => e.type === 'history').map((e) => (e.data as Row).body)).toEqual(['r1', 'r2', 'r3']);
    expect(hub.lastSeq).toBe(r3._seq);
  });

  it('is an async iterator of every event, which ends when the client closes', async () => {
    const dir = tempDir();
    const server = await start(config(dir));
    cleanup.push(() => server.close());
    const hub = open(server.url);
    const seen: string[] = [];
    const done = (async () => {
      for await (const ev of hub) {
        seen.push(ev.type === 'message' ? `message:${String(ev.data.body)}` : ev.type === 'state' ? `state:${ev.data}` : ev.type);
        if (ev.type === 'message') hub.close();
      }
    })();
    await hub.send({ body: 'hi' });
    await done;
    expect(seen).toEqual(['state:open', 'message:hi', 'state:closed']);
  });

  it('bounds the queue: beyond queueLimit, send rejects with MH_CLIENT_QUEUE_FULL; close rejects the rest', async () => {
    const hub = open('ws://127.0.0.1:9/chat', { queueLimit: 2, transport: 'websocket' });
    const a = hub.send({ body: '1' });
    const b = hub.send({ body: '2' });
    await expect(hub.send({ body: '3' })).rejects.toMatchObject({ code: 'MH_CLIENT_QUEUE_FULL' });
    hub.close();
    await expect(a).rejects.toMatchObject({ code: 'MH_CLIENT_CLOSED' });
    await expect(b).rejects.toMatchObject({ code: 'MH_CLIENT_CLOSED' });
  });

  it('falls back to SSE + HTTP publish when WebSocket is blocked: history, live, idempotent sends, resume', async () => {
    const dir = tempDir();
    const file = config(dir);
    let server = await start(file);
    // A "proxy" that refuses every WebSocket upgrade.
    class BlockedWebSocket {
      readyState = 3;
      onopen = null;
      onmessage = null;
      onerror: ((ev: unknown) => void) | null = null;
      onclose: ((ev: { code: number; reason: string }) => void) | null = null;
      constructor() {
        setTimeout(() => this.onclose?.({ code: 1006, reason: '' }));
      }
      send(): void {}
      close(): void {}
    }
    const writer = open(server.url);
    await writer.send({ body: 'before', topic: 'a' });
    const hub = open(server.url, { WebSocket: BlockedWebSocket as never, EventSource: NodeEventSource as never, filter: { topic: 'a' }, reconnect: { minMs: 400, maxMs: 400 } });
    const r = record(hub);
    await r.until((e) => e.some((x) => x.type === 'history'), 'history over SSE');
    const ack = await hub.send({ body: 'over sse', topic: 'a' });
    expect(ack).toEqual({ id: expect.any(String), _seq: expect.any(Number) });
    await expect(hub.send({ _method: 'DELETE', id: 'nope' })).rejects.toMatchObject({ code: 'MH_ERR_MSG_NOT_FOUND' });
    await r.until((e) => live(e).some((m) => m.id === ack.id), 'the live POST over SSE');
    // A restart: the stream ends, the client comes back with _since and hears what it missed, once.
    const port = server.port;
    await server.close();
    server = await start(file, port);
    cleanup.push(() => server.close());
    const missed = await open(server.url).send({ body: 'missed', topic: 'a' });
    await r.until((e) => live(e).some((m) => m.id === missed.id), 'the missed POST');
    const seqs = live(r.events).map((m) => m._seq);
    expect(seqs).toEqual([ack._seq, missed._seq]);
    expect(r.events.filter((e) => e.type === 'history')).toHaveLength(1);
    const db = new Database(path.join(dir, 'chat.db'), { readonly: true });
    cleanup.push(() => db.close());
    expect(db.prepare(`SELECT COUNT(*) AS n FROM chat WHERE body = 'over sse'`).get()).toEqual({ n: 1 });
  });

  it('refreshes its token with _auth before it expires, so the server never closes the socket', async () => {
    const dir = tempDir();
    const server = await start(config(dir, `auth:\n  jwt:\n    secret: ${SECRET}\n    clock_tolerance: 0\n`));
    cleanup.push(() => server.close());
    const key = new TextEncoder().encode(SECRET);
    let issued = 0;
    const token = (): Promise<string> => {
      issued++;
      return new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .setExpirationTime(Math.floor(Date.now() / 1000) + 3)
        .sign(key);
    };
    const hub = open(server.url, { token });
    const r = record(hub);
    await r.until((e) => states(e).includes('open'), 'open');
    const ack = await hub.send({ body: 'signed' });
    // Past the first token's expiry (3 s, refreshed at ~2.4 s) and the second's refresh: still the first socket.
    await new Promise((resolve) => setTimeout(resolve, 4500));
    expect(issued).toBeGreaterThanOrEqual(3);
    expect(states(r.events)).toEqual(['open']);
    expect(r.events.filter((e) => e.type === 'error')).toEqual([]);
    const db = new Database(path.join(dir, 'chat.db'), { readonly: true });
    cleanup.push(() => db.close());
    expect(db.prepare(`SELECT user FROM chat WHERE id = ?`).get(ack.id)).toEqual({ user: 'alice' });
  }, 15_000);
});
