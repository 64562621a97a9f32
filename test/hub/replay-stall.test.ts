/**
 * A history replay holds one database snapshot (on PostgreSQL and MySQL, one pooled connection) until its client has
 * read every page. A client that stops reading must not keep it: after `replay_stall_timeout` the replay ends with
 * MH_ERR_REPLAY_STALLED (close 4408) and the snapshot is released. Shown with as many stalled clients as the pool
 * has connections: a write still commits, which it could not if any of them still held its connection.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFilter } from '../../src/filter/index.js';
import { sendHistory } from '../../src/hub/replay.js';
import { msghubCodec } from '../../src/protocol/msghub.js';
import { POOL } from '../../src/store/base-store.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl } from '../../src/store/db-url.js';
import { createStore } from '../../src/store/sql-store.js';
import type { Store, WriteRequest } from '../../src/store/store.js';
import type { Payload, Sink } from '../../src/transport/sink.js';
import { requireService, tempDir } from '../support/tmp.js';

const COLS = withBuiltins([parseColumn('body', 'TEXT').def!]);
const all = parseFilter({}, COLS);
let ids = 0;
const post = (body: string): WriteRequest => {
  const id = `stall${++ids}`;
  return { method: 'POST', id, values: { id, user: null, body }, userId: null, editAny: false };
};

/** A client that reads the first frames and then nothing more: backlogged after `room` frames, never drained. */
class StoppedReader implements Sink {
  readonly texts: string[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiting: (() => void)[] = [];
  constructor(private readonly room: number) {}
  get isOpen(): boolean {
    return this.closed === null;
  }
  get backlogged(): boolean {
    return this.texts.length >= this.room;
  }
  send(payload: Payload): void {
    this.texts.push(payload.text);
  }
  sendText(text: string): void {
    if (this.isOpen) this.texts.push(text);
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
    // As every transport does: a closed socket's pending drains resolve.
    for (const f of this.waiting.splice(0)) f();
  }
  drained(): Promise<void> {
    return this.backlogged && this.isOpen ? new Promise((resolve) => this.waiting.push(resolve)) : Promise.resolve();
  }
}

const TARGETS: { name: string; port?: number; url: () => string }[] = [
  { name: 'sqlite', url: () => `sqlite:///${path.join(tempDir(), 'stall.db')}` },
  { name: 'postgresql', port: 5432, url: () => 'postgresql://postgres@127.0.0.1:5432/test' },
  { name: 'mariadb', port: 3306, url: () => 'mysql://root@127.0.0.1:3306/test' },
];

describe.each(TARGETS)('a stalled history replay on $name', ({ name, port, url }) => {
  let store: Store | null = null;

  beforeAll(async () => {
    if (port && !(await requireService(name, port))) return;
    const table = `stall_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
    store = createStore(parseDbUrl(url(), '/'), table, COLS);
    await store.init();
    const r = await store.write(Array.from({ length: 50 }, (_, i) => post(`row ${i}`)));
    expect(r.every((x) => x.ok)).toBe(true);
  });

  afterAll(async () => {
    if (!store) return;
    await store.knex().schema.dropTableIfExists(store.table);
    await store.close();
  });

  it('ends with MH_ERR_REPLAY_STALLED after the timeout and frees its snapshot', async (ctx) => {
    if (!store) return ctx.skip();
    const s = store;
    // One stalled client per pooled connection (SQLite: a few; it has no pool to exhaust, but the same rule holds).
    const n = name === 'sqlite' ? 3 : POOL.max;
    const readers = Array.from({ length: n }, () => new StoppedReader(5));
    const started = Date.now();
    const replays = readers.map((r) => sendHistory(r, s, all, 1000, msghubCodec, 300));
    const seqs = await Promise.race([
      Promise.all(replays),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('a stalled replay never ended')), 5000)),
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    for (const [i, r] of readers.entries()) {
      expect(r.closed, `reader ${i}`).toEqual({ code: 4408, reason: expect.stringMatching(/^History replay stalled/) });
      const last = JSON.parse(r.texts.at(-1)!) as { _error?: { code: string } };
      expect(last._error?.code).toBe('MH_ERR_REPLAY_STALLED');
      // It stopped where the client stopped reading: not the whole history.
      expect(r.texts.length).toBeLessThan(50);
      expect(typeof seqs[i]).toBe('number');
    }
    // Every connection is back in the pool: a write commits at once.
    const [w] = await s.write([post('after the stall')]);
    expect(w?.ok).toBe(true);
  });

  it('a client that keeps reading is never cut off, however long the history', async (ctx) => {
    if (!store) return ctx.skip();
    const reader = new StoppedReader(Number.POSITIVE_INFINITY);
    await sendHistory(reader, store, all, 1000, msghubCodec, 300);
    expect(reader.closed).toBeNull();
    expect(reader.texts.length).toBeGreaterThanOrEqual(50);
  });
});
