/**
 * The Bus conformance suite (the contract is in src/bus/bus.ts). Every Bus runs it: the local bus, a bus that
 * loses, doubles and reorders on purpose, and the Redis bus when it exists. A real SQLite store commits real
 * batches; each table's TableFeed, fed by the bus under test, must hand its hub every event exactly once, in `_seq`
 * order, and nothing of another table, whatever the bus did.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bus, BusEvent } from '../../src/bus/bus.js';
import { TableFeed } from '../../src/bus/feed.js';
import { parseFilter } from '../../src/filter/index.js';
import { Hub } from '../../src/hub/hub.js';
import { msghubCodec } from '../../src/protocol/msghub.js';
import type { Logger } from '../../src/log.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl } from '../../src/store/db-url.js';
import { createStore } from '../../src/store/sql-store.js';
import type { Store, WriteRequest } from '../../src/store/store.js';
import type { ColumnDef } from '../../src/types.js';
import { tempDir } from '../support/tmp.js';

const COLS: Map<string, ColumnDef> = withBuiltins([parseColumn('body', 'TEXT').def!]);
const quiet: Logger = () => undefined;

/** A hub with one subscriber that records the `_seq` of every event it hears. */
function recordingHub(): { hub: Hub; seqs: number[]; bodies: unknown[] } {
  const hub = new Hub();
  const seqs: number[] = [];
  const bodies: unknown[] = [];
  hub.subscribe({
    filter: parseFilter({}, COLS),
    codec: msghubCodec,
    deliver(payload, event) {
      seqs.push(event.seq);
      bodies.push((JSON.parse(payload.text) as { body?: unknown }).body);
    },
  });
  return { hub, seqs, bodies };
}

/** Resolves once `done()` holds, checking on every turn; rejects after `ms`. */
async function until(done: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

export function busConformance(name: string, makeBus: () => Bus): void {
  describe(`Bus conformance: ${name}`, () => {
    let bus: Bus;
    let stores: Store[];
    let feeds: TableFeed[];

    const table = async (t: string): Promise<{ store: Store; feed: TableFeed; key: string } & ReturnType<typeof recordingHub>> => {
      const store = createStore(parseDbUrl(`sqlite:///${path.join(dir, 'bus.db')}`, '/'), t, COLS, [], quiet);
      await store.init();
      stores.push(store);
      const key = `test#${t}`;
      const feed = new TableFeed(key, store, quiet, { reliable: bus.reliable, fillDelayMs: 5 }, store.lastSeq);
      feeds.push(feed);
      bus.subscribe(key, (b) => feed.receive(b));
      const rec = recordingHub();
      feed.attach('entry', rec.hub);
      return { store, feed, key, ...rec };
    };
    /** Commits `n` POSTs in one batch and publishes it, as the handler does. */
    const commit = async (store: Store, key: string, n: number, tag: string): Promise<BusEvent[]> => {
      const reqs: WriteRequest[] = Array.from({ length: n }, (_, i) => ({ method: 'POST', id: `${tag}-${i}`, values: { id: `${tag}-${i}`, body: `${tag}-${i}` }, userId: null, editAny: false }));
      const results = await store.write(reqs);
      const events = results.map((r) => {
        if (!r.ok) throw r.error;
        return { entry: 'entry', event: r.event, frame: { _method: 'POST', id: r.event.id, body: r.event.after!.body, _seq: r.event.seq } };
      });
      bus.publish({ table: key, events });
      return events;
    };
    let dir: string;

    beforeEach(() => {
      dir = tempDir();
      bus = makeBus();
      stores = [];
      feeds = [];
    });
    afterEach(async () => {
      for (const f of feeds) f.close();
      await bus.close();
      for (const s of stores) await s.close();
    });

    it('hands every committed event of a table to its hub exactly once, in _seq order, and nothing of another table', async () => {
      const a = await table('bus_a');
      const b = await table('bus_b');
      let total = 0;
      for (let i = 0; i < 60; i++) {
        const n = 1 + (i % 7);
        await commit(a.store, a.key, n, `a${i}`);
        total += n;
        if (i % 10 === 0) await commit(b.store, b.key, 1, `b${i}`);
      }
      // What a lost last batch needs (an unreliable bus): the feed asks the store how far the table committed.
      await a.feed.sync();
      await b.feed.sync();
      await until(() => a.seqs.length >= total && b.seqs.length >= 6, 'every event');
      expect(a.seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(b.seqs).toEqual([1, 2, 3, 4, 5, 6]);
      expect(a.bodies.every((x) => typeof x === 'string' && x.startsWith('a'))).toBe(true);
      expect(b.bodies.every((x) => typeof x === 'string' && x.startsWith('b'))).toBe(true);
      if (bus.reliable) expect(a.feed.stats.filled).toBe(0);
    });

    it('ignores a batch delivered again, however late', async () => {
      const a = await table('bus_dup');
      const first = await commit(a.store, a.key, 5, 'x');
      await commit(a.store, a.key, 5, 'y');
      await a.feed.sync();
      await until(() => a.seqs.length >= 10, 'ten events');
      bus.publish({ table: a.key, events: first });
      bus.publish({ table: a.key, events: [...first].reverse() });
      await commit(a.store, a.key, 1, 'z');
      await a.feed.sync();
      await until(() => a.seqs.length >= 11, 'the eleventh event');
      expect(a.seqs).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    });

    it('fills a gap another writer left (a commit that never reached this bus) from the store, in order', async () => {
      const a = await table('bus_gap');
      await commit(a.store, a.key, 3, 'p');
      // Another process commits 4 and 5: nothing of it is published here.
      const other = createStore(parseDbUrl(`sqlite:///${path.join(dir, 'bus.db')}`, '/'), 'bus_gap', COLS, [], quiet);
      await other.init();
      stores.push(other);
      await other.write([4, 5].map((i) => ({ method: 'POST' as const, id: `q${i}`, values: { id: `q${i}`, body: `other ${i}` }, userId: null, editAny: false })));
      const after = await commit(a.store, a.key, 1, 'r');
      expect(after[0]!.event.seq).toBe(6);
      await a.feed.sync();
      await until(() => a.seqs.length >= 6, 'six events');
      expect(a.seqs).toEqual([1, 2, 3, 4, 5, 6]);
      expect(a.bodies.slice(3, 5)).toEqual(['other 4', 'other 5']);
    });

    it('stops delivering to a subscriber that unsubscribed', async () => {
      const a = await table('bus_unsub');
      let heard = 0;
      const stop = bus.subscribe(a.key, () => heard++);
      await commit(a.store, a.key, 1, 'one');
      await a.feed.sync();
      await until(() => a.seqs.length >= 1, 'one event');
      const before = heard;
      stop();
      await commit(a.store, a.key, 1, 'two');
      await a.feed.sync();
      await until(() => a.seqs.length >= 2, 'two events');
      await new Promise((r) => setTimeout(r, 10));
      expect(heard).toBe(before);
    });
  });
}
