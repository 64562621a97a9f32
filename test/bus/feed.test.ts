/**
 * The feed when the store it fills gaps from fails: the gap is filled once the store answers again, nothing is
 * lost or doubled, and it is not asked in a tight loop meanwhile. A real SQLite store whose event reads fail for a
 * while (as a database that went away does), a second store on the same file as "another process".
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TableFeed } from '../../src/bus/feed.js';
import { LocalBus } from '../../src/bus/local.js';
import { MhError } from '../../src/errors.js';
import { parseFilter } from '../../src/filter/index.js';
import { Hub } from '../../src/hub/hub.js';
import { msghubCodec } from '../../src/protocol/msghub.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl } from '../../src/store/db-url.js';
import { createStore } from '../../src/store/sql-store.js';
import type { Store, WriteRequest } from '../../src/store/store.js';
import { tempDir } from '../support/tmp.js';

const COLS = withBuiltins([parseColumn('body', 'TEXT').def!]);
const post = (id: string): WriteRequest => ({ method: 'POST', id, values: { id, body: id }, userId: null, editAny: false });

describe('TableFeed when the store fails', () => {
  const stores: Store[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  it('fills a gap once the store answers again, in order, once, and does not ask it in a tight loop meanwhile', async () => {
    const url = parseDbUrl(`sqlite:///${path.join(tempDir(), 'feed.db')}`, '/');
    const mine = createStore(url, 'feed', COLS, [], () => undefined);
    const other = createStore(url, 'feed', COLS, [], () => undefined);
    await mine.init();
    await other.init();
    stores.push(mine, other);
    // The store "goes away" for its first two event reads.
    let calls = 0;
    const read = mine.eventsSince.bind(mine);
    mine.eventsSince = async (after, limit) => {
      calls++;
      if (calls <= 2) throw new MhError('MH_ERR_STORE_UNAVAILABLE', ['down for the test']);
      return read(after, limit);
    };
    const bus = new LocalBus();
    const feed = new TableFeed('t', mine, () => undefined, { reliable: true }, mine.lastSeq);
    bus.subscribe('t', (b) => feed.receive(b));
    const hub = new Hub();
    const seqs: number[] = [];
    hub.subscribe({ filter: parseFilter({}, COLS), codec: msghubCodec, deliver: (_p, e) => seqs.push(e.seq) });
    feed.attach('e', hub);
    // Another process commits 1 and 2; this one commits 3, which reveals the gap.
    await other.write([post('a'), post('b')]);
    const [r] = await mine.write([post('c')]);
    if (!r!.ok) throw r!.error;
    const started = Date.now();
    bus.publish({ table: 't', events: [{ entry: 'e', event: r!.event, frame: { id: 'c', _seq: 3 } }] });
    const deadline = Date.now() + 10_000;
    while (seqs.length < 3 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(seqs).toEqual([1, 2, 3]);
    // Two failures, each followed by a pause before the next try (not a tight loop).
    expect(calls).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    feed.close();
  }, 15_000);

  it('never skips past what the store committed: a forged far-ahead _seq is dropped, and real events still flow', async () => {
    const url = parseDbUrl(`sqlite:///${path.join(tempDir(), 'feed.db')}`, '/');
    const store = createStore(url, 'feed', COLS, [], () => undefined);
    await store.init();
    stores.push(store);
    const feed = new TableFeed('t', store, () => undefined, { reliable: true }, store.lastSeq);
    const hub = new Hub();
    const heard: unknown[] = [];
    hub.subscribe({ filter: parseFilter({}, COLS), codec: msghubCodec, deliver: (p) => heard.push((JSON.parse(p.text) as { body: unknown }).body) });
    feed.attach('e', hub);
    const forged = { seq: 1e15, method: 'POST' as const, id: 'x', before: null, after: { id: 'x', body: 'forged', user: null, timestamp: null }, changed: [] };
    feed.receive({ table: 't', events: [{ entry: 'e', event: forged, frame: { body: 'forged', _seq: 1e15 } }] });
    const deadline = Date.now() + 5000;
    while (feed.stats.rejected === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
    expect(feed.stats.rejected).toBe(1);
    const [r] = await store.write([post('real')]);
    if (!r!.ok) throw r!.error;
    feed.receive({ table: 't', events: [{ entry: 'e', event: r!.event, frame: { body: 'real', _seq: r!.event.seq } }] });
    while (heard.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
    expect(heard).toEqual(['real']);
    expect(feed.position).toBe(1);
    feed.close();
  });

  it('skips a gap the record no longer holds (pruned) and delivers what follows it, without looping', async () => {
    const url = parseDbUrl(`sqlite:///${path.join(tempDir(), 'feed.db')}`, '/');
    const store = createStore(url, 'feed', COLS, [], () => undefined);
    await store.init();
    stores.push(store);
    const feed = new TableFeed('t', store, () => undefined, { reliable: true }, 0);
    const hub = new Hub();
    const seqs: number[] = [];
    hub.subscribe({ filter: parseFilter({}, COLS), codec: msghubCodec, deliver: (_p, e) => seqs.push(e.seq) });
    feed.attach('e', hub);
    // Three events committed; the whole gap in front of the third (1 and 2) pruned from the record before this
    // feed fills it, so the record's next event is already past the gap.
    const written = await store.write(['a', 'b', 'c'].map(post));
    await store.prune({ maxCount: 1, maxAgeMs: 1e12 });
    const third = written[2]!;
    if (!third.ok) throw third.error;
    feed.receive({ table: 't', events: [{ entry: 'e', event: third.event, frame: { body: 'c', _seq: 3 } }] });
    const deadline = Date.now() + 5000;
    while (seqs.length < 1 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
    expect(seqs).toEqual([3]);
    feed.close();
  });
});
