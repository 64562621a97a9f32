/**
 * Subscribers that ask for the same filter share one parsed, frozen Filter (MessageHandler.subscriptionFilter):
 * each connection then holds ~500 fewer bytes and skips parsing. Sharing must never let one connection's
 * filter leak into another's: different args, and args that an `open` expression changes per user, get their own.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionInfo, MessageHandler } from '../src/core/handler.js';
import type { Subscriber } from '../src/core/subscriber.js';
import { MessageService } from '../src/service.js';
import type { Payload, Sink } from '../src/transport/sink.js';
import type { Args, User } from '../src/types.js';
import { tempDir, writeConfig } from './support/tmp.js';

/** A socket that records what it is sent (JSON texts), as a transport would deliver it. */
class RecordingSocket implements Sink {
  readonly texts: string[] = [];
  isOpen = true;
  readonly backlogged = false;
  closedWith: number | null = null;
  send(payload: Payload): void {
    this.texts.push(payload.text);
  }
  sendText(text: string): void {
    this.texts.push(text);
  }
  close(code: number): void {
    this.closedWith = code;
    this.isOpen = false;
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
}

const info = (args: Args, user: User | null = null): ConnectionInfo => ({ args, user, sessionId: null, ip: '127.0.0.1', headers: {} });

describe('subscription filters shared between connections', () => {
  let service: MessageService;
  let plain: MessageHandler;
  let pinned: MessageHandler;

  beforeAll(async () => {
    const dir = tempDir();
    const file = writeConfig(
      [
        'url:',
        '  plain:',
        '    pattern: /plain',
        '    handler: MessageHandler',
        `    kwargs: {url: "sqlite:///${path.join(dir, 'a.db')}", table: msgs, columns: {body: TEXT, topic: TEXT}}`,
        '  pinned:',
        '    pattern: /pinned',
        '    handler: MessageHandler',
        `    kwargs: {url: "sqlite:///${path.join(dir, 'b.db')}", table: msgs, columns: {body: TEXT, topic: TEXT}, open: "args.topic = [handler.current_user.id]"}`,
      ].join('\n'),
      dir,
    );
    service = await MessageService.start(file);
    plain = service.handlers.get('plain')!;
    pinned = service.handlers.get('pinned')!;
  });
  afterAll(() => service?.close());

  it('gives connections with the same args one frozen filter, and different args their own', async () => {
    const a = (await plain.open(new RecordingSocket(), info({ topic: ['Help'] })))!;
    const b = (await plain.open(new RecordingSocket(), info({ topic: ['Help'], _since: ['0'], access_token: ['x'] })))!;
    const c = (await plain.open(new RecordingSocket(), info({ topic: ['News'] })))!;
    expect(b.filter).toBe(a.filter);
    expect(c.filter).not.toBe(a.filter);
    expect(Object.isFrozen(a.filter) && Object.isFrozen(a.filter.where) && Object.isFrozen(a.filter.where[0]!.values)).toBe(true);
    expect(c.filter.where).toEqual([{ column: 'topic', op: 'eq', values: ['News'] }]);
    for (const conn of [a, b, c]) plain.disconnect(conn);
  });

  it('reports a bad filter to every connection that sends it', async () => {
    for (let i = 0; i < 2; i++) {
      const socket = new RecordingSocket();
      expect(await plain.open(socket, info({ nosuch: ['1'] }))).toBeNull();
      expect(socket.texts.map((t) => JSON.parse(t) as { _error?: { code: string } })[0]?._error?.code).toMatch(/^MH_ERR_/);
      expect(socket.closedWith).toBeGreaterThanOrEqual(4000);
    }
  });

  it('keys the filter on the args after `open`, so users pinned to their own rows never share one', async () => {
    const alice = (await pinned.open(new RecordingSocket(), info({ topic: ['bob'] }, { id: 'alice' })))!;
    const bob = (await pinned.open(new RecordingSocket(), info({ topic: ['bob'] }, { id: 'bob' })))!;
    const alice2 = (await pinned.open(new RecordingSocket(), info({}, { id: 'alice' })))!;
    expect(alice.filter.where).toEqual([{ column: 'topic', op: 'eq', values: ['alice'] }]);
    expect(bob.filter.where).toEqual([{ column: 'topic', op: 'eq', values: ['bob'] }]);
    expect(alice2.filter).toBe(alice.filter);
    // Live delivery follows each connection's own filter.
    const socketOf = (conn: Subscriber): RecordingSocket => conn.sink as RecordingSocket;
    const before = [alice, bob, alice2].map((conn) => socketOf(conn).texts.length);
    // Published as bob would over HTTP: resolves once the row is committed and broadcast.
    const row = await pinned.submit({ body: 'for bob', topic: 'bob' }, bob.scope);
    expect(row.topic).toBe('bob');
    expect(socketOf(bob).texts.length).toBe(before[1]! + 1);
    expect(socketOf(alice).texts.length).toBe(before[0]);
    expect(socketOf(alice2).texts.length).toBe(before[2]);
    for (const conn of [alice, bob, alice2]) pinned.disconnect(conn);
  });
});
