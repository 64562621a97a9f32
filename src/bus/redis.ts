/**
 * @module bus/redis
 * The Redis bus (`bus: redis://…`): carries each committed batch from the node that committed it to every other
 * node of a cluster, over Redis Pub/Sub, one channel per table. Unreliable in the sense of bus/bus.ts: a batch
 * published while a node is cut off from Redis (or while Redis restarts) is simply lost, and the TableFeed finds it
 * again in the store: by the gap the next batch reveals, by the periodic `sync()` (`busSyncMs`), and at once when
 * this bus tells the service it has (re)connected (`onReconnect`). Why Pub/Sub and not Streams: docs/deployment.md.
 *
 * Contract beyond the Bus's:
 * - **Own commits go out locally first**: `publish` hands the batch to this node's subscribers of the table
 *   synchronously, exactly like the local bus, then sends it to Redis; the echo Redis sends back is recognised by
 *   the node id in its header and dropped before it is parsed. So one node costs no Redis round trip, and a Redis
 *   outage never delays or stops a node's own subscribers.
 * - **Other nodes' batches** arrive asynchronously, in the order Redis relays them (per channel, the publishers'
 *   order); a node may miss some (see above). They are checked like client input (size, shape, depth, no
 *   `__proto__`); anything malformed is logged and dropped, never thrown.
 * - **`publish` never waits**: while the publishing connection is down, or too many publishes are unanswered
 *   (`maxPendingPublishes`), a batch is not sent at all (the other nodes fill it from the store; a `_direct`
 *   frame, which has no store behind it, is lost).
 * - **`onReconnect` listeners** run each time the subscribing connection is (re)established AND every table's
 *   channel is subscribed again: from then on nothing is missed, so a catch-up read started then leaves no hole.
 *   They also run after the first connection (commits made before the first subscription took effect).
 * - **Channels** are `prefix` + a hash of the table key: the key (`Store.key`) names the database user and host,
 *   which must not be visible to whoever can list Redis channels. Nodes agree on a channel only if they use the
 *   same database URL (same host spelling, port, user and database) and the same prefix.
 * - **Wire format**: `m1:<node id>:<JSON array of the batch's events>`. The table key is not sent (the channel
 *   identifies the table); a message larger than `maxMessageBytes` is split by events, or dropped if one event
 *   alone is larger.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log.js';
import { checkUntrusted } from '../pipeline/untrusted.js';
import type { Bus, BusBatch, BusEvent } from './bus.js';

/** Where Redis is: a `redis://` or `rediss://` URL, or Sentinel (the URL then gives credentials, db and TLS only). */
export interface RedisConnection {
  readonly url: string;
  /** Sentinel addresses; with them, the URL's host and port are ignored and `name` is required. */
  readonly sentinels?: readonly { readonly host: string; readonly port: number }[];
  /** The Sentinel master group name. */
  readonly name?: string;
}

export interface RedisBusOptions extends RedisConnection {
  /** Channel name prefix: clusters sharing one Redis database (or tests running in parallel) use different ones. */
  prefix?: string;
  /** Largest message accepted from or sent to Redis, in bytes. */
  maxMessageBytes?: number;
  /** Publishes sent but not yet answered by Redis, at most; past it a batch is not sent (Redis is too slow). */
  maxPendingPublishes?: number;
  log?: Logger;
}

export const REDIS_BUS_DEFAULTS = {
  prefix: 'msghub:',
  /** 8 MiB: far above one turn's commits, far below Redis's default pub/sub client buffer limit (32 MiB hard). */
  maxMessageBytes: 8 * 1024 * 1024,
  maxPendingPublishes: 10_000,
  /** How long `MessageService.start` waits for Redis before serving without it (it keeps reconnecting). */
  readyTimeoutMs: 5_000,
} as const;

/** A bus that can tell when it (re)connected, so a feed can catch up at once (see the module comment). */
export interface ReconnectingBus extends Bus {
  /** Calls `listener` after every (re)connection; returns the function that stops it. `listener` must not throw. */
  onReconnect(listener: () => void): () => void;
  /** Resolves true once connected and subscribed, false after `timeoutMs` (the bus goes on trying). */
  ready(timeoutMs?: number): Promise<boolean>;
}

export function isReconnectingBus(bus: Bus): bus is ReconnectingBus {
  return typeof (bus as Partial<ReconnectingBus>).onReconnect === 'function' && typeof (bus as Partial<ReconnectingBus>).ready === 'function';
}

/** The Redis channel of a table: never the key itself (it names the database user). */
export function redisChannel(prefix: string, table: string): string {
  return prefix + createHash('sha256').update(table).digest('hex').slice(0, 32);
}

const WIRE = 'm1';
const METHODS = new Set(['POST', 'PUT', 'DELETE']);
/** A node id is 16 random bytes in base64url (22 characters); a header longer than this is not ours to read. */
const MAX_HEADER = 80;
/** Repeated warnings of one kind (a down Redis retries every ≤ 2 s) are logged at most this often. */
const WARN_EVERY_MS = 30_000;

interface Channel {
  readonly table: string;
  readonly name: string;
  readonly delivers: Set<(batch: BusBatch) => void>;
}

/** Counters for tests and status. */
export interface RedisBusStats {
  /** Batches handed to Redis (a failed publish is counted in `unsent` too). */
  sent: number;
  /** Batches not sent (disconnected, backlog, too large). */
  unsent: number;
  /** Batches received from other nodes and delivered. */
  received: number;
  /** Messages from Redis dropped as malformed or too large. */
  rejected: number;
}

export class RedisBus implements ReconnectingBus {
  readonly reliable = false;
  /** This bus's id on the wire: its own batches come back from Redis with it and are dropped. */
  readonly node = randomBytes(16).toString('base64url');
  readonly stats: RedisBusStats = { sent: 0, unsent: 0, received: 0, rejected: 0 };
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly header: string;
  private readonly headerBytes: Buffer;
  private readonly prefix: string;
  private readonly maxBytes: number;
  private readonly maxPending: number;
  private readonly log: Logger;
  /** By table key, and by channel name. */
  private readonly tables = new Map<string, Channel>();
  private readonly channels = new Map<string, Channel>();
  /** Channel names of tables published but not subscribed here (bounded by the config's tables). */
  private readonly names = new Map<string, string>();
  private readonly reconnectListeners = new Set<() => void>();
  private readonly waiters = new Set<() => void>();
  private readonly warned = new Map<string, number>();
  private pending = 0;
  private subscribing = 0;
  private closed = false;
  private connectedOnce = false;

  constructor(options: RedisBusOptions) {
    this.prefix = options.prefix ?? REDIS_BUS_DEFAULTS.prefix;
    this.maxBytes = options.maxMessageBytes ?? REDIS_BUS_DEFAULTS.maxMessageBytes;
    this.maxPending = options.maxPendingPublishes ?? REDIS_BUS_DEFAULTS.maxPendingPublishes;
    this.log = options.log ?? (() => undefined);
    this.header = `${WIRE}:${this.node}:`;
    this.headerBytes = Buffer.from(this.header);
    // Two connections: one in subscriber mode cannot publish. Neither queues commands while disconnected: a
    // publish then is dropped at once (publish never waits), and subscriptions are renewed on 'ready' below.
    // Auto-pipelining writes a turn's publishes in one syscall: 2-3× less time inside publish (measured).
    this.pub = new Redis({ ...redisOptions(options), connectionName: `msghub-pub-${this.node}`, maxRetriesPerRequest: 0, enableAutoPipelining: true });
    this.sub = new Redis({ ...redisOptions(options), connectionName: `msghub-sub-${this.node}` });
    this.pub.on('error', (err: Error) => this.warn('pub', 'bus: Redis connection (publish) failed; this node still serves its own subscribers', err));
    this.sub.on('error', (err: Error) => this.warn('sub', 'bus: Redis connection (subscribe) failed; other nodes\' events come from the store until it is back', err));
    this.pub.on('ready', this.notify);
    this.sub.on('ready', this.onSubscriberReady);
    this.sub.on('messageBuffer', this.onMessage);
  }

  /** Delivers to this node's subscribers of the table at once, then sends the batch to the other nodes. */
  publish(batch: BusBatch): void {
    const local = this.tables.get(batch.table);
    if (local) for (const deliver of local.delivers) deliver(batch);
    if (this.closed || batch.events.length === 0) return;
    if (this.pub.status !== 'ready') {
      this.stats.unsent++;
      return;
    }
    if (this.pending >= this.maxPending) {
      this.stats.unsent++;
      this.warn('backlog', `bus: ${this.pending} publishes are waiting for Redis; batches are not sent until it catches up (other nodes read them from the store)`);
      return;
    }
    this.send(local?.name ?? this.channelName(batch.table), batch.events);
  }

  subscribe(table: string, deliver: (batch: BusBatch) => void): () => void {
    let channel = this.tables.get(table);
    if (!channel) {
      channel = { table, name: this.channelName(table), delivers: new Set() };
      this.tables.set(table, channel);
      this.channels.set(channel.name, channel);
      // Not connected yet: the 'ready' handler subscribes every channel.
      if (this.sub.status === 'ready') void this.listen([channel.name]);
    }
    const c = channel;
    c.delivers.add(deliver);
    return () => {
      c.delivers.delete(deliver);
      if (c.delivers.size > 0 || this.tables.get(table) !== c) return;
      this.tables.delete(table);
      this.channels.delete(c.name);
      if (this.sub.status === 'ready') this.sub.unsubscribe(c.name).catch(() => undefined);
    };
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => void this.reconnectListeners.delete(listener);
  }

  ready(timeoutMs: number = REDIS_BUS_DEFAULTS.readyTimeoutMs): Promise<boolean> {
    if (this.closed || this.isReady()) return Promise.resolve(!this.closed);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!this.closed && !this.isReady()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(!this.closed);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      this.waiters.add(check);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tables.clear();
    this.channels.clear();
    this.reconnectListeners.clear();
    this.notify();
    await Promise.all([quit(this.pub), quit(this.sub)]);
  }

  /** Connected to Redis and subscribed to every channel (readiness, metrics, status). */
  get connected(): boolean {
    return !this.closed && this.isReady();
  }

  private isReady(): boolean {
    return this.pub.status === 'ready' && this.sub.status === 'ready' && this.subscribing === 0;
  }

  private readonly notify = (): void => {
    for (const check of [...this.waiters]) check();
  };

  private channelName(table: string): string {
    let name = this.names.get(table);
    if (name === undefined) this.names.set(table, (name = redisChannel(this.prefix, table)));
    return name;
  }

  /** One JSON encoding per batch; split by events only when it is too large (rare: a huge turn). */
  private send(channel: string, events: readonly BusEvent[]): void {
    let text: string;
    try {
      text = this.header + JSON.stringify(events);
    } catch (err) {
      this.stats.unsent++;
      this.warn('encode', 'bus: a batch could not be encoded for Redis; other nodes read it from the store', err);
      return;
    }
    // Length × 3 bounds the UTF-8 size: the exact count is only taken for a message that might be too large.
    if (text.length * 3 > this.maxBytes && Buffer.byteLength(text) > this.maxBytes) {
      if (events.length === 1) {
        this.stats.unsent++;
        this.warn('size', `bus: an event is larger than ${this.maxBytes} bytes; other nodes read it from the store (a _direct frame is lost)`);
        return;
      }
      const half = events.length >> 1;
      this.send(channel, events.slice(0, half));
      this.send(channel, events.slice(half));
      return;
    }
    this.pending++;
    this.stats.sent++;
    this.pub.publish(channel, text).then(this.published, this.publishFailed);
  }

  private readonly published = (): void => {
    this.pending--;
  };

  private readonly publishFailed = (err: unknown): void => {
    this.pending--;
    this.stats.unsent++;
    if (!this.closed) this.warn('publish', 'bus: publishing to Redis failed; other nodes read the batch from the store', err);
  };

  /** Subscribes channels; resolves true when Redis confirmed them. */
  private listen(names: string[]): Promise<boolean> {
    this.subscribing++;
    return this.sub.subscribe(...names).then(
      () => true,
      (err: unknown) => {
        // The connection dropped meanwhile: the next 'ready' subscribes everything again.
        if (!this.closed) this.warn('subscribe', 'bus: subscribing to Redis channels failed; retrying on reconnect', err);
        return false;
      },
    ).finally(() => {
      this.subscribing--;
      this.notify();
    });
  }

  /** (Re)connected: subscribe every channel again, then let the feeds catch up on what was missed meanwhile. */
  private readonly onSubscriberReady = (): void => {
    if (this.closed) return;
    if (this.connectedOnce) this.log('info', 'bus: connected to Redis again; catching up from the store');
    this.connectedOnce = true;
    this.warned.delete('sub');
    const names = [...this.channels.keys()];
    const subscribed = names.length > 0 ? this.listen(names) : Promise.resolve(true);
    void subscribed.then((ok) => {
      if (!ok || this.closed || this.sub.status !== 'ready') return;
      for (const listener of this.reconnectListeners) {
        try {
          listener();
        } catch (err) {
          this.log('error', 'bus: a reconnect listener failed', err);
        }
      }
    });
    this.notify();
  };

  private readonly onMessage = (channelBytes: Buffer, message: Buffer): void => {
    const channel = this.channels.get(channelBytes.toString());
    if (!channel) return;
    // Our own batch, echoed: already delivered locally in publish. Compared as bytes, before any parsing.
    if (message.length >= this.headerBytes.length && message.compare(this.headerBytes, 0, this.headerBytes.length, 0, this.headerBytes.length) === 0) return;
    const events = decodeEvents(message, this.maxBytes);
    if (typeof events === 'string') {
      this.stats.rejected++;
      this.warn('malformed', `bus: dropped a malformed message from Redis (${events})`);
      return;
    }
    this.stats.received++;
    const batch: BusBatch = { table: channel.table, events };
    for (const deliver of channel.delivers) deliver(batch);
  };

  /** Logs a warning, or counts it if one of the same kind was logged in the last WARN_EVERY_MS. */
  private warn(kind: string, message: string, err?: unknown): void {
    const now = Date.now();
    const last = this.warned.get(kind);
    if (last !== undefined && now - last < WARN_EVERY_MS) return;
    this.warned.set(kind, now);
    this.log('warn', message, err);
  }
}

/**
 * Decodes another node's message: `m1:<node>:<events JSON>`. Returns the events, or why they were refused. Every
 * value is checked as if a client had sent it: a broken or hostile peer must not crash or poison this node.
 */
export function decodeEvents(message: Buffer, maxBytes: number): BusEvent[] | string {
  if (message.length > maxBytes) return `larger than ${maxBytes} bytes`;
  const head = message.subarray(0, MAX_HEADER).toString('latin1');
  const first = head.indexOf(':');
  const second = first < 0 ? -1 : head.indexOf(':', first + 1);
  if (second < 0 || head.slice(0, first) !== WIRE) return 'not an msghub m1 message';
  let value: unknown;
  try {
    value = JSON.parse(message.subarray(second + 1).toString('utf8'));
  } catch {
    return 'invalid JSON';
  }
  if (!Array.isArray(value) || value.length === 0) return 'not a list of events';
  for (const e of value) {
    const why = checkEvent(e);
    if (why) return why;
  }
  return value as BusEvent[];
}

function checkEvent(e: unknown): string | null {
  if (!isObject(e) || typeof e.entry !== 'string' || !isObject(e.frame) || !isObject(e.event)) return 'an event without entry, event and frame';
  const ev = e.event;
  if (typeof ev.seq !== 'number' || !Number.isSafeInteger(ev.seq) || ev.seq < 0) return 'a bad _seq';
  if (typeof ev.method !== 'string' || !METHODS.has(ev.method) || typeof ev.id !== 'string') return 'a bad method or id';
  if (!(ev.before === null || isObject(ev.before)) || !(ev.after === null || isObject(ev.after))) return 'a bad row';
  if (!Array.isArray(ev.changed) || !ev.changed.every((c) => typeof c === 'string')) return 'a bad changed list';
  try {
    checkUntrusted(e.frame);
    checkUntrusted(ev.before);
    checkUntrusted(ev.after);
  } catch (err) {
    return (err as Error).message;
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * ioredis options from a validated connection (bus/config.ts checks the URL).
 * @internal Left out of the shipped .d.ts (`stripInternal`): ioredis's own typings import `redis-errors`, which
 * has none, so a consumer compiling with `skipLibCheck: false` would get TS7016 from the public API.
 */
export function redisOptions(c: RedisConnection): RedisOptions {
  const u = new URL(c.url);
  const tls = u.protocol === 'rediss:';
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  const options: RedisOptions = {
    host,
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db,
    tls: tls ? { servername: host } : undefined,
    // Subscriptions are renewed by the bus itself, so it knows when they are live again (onReconnect).
    autoResubscribe: false,
    enableOfflineQueue: false,
  };
  if (c.sentinels && c.sentinels.length > 0) {
    options.sentinels = c.sentinels.map(({ host: h, port }) => ({ host: h, port }));
    options.name = c.name;
    if (tls) {
      options.tls = {};
      options.enableTLSForSentinelMode = true;
    }
  }
  return options;
}

/** Quits politely when connected (bounded), else stops reconnecting at once. */
async function quit(client: Redis): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.quit().catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, 1000);
    }),
  ]);
  clearTimeout(timer);
  client.disconnect();
}
