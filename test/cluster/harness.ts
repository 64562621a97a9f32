/**
 * A msghub cluster for the fault tests: `msghub serve` processes (real child processes from dist/) on one
 * private database and one private Redis (test/support/instances.ts), on loopback; subscribers with varied
 * filters spread across the nodes; publishers that wait for each reply; and the truth to compare against: every
 * event in the store, read by a `_since=0` resume.
 */
import { expect } from 'vitest';
import { startCli, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { TestClient, type Frame } from '../support/ws-client.js';

/** Subscriber filters (query strings) and the same test in JS, for the expected events. */
export const FILTERS: readonly { query: string; matches: (f: Frame) => boolean }[] = [
  { query: '', matches: () => true },
  { query: 'topic=a', matches: (f) => f.topic === 'a' },
  { query: 'topic!=a', matches: (f) => f.topic !== 'a' },
  { query: 'n>~=20', matches: (f) => typeof f.n === 'number' && f.n >= 20 },
];
export const TOPICS = ['a', 'b', 'c'] as const;

export interface Node extends Mounted {
  index: number;
  killed: boolean;
}

export interface Cluster {
  nodes: Node[];
  config: string;
  /** Stops every node still running (SIGTERM; a SIGKILLed one is already gone). */
  close(): Promise<void>;
}

/** The JWT secret every node of a test cluster shares (the durable `inbox` needs users). */
export const CLUSTER_SECRET = 'a-cluster-test-secret-of-at-least-32-bytes!';

/** Writes the cluster's gramex.yaml: one table on `dbUrl`, the Redis bus at `busUrl`. */
export function clusterConfig(dbUrl: string, busUrl: string, table: string): string {
  return writeConfig(
    `
bus: ${busUrl}
auth:
  jwt: {secret: "${CLUSTER_SECRET}"}
url:
  inbox:
    pattern: /inbox
    handler: MessageHandler
    kwargs:
      url: ${dbUrl}
      table: ${table}_inbox
      columns: {body: TEXT}
      durable: true
      ack_timeout: 60
      limits: {messages_per_second: 0}
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: ${dbUrl}
      table: ${table}
      columns: {body: TEXT, topic: TEXT, n: INTEGER}
      limits: {messages_per_second: 0}
`,
    tempDir('msghub-cluster-'),
  );
}

/** Starts `n` nodes on one config, one after the other (the first creates the tables). */
export async function startCluster(dbUrl: string, busUrl: string, table: string, n = 3): Promise<Cluster> {
  const config = clusterConfig(dbUrl, busUrl, table);
  const nodes: Node[] = [];
  try {
    for (let i = 0; i < n; i++) nodes.push(Object.assign(await startCli(config), { index: i, killed: false }));
  } catch (err) {
    await Promise.allSettled(nodes.map((m) => m.close()));
    throw err;
  }
  return {
    nodes,
    config,
    async close() {
      await Promise.allSettled(nodes.filter((m) => !m.killed).map((m) => m.close()));
    },
  };
}

/** SIGKILLs a node and resolves once it is gone. */
export async function killNode(node: Node): Promise<void> {
  const child = node.child!;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  node.killed = true;
  child.kill('SIGKILL');
  await gone;
}

/** A subscriber: one filter, on one node; it may move to another node (resuming with `_since`). */
export class Subscriber {
  /** Live and resumed events (frames with `_method`), in arrival order, across reconnects. */
  readonly events: Frame[] = [];
  client!: TestClient;
  private readonly clients: TestClient[] = [];

  constructor(
    readonly filter: (typeof FILTERS)[number],
    public node: Node,
  ) {}

  /** Connects to `node`, resuming after the last event seen when `resume` (or from the start). */
  async connect(node: Node = this.node, resume = false): Promise<void> {
    this.node = node;
    const args = [this.filter.query, resume ? `_since=${this.lastSeq}` : ''].filter(Boolean).join('&');
    const c = await TestClient.connect(`${node.ws}/chat${args ? `?${args}` : ''}`);
    this.clients.push(c);
    this.client = c;
    const take = c.frames.length;
    // Events go to `this.events` as they come: the client's own list also holds history and errors.
    c.ws.on('message', () => {
      const f = c.frames[c.frames.length - 1]!;
      if (f._method !== undefined) this.events.push(f);
    });
    for (const f of c.frames.slice(0, take)) if (f._method !== undefined) this.events.push(f);
  }

  get lastSeq(): number {
    return this.events.length ? (this.events[this.events.length - 1]!._seq as number) : 0;
  }

  /** Waits until every event of `expected` (the truth, already filtered) arrived. */
  async complete(expected: Frame[], timeoutMs = 30_000): Promise<void> {
    const last = expected.length ? (expected[expected.length - 1]!._seq as number) : 0;
    const deadline = Date.now() + timeoutMs;
    // Wait on the current client's frames (event-driven). Its own list is read, not `this.events`: the client
    // checks waiters before our listener has copied the frame that just came.
    const reached = (fs: Frame[]): boolean => this.lastSeq >= last || fs.some((f) => f._method !== undefined && (f._seq as number) >= last);
    while (this.lastSeq < last) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.client.until(reached, `${this.filter.query || 'all'} on node ${this.node.index} to reach _seq ${last}`, left).catch(() => undefined);
      // The frame is copied to `this.events` by our listener in the same turn, after the client's own.
      await new Promise((r) => setImmediate(r));
    }
    expect(this.lastSeq, `${this.filter.query || 'all'} on node ${this.node.index}: last _seq`).toBe(last);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.close()));
  }
}

/** Subscribers with every filter on every node. */
export async function subscribeEverywhere(nodes: Node[]): Promise<Subscriber[]> {
  const subs: Subscriber[] = [];
  for (const node of nodes) {
    for (const filter of FILTERS) {
      const s = new Subscriber(filter, node);
      await s.connect();
      subs.push(s);
    }
  }
  return subs;
}

/** What a publisher heard for one message. */
export interface Outcome {
  body: string;
  reply: Frame;
}

/**
 * A publisher on one node: sends `count` messages (`body`: `<tag>-<i>`, a topic and `n` from the index), `batch`
 * at a time, waiting for each batch's replies before the next. `between` runs after each batch (a test's fault
 * injection point). Resolves with every reply (acks and errors).
 */
export async function publish(
  client: TestClient,
  tag: string,
  count: number,
  options: { batch?: number; between?: (sent: number) => Promise<void> | void; timeoutMs?: number } = {},
): Promise<Outcome[]> {
  const batch = options.batch ?? 10;
  const out: Outcome[] = [];
  for (let i = 0; i < count; i += batch) {
    const refs: string[] = [];
    for (let k = i; k < Math.min(count, i + batch); k++) {
      const ref = `${tag}-${k}`;
      refs.push(ref);
      client.send({ body: ref, topic: TOPICS[k % TOPICS.length], n: k % 40, _ref: ref });
    }
    const frames = await client.until((fs) => refs.every((r) => fs.some((f) => f._ref === r)), `replies to ${tag} ${i}…`, options.timeoutMs ?? 20_000);
    for (const r of refs) out.push({ body: r, reply: frames.find((f) => f._ref === r)! });
    await options.between?.(Math.min(count, i + batch));
  }
  return out;
}

/** Every event in the store, in `_seq` order: a `_since=0` resume on `node`, read up to the committed `last`. */
export async function truth(node: Node, last: number): Promise<Frame[]> {
  const c = await TestClient.connect(`${node.ws}/chat?_since=0`);
  try {
    const frames = await c.until((fs) => fs.some((f) => f._seq === last && f._method !== undefined), `the resume to reach _seq ${last}`, 30_000);
    const events = frames.filter((f) => f._method !== undefined);
    expect(events.map((f) => f._seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    return events;
  } finally {
    await c.close();
  }
}

/** Checks a subscriber got exactly the events of the truth its filter matches: in `_seq` order, none missing, none twice. */
export function expectExactly(sub: Subscriber, all: Frame[]): void {
  const expected = all.filter(sub.filter.matches);
  const what = `${sub.filter.query || 'all'} (ended on node ${sub.node.index})`;
  expect(sub.events.map((f) => f._seq), what).toEqual(expected.map((f) => f._seq));
  expect(sub.events.map((f) => f.body), what).toEqual(expected.map((f) => f.body));
}

/** The highest `_seq` acknowledged in `outcomes`. */
export function highestAck(outcomes: Outcome[]): number {
  return Math.max(0, ...outcomes.filter((o) => o.reply._ack !== undefined).map((o) => o.reply._seq as number));
}

/** A connection on `node` that publishes. */
export function publisher(node: Node): Promise<TestClient> {
  return TestClient.connect(`${node.ws}/chat?topic=none`);
}
