/**
 * The group commit on a database in another process starts the next batch's write as soon as the last one's
 * outcome is known, before publishing it (pipeline/commit.ts); on SQLite it publishes first. Either way, writes
 * never overlap each other, every batch is published in commit order, and each sender hears of its message after
 * its batch was published. Real stores, with their write() wrapped to record when each call starts and ends.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusEvent } from '../../src/bus/bus.js';
import type { Reply } from '../../src/core/intake.js';
import { GroupCommit, type Pending } from '../../src/pipeline/commit.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl } from '../../src/store/db-url.js';
import { createStore } from '../../src/store/sql-store.js';
import type { Store, WriteRequest, WriteResult } from '../../src/store/store.js';
import { requireService, tempDir } from '../support/tmp.js';

const COLS = withBuiltins([parseColumn('body', 'TEXT').def!]);
let ids = 0;

const TARGETS: { name: string; port?: number; url: () => string; overlaps: boolean }[] = [
  { name: 'sqlite', url: () => `sqlite:///${path.join(tempDir(), 'overlap.db')}`, overlaps: false },
  { name: 'postgresql', port: 5432, url: () => 'postgresql://postgres@127.0.0.1:5432/test', overlaps: true },
  { name: 'mariadb', port: 3306, url: () => 'mysql://root@127.0.0.1:3306/test', overlaps: true },
];

describe.each(TARGETS)('group commit on $name', ({ name, port, url, overlaps }) => {
  let store: Store | null = null;

  beforeAll(async () => {
    if (port && !(await requireService(name, port))) return;
    store = createStore(parseDbUrl(url(), '/'), `overlap_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`, COLS);
    await store.init();
  });

  afterAll(async () => {
    if (!store) return;
    await store.knex().schema.dropTableIfExists(store.table);
    await store.close();
  });

  it(`${overlaps ? 'starts the next write before publishing' : 'publishes before starting the next write'}; writes never overlap; commit order everywhere`, async (ctx) => {
    if (!store) return ctx.skip();
    const real = store;
    const log: string[] = [];
    let writes = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    // The real store, with write() recorded. Everything else is the store's own.
    const recorded: Store = Object.assign(Object.create(real) as Store, {
      async write(reqs: readonly WriteRequest[]): Promise<WriteResult[]> {
        const n = ++writes;
        log.push(`write ${n} start`);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          return await real.write(reqs);
        } finally {
          inFlight--;
          log.push(`write ${n} end`);
        }
      },
    });
    const published: number[] = [];
    let batches = 0;
    const commit = new GroupCommit('overlap', recorded, (events: BusEvent[]) => {
      log.push(`publish ${++batches}`);
      published.push(...events.map((e) => e.event.seq));
    }, () => undefined);

    const acked: number[] = [];
    const enqueue = (body: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const id = `ov${++ids}`;
        const reply: Reply = {
          committed: (event) => {
            // The sender hears after its event was published.
            expect(published).toContain(event.seq);
            acked.push(event.seq);
            resolve(event.seq);
          },
          refused: reject,
        };
        const p: Pending = { prepared: { method: 'POST', req: { method: 'POST', id, values: { id, user: null, body }, userId: null, editAny: false }, frame: { id, body } }, reply, bytes: body.length };
        commit.enqueue(p);
      });

    // A first batch; once its write is under way, a second one queues behind it, then a third behind that.
    const first = Array.from({ length: 20 }, (_, i) => enqueue(`a${i}`));
    await new Promise<void>((resolve) => {
      const wait = (): void => (writes >= 1 ? resolve() : void setImmediate(wait));
      wait();
    });
    const second = Array.from({ length: 20 }, (_, i) => enqueue(`b${i}`));
    const third = (async () => {
      await Promise.race(second);
      return Promise.all(Array.from({ length: 5 }, (_, i) => enqueue(`c${i}`)));
    })();
    const seqs = [...(await Promise.all(first)), ...(await Promise.all(second)), ...(await third)];
    await commit.drained();

    expect(maxInFlight).toBe(1);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(published).toEqual([...published].sort((a, b) => a - b));
    expect(acked).toEqual(published);
    expect(log.slice(0, 3)).toEqual(overlaps ? ['write 1 start', 'write 1 end', 'write 2 start'] : ['write 1 start', 'write 1 end', 'publish 1']);
    expect(log.indexOf('publish 1')).toBeLessThan(log.indexOf('write 2 end'));
  });
});
