/**
 * The ws transport's fast path reads private members of `ws` (see wsWritePaths in src/transport/ws.ts). `ws` is
 * pinned to an exact version; this test is what tells an upgrade that the fast path stopped being taken: a real
 * server socket, a real client, a burst of frames in one turn and a history-style text frame, and every flush
 * must have gone through ws's Sender with our bytes, none through the per-frame fallback.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { Payload } from '../../src/transport/sink.js';
import { WsSocket, wsWritePaths } from '../../src/transport/ws.js';

describe('ws fast path', () => {
  let wss: WebSocketServer;
  let server: WebSocket;
  let client: WebSocket;
  const received: string[] = [];

  beforeAll(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    client.on('message', (d) => received.push(d.toString()));
    await new Promise<void>((resolve) => client.once('open', () => resolve()));
    server = await accepted;
  });
  afterAll(async () => {
    client.close();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  it('writes pre-framed bytes through ws’s Sender, never through the per-frame fallback', async () => {
    const socket = new WsSocket(server, { maxBufferedBytes: 1 << 20 });
    const before = { ...wsWritePaths };
    for (let i = 0; i < 10; i++) socket.send(Payload.of({ n: i }, i + 1));
    socket.sendText('{"history":true}');
    await new Promise<void>((resolve) => {
      const check = (): void => (received.length === 11 ? resolve() : void client.once('message', check));
      check();
    });
    expect(received.map((t) => JSON.parse(t) as unknown)).toEqual([...Array.from({ length: 10 }, (_, n) => ({ n })), { history: true }]);
    expect(wsWritePaths.fallback - before.fallback).toBe(0);
    expect(wsWritePaths.fast - before.fast).toBeGreaterThanOrEqual(1);
  });
});
