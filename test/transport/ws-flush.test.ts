/**
 * The per-turn flush of WebSocket frames, over real sockets on loopback: at most FLUSH_CHUNK sockets are written
 * in one event-loop turn (a broadcast to thousands of subscribers must not hold the loop for one write() each),
 * and the sockets left for the next turn still get every frame, in order.
 */
import type { AddressInfo } from 'node:net';
import type { Socket as NetSocket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { Payload } from '../../src/transport/sink.js';
import { FLUSH_CHUNK, WsSocket } from '../../src/transport/ws.js';

const N = FLUSH_CHUNK + 44;

describe('WsSocket flush', () => {
  let wss: WebSocketServer;
  const serverSide: WebSocket[] = [];
  const clients: WebSocket[] = [];
  const received: string[][] = [];
  let waiting: { count: number; resolve: () => void } | null = null;
  const check = (): void => {
    if (waiting && received.every((r) => r.length >= waiting!.count)) waiting.resolve();
  };
  /** Resolves once every client has `count` messages (the test's own timeout bounds it). */
  const allReceived = (count: number): Promise<void> =>
    new Promise((resolve) => {
      waiting = { count, resolve };
      check();
    });

  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    const port = (wss.address() as AddressInfo).port;
    const accepted = new Promise<void>((resolve) => {
      wss.on('connection', (ws) => {
        serverSide.push(ws);
        if (serverSide.length === N) resolve();
      });
    });
    for (let i = 0; i < N; i++) {
      const c = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
      const got: string[] = [];
      received.push(got);
      c.on('message', (d) => {
        got.push(String(d));
        check();
      });
      clients.push(c);
    }
    await accepted;
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  it(`writes at most ${FLUSH_CHUNK} sockets in one turn, and the rest on the next with every frame in order`, async () => {
    const sockets = serverSide.map((ws) => new WsSocket(ws, { maxBufferedBytes: 1 << 20 }));
    const raw = serverSide.map((ws) => (ws as unknown as { _socket: NetSocket })._socket);
    const before = raw.map((r) => r.bytesWritten);
    const first = Payload.of({ n: 1 });
    for (const s of sockets) s.send(first);
    // Queued before the flush's own turn ends: runs right after the first chunk, in the same check phase.
    const writtenAfterFirstTurn = await new Promise<number>((resolve) => setImmediate(() => resolve(raw.filter((r, i) => r.bytesWritten > before[i]!).length)));
    expect(writtenAfterFirstTurn).toBe(FLUSH_CHUNK);
    // A second frame queued now joins the first for the sockets not yet written.
    const second = Payload.of({ n: 2 });
    for (const s of sockets) s.send(second);
    await allReceived(2);
    for (const r of received) expect(r).toEqual(['{"n":1}', '{"n":2}']);
  }, 15_000);
});
