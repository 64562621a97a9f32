/**
 * Reconnect soak: clients with varied filters over WebSocket, SSE and long-polling drop and reconnect at random
 * (resuming by `_seq`) while a publisher sends POST/PUT/DELETE events, and the server is restarted in the middle
 * (once with SIGTERM, once with SIGKILL). At the end every client holds exactly the events that match its
 * filter, in order, none missing, none twice — checked against the server's own event record.
 */
import net from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { compilePredicate, parseFilter } from '../../src/filter/index.js';
import { matches } from '../../src/hub/hub.js';
import { parseColumn, withBuiltins } from '../../src/store/columns.js';
import { parseDbUrl } from '../../src/store/db-url.js';
import { createStore } from '../../src/store/sql-store.js';
import { readSseBlocks } from '../support/http-clients.js';
import { startCli, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';

const OPS = 1500;
const COLUMNS = withBuiltins([parseColumn('topic', 'TEXT').def!, parseColumn('n', 'INTEGER').def!, parseColumn('body', 'TEXT').def!]);
const FILTERS = ['topic=a', 'topic!=a', 'n>=50', 'n<~=20', 'body~=x', '', 'topic=b&n>~=10', 'topic=c&body!~=x', 'n'];
type Kind = 'ws' | 'sse' | 'poll';
type Got = { seq: number; method: string; id: string };

/** A deterministic PRNG so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A subscriber that keeps itself connected, drops at random, and resumes from the last `_seq` it holds. */
class SoakClient {
  readonly got: Got[] = [];
  readonly errors: string[] = [];
  private stopped = false;
  private loop: Promise<void>;
  reconnects = 0;

  constructor(
    readonly kind: Kind,
    readonly filter: string,
    private readonly base: () => string,
    private readonly random: () => number,
  ) {
    this.loop = this.run();
  }

  get last(): number {
    return this.got.length ? this.got[this.got.length - 1]!.seq : 0;
  }

  private take(f: Record<string, unknown>): void {
    if (f._reset) this.errors.push(`unexpected _reset ${JSON.stringify(f._reset)}`);
    if (f._error) this.errors.push(`error ${JSON.stringify(f._error)}`);
    if (!f._method || typeof f._seq !== 'number') return;
    if (f._seq <= this.last) this.errors.push(`duplicate or out of order: ${f._seq} after ${this.last}`);
    else this.got.push({ seq: f._seq, method: String(f._method), id: String(f.id) });
  }

  private url(): string {
    const q = this.filter ? `${this.filter}&` : '';
    return `${this.base()}/soak?${q}_since=${this.last}`;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.kind === 'ws') await this.ws();
        else if (this.kind === 'sse') await this.sse();
        else await this.poll();
      } catch {
        // Server restarting: try again shortly.
      }
      this.reconnects++;
      await pause(5 + this.random() * 30);
    }
  }

  /** Stays connected for a random while (or until the server goes away). */
  private lifetime(): number {
    return 20 + this.random() * 300;
  }

  private ws(): Promise<void> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.url().replace(/^http/, 'ws'));
      const timer = setTimeout(() => ws.terminate(), this.lifetime());
      ws.on('message', (d) => this.take(JSON.parse(d.toString()) as Record<string, unknown>));
      ws.on('error', () => undefined);
      ws.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async sse(): Promise<void> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.lifetime());
    try {
      const res = await fetch(this.url(), { headers: { accept: 'text/event-stream' }, signal: abort.signal });
      await readSseBlocks(res, (block) => {
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (data && !block.includes('event: close')) this.take(JSON.parse(data.slice(6)) as Record<string, unknown>);
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private async poll(): Promise<void> {
    const res = await fetch(`${this.url()}&_wait=0.2`);
    const body = (await res.json()) as Record<string, unknown>[];
    if (!Array.isArray(body)) throw new Error(JSON.stringify(body));
    for (const f of body) this.take(f);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

describe('reconnect soak (WebSocket, SSE, long-polling) across server restarts', () => {
  let server: Mounted | undefined;
  afterAll(async () => {
    if (server?.child && server.child.exitCode === null) server.child.kill('SIGKILL');
  });

  it('ends with every client holding exactly its matching events, in order, none missing or twice', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const port = await freePort();
    const config = writeConfig(
      `
url:
  soak:
    pattern: /soak
    handler: MessageHandler
    kwargs:
      url: sqlite:///soak.db
      table: soak
      columns: {topic: TEXT, n: INTEGER, body: TEXT}
      edit: any
      limits: {messages_per_second: 0}
`,
      dir,
    );
    const start = async (): Promise<void> => {
      server = await startCli(config, ['--port', String(port)]);
    };
    await start();
    const base = (): string => `http://127.0.0.1:${port}`;
    const random = rng(20261122);
    const kinds: Kind[] = ['ws', 'sse', 'poll'];
    const clients = FILTERS.flatMap((f, i) => [new SoakClient(kinds[i % 3]!, f, base, random), new SoakClient(kinds[(i + 1) % 3]!, f, base, random)]);

    // The publisher: random POST / PUT / DELETE over HTTP, reconnecting across restarts.
    const ids: string[] = [];
    const send = async (body: Record<string, unknown>, method: string): Promise<void> => {
      for (let attempt = 0; attempt < 200; attempt++) {
        try {
          const res = await fetch(`${base()}/soak`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
          const out = (await res.json()) as Record<string, unknown>;
          if (res.status === 201) ids.push(String(out.id));
          if (method === 'DELETE' && res.status === 200 && ids.includes(String(body.id))) ids.splice(ids.indexOf(String(body.id)), 1);
          return;
        } catch {
          await pause(20); // server restarting
        }
      }
      throw new Error('publisher could not reach the server');
    };
    const topics = ['a', 'b', 'c'];
    for (let op = 0; op < OPS; op++) {
      const r = random();
      const row = { topic: topics[Math.floor(random() * 3)], n: Math.floor(random() * 100), body: random() < 0.3 ? `x${op}` : `m${op}` };
      if (r < 0.6 || ids.length < 5) await send(row, 'POST');
      else if (r < 0.85) await send({ id: ids[Math.floor(random() * ids.length)], ...(random() < 0.5 ? { topic: row.topic } : { n: row.n }) }, 'PUT');
      else await send({ id: ids[Math.floor(random() * ids.length)] }, 'DELETE');
      if (op === Math.floor(OPS / 3)) {
        await server!.close(); // SIGTERM: graceful
        await start();
      } else if (op === Math.floor((2 * OPS) / 3)) {
        const exited = new Promise((r) => server!.child!.once('exit', r));
        server!.child!.kill('SIGKILL');
        await exited;
        await start();
      }
    }

    // The server's own record of what happened, and what each filter should have heard of.
    // Read through a second store on the same file: POST records refer to their rows, which it joins.
    const reader = createStore(parseDbUrl(`sqlite:///${path.join(dir, 'soak.db')}`, '/'), 'soak', COLUMNS);
    await reader.init();
    const events = await reader.eventsSince(0, 1_000_000);
    await reader.close();
    expect(events.length).toBeGreaterThan(OPS * 0.9);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1)); // gapless across both restarts
    const expected = new Map<string, Got[]>();
    for (const f of FILTERS) {
      const predicate = compilePredicate(parseFilter(Object.fromEntries([...new URLSearchParams(f)].map(([k, v]) => [k, [v]])), COLUMNS));
      expected.set(f, events.filter((e) => matches(predicate, e)).map((e) => ({ seq: e.seq, method: e.method, id: e.id })));
    }
    const lastSeq = events[events.length - 1]!.seq;
    // Let every client catch up (bounded), then stop them.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && clients.some((c) => c.got.length < expected.get(c.filter)!.length)) await pause(50);
    await Promise.all(clients.map((c) => c.stop()));
    for (const c of clients) {
      expect(c.errors, `${c.kind} ?${c.filter}`).toEqual([]);
      expect(c.got, `${c.kind} ?${c.filter} (${c.reconnects} reconnects)`).toEqual(expected.get(c.filter));
      expect(c.reconnects).toBeGreaterThan(2);
    }
    expect(lastSeq).toBe(events.length);
    await server!.close();
  });
});
