/**
 * Several `msghub serve` processes on one database (issue 15): real processes on loopback, one SQLite file, one
 * PostgreSQL or one MariaDB database. Every write through either is acknowledged; `_seq` values are distinct and follow the
 * commit order; a `_since=0` resume on either process returns every event of both, in order, once. Live delivery
 * across processes needs a shared bus (the Redis bus); with the local bus a process hears another's commits when
 * its own next commit reveals the gap, and reads them from the store, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, type Mounted } from '../support/mounts.js';
import { requireService, tempDir, writeConfig } from '../support/tmp.js';
import { clientPool, type Frame } from '../support/ws-client.js';

const TARGETS = [
  { name: 'SQLite', port: 0, url: () => 'sqlite:///$YAMLPATH/shared.db', table: () => 'shared' },
  {
    name: 'PostgreSQL',
    port: 5432,
    url: () => 'postgresql://postgres@127.0.0.1:5432/test',
    table: () => `procs_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`,
  },
  {
    name: 'MariaDB',
    port: 3306,
    url: () => 'mysql://root@127.0.0.1:3306/test',
    table: () => `procs_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`,
  },
];

describe.each(TARGETS)('two processes on one $name database', ({ name, port, url, table }) => {
  let available = true;
  const servers: Mounted[] = [];
  const pools = [0, 1].map((i) => clientPool(() => servers[i]!.ws));

  beforeAll(async () => {
    if (port && !(await requireService(name, port))) {
      available = false;
      return;
    }
    const config = writeConfig(
      `
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: ${url()}
      table: ${table()}
      columns: {body: TEXT}
      limits: {messages_per_second: 0}
`,
      tempDir(),
    );
    // One after the other: the second finds the tables (and the sequence row) the first made.
    servers.push(await startCli(config));
    servers.push(await startCli(config));
  }, 40_000);
  afterAll(async () => {
    for (const p of pools) await p.closeAll();
    for (const s of servers) await s.close();
  });

  const N = 40;

  it('acknowledges every write through both, with distinct _seq values in commit order, and resumes everything on either', async (ctx) => {
    if (!available) return ctx.skip();
    const [a, b] = await Promise.all([pools[0]!.connect('/chat?_since=0'), pools[1]!.connect('/chat?_since=0')]);
    // Both processes write at once: their transactions interleave on the database.
    for (let i = 0; i < N; i++) {
      a.send({ body: `a${i}`, _ref: `a${i}` });
      b.send({ body: `b${i}`, _ref: `b${i}` });
    }
    const acks = (c: typeof a): Promise<Frame[]> => c.until((fs) => fs.filter((f) => f._ref !== undefined).length === N, 'every reply', 15_000).then((fs) => fs.filter((f) => f._ref !== undefined));
    const [fromA, fromB] = await Promise.all([acks(a), acks(b)]);
    for (const f of [...fromA, ...fromB]) expect(f._error, JSON.stringify(f)).toBeUndefined();
    const seqsA = fromA.map((f) => f._seq as number);
    const seqsB = fromB.map((f) => f._seq as number);
    // Each process commits its own messages in the order they were sent.
    expect(seqsA).toEqual([...seqsA].sort((x, y) => x - y));
    expect(seqsB).toEqual([...seqsB].sort((x, y) => x - y));
    // Together: every number from 1 to 2N once, whatever the interleaving.
    expect([...seqsA, ...seqsB].sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * N }, (_, i) => i + 1));

    // A resume from the start, on either process, returns both processes' events, in _seq order, once.
    for (const pool of pools) {
      const r = await pool.connect('/chat?_since=0');
      const events = (await r.until((fs) => fs.filter((f) => f._seq !== undefined).length >= 2 * N, 'every event', 10_000)).filter((f) => f._seq !== undefined);
      expect(events.map((f) => f._seq)).toEqual(Array.from({ length: 2 * N }, (_, i) => i + 1));
      const bySeq = new Map([...fromA, ...fromB].map((f) => [f._seq as number, String(f._ref)]));
      expect(events.map((f) => f.body)).toEqual(events.map((f) => bySeq.get(f._seq as number)));
    }
  }, 40_000);

  it("delivers another process's commits live, in order and once, when this process's next commit reveals them", async (ctx) => {
    if (!available) return ctx.skip();
    const watcher = await pools[1]!.connect('/chat');
    const writerA = await pools[0]!.connect('/chat');
    const writerB = await pools[1]!.connect('/chat');
    const fromA = [await writerA.request({ body: 'from A 1' }), await writerA.request({ body: 'from A 2' })];
    const fromB = await writerB.request({ body: 'from B' });
    const seen = await watcher.until((fs) => fs.some((f) => f.id === fromB.id), 'the commit through B');
    const live = seen.filter((f) => f._method === 'POST');
    expect(live.map((f) => f.id)).toEqual([...fromA.map((f) => f.id), fromB.id]);
    expect(live.map((f) => f._seq)).toEqual([...fromA.map((f) => f._seq), fromB._seq]);
  }, 20_000);
});
