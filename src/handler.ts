/**
 * @module handler
 * MessageHandler: one `url:` entry = config + store + hub. Transports hand it connections (`open`) and client
 * frames (`receive`); it runs the pipeline, commits the writes of one event-loop turn in one transaction
 * (group commit), then publishes them in commit order.
 *
 * Ordering contract: for one handler, events are committed in the order their messages finished the pipeline
 * (and, per connection, in the order that connection sent them), and every subscriber receives them in that
 * order, after its history.
 */
import type { MessageHandlerConfig } from './config/message-handler.js';
import { Connection } from './connection.js';
import { Durable } from './durable.js';
import { AccessPolicy } from './policy.js';
import { MhError, toMhError } from './errors.js';
import { FilterBudget, parseFilter, type Filter } from './filter/index.js';
import { sendEventsSince, sendHistory } from './replay.js';
import { Hub } from './hub/hub.js';
import type { BusEvent } from './bus/bus.js';
import type { Logger } from './log.js';
import type { ExprHandler } from './pipeline/defaults.js';
import { andThen, isThenable, type MaybePromise } from './pipeline/maybe-async.js';
import { HANDLER_DEFAULTS } from './config/defaults.js';
import { deepFreeze } from './config/freeze.js';
import { decodeFrame, toMessage, type Frame, type Message } from './pipeline/parse.js';
import { createPipeline, type Prepared } from './pipeline/run.js';
import type { Store, WriteResult } from './store/store.js';
import { Payload, type Socket } from './transport/socket.js';
import { emptyArgs, type Args, type Row, type User } from './types.js';

/** Query parameters that steer the transport, never filters. */
export const RESERVED_ARGS: ReadonlySet<string> = new Set(['_since', '_wait', 'access_token', '_format']);

/** How often the event record is pruned to its retention bounds (1 minute). */
const PRUNE_INTERVAL_MS = 60_000;

/** Distinct subscription filters kept parsed per handler (the cache is emptied when it is full). */
const FILTER_CACHE = 1000;
/** The most writes committed in one transaction; a turn with more is split. */
const MAX_BATCH = 1000;

/** Parses `_since` (a sequence number). undefined when absent. */
export function parseSince(values: string[] | undefined): number | undefined {
  if (!values || values.length === 0) return undefined;
  const v = values[values.length - 1]!;
  if (!/^\d{1,15}$/.test(v)) throw new MhError('MH_ERR_FILTER_VALUE', ['_since', `${JSON.stringify(v)} is not a sequence number`]);
  return Number(v);
}

/** What a transport knows about who is connecting. */
export interface ConnectionInfo {
  args: Args;
  user: User | null;
  sessionId: string | null;
  ip: string;
  headers: Record<string, string>;
  /** When the user's token expires (ms since epoch); the connection must refresh it with `_auth` before then. */
  expiresAt?: number | null;
}

interface Pending {
  prepared: Prepared;
  conn: Connection | null;
  ref: unknown;
  /** Its size as received, held against the write-queue bound until it is published. */
  bytes: number;
  done?: (result: WriteResult, frame: Row) => void;
}

export class MessageHandler {
  readonly hub = new Hub();
  readonly name: string;
  private readonly columnNames: readonly string[];
  private readonly run: ReturnType<typeof createPipeline>;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private flushScheduled = false;
  private closing = false;
  private readonly connections = new Set<Connection>();
  /**
   * Messages accepted and not yet published (in the pipeline, queued, or being committed) and their bytes:
   * shutdown waits for them, and `limits.max_queued_*` bound them.
   */
  private inflight = 0;
  private inflightBytes = 0;
  private inflightDone: (() => void) | null = null;
  /**
   * Where committed events (and direct messages) go: the service points it at the bus (`bus.publish` with this
   * handler's table), which brings them back to `hub` through the table's feed. A handler on its own publishes
   * straight to its hub.
   */
  publish: (events: BusEvent[]) => void = (events) => {
    for (const e of events) this.hub.publish(e.event, e.frame);
  };
  /** Called after each committed batch (e.g. to wake the alert worker). */
  onCommit: ((events: number) => void) | null = null;
  /** At-least-once delivery state (kwargs `durable: true`). */
  private readonly durable: Durable | null;
  private readonly pruner: NodeJS.Timeout;
  /** Rate limits, connection caps and token expiry for this handler's clients. */
  readonly policy: AccessPolicy;
  /**
   * Parsed subscription filters by their query args: connections that ask for the same thing (every viewer of
   * one page's comment widget) share one frozen Filter instead of ~500 bytes each, and skip parsing it.
   */
  private readonly filters = new Map<string, Filter>();
  /** Substring tests per event over this handler's distinct live filters (`max_filter_scans`). */
  private readonly filterBudget: FilterBudget;

  constructor(
    readonly config: MessageHandlerConfig,
    readonly store: Store,
    private readonly log: Logger,
  ) {
    this.name = config.name;
    this.columnNames = [...config.columns.keys()];
    this.run = createPipeline(config, log);
    this.durable = config.durable ? new Durable(store, config.name, config.ackTimeoutMs, log) : null;
    this.policy = new AccessPolicy(config.limits);
    this.filterBudget = new FilterBudget(config.maxFilterScans);
    // The event record is bounded by age and count (kwargs `retention`); resume beyond it falls back to history.
    // Not once closing: a service closed in the turn it started would otherwise prune a closed store.
    const prune = (): void => {
      if (!this.closing) void this.store.prune(config.retention).catch((err) => this.log('warn', `url:${this.name}: pruning the event record failed`, err));
    };
    this.pruner = setInterval(prune, PRUNE_INTERVAL_MS);
    this.pruner.unref();
    setImmediate(prune);
  }

  /**
   * Starts a connection: runs `open`, compiles its filter, sends history, then live events. Returns null (after
   * sending an `_error` frame and closing the socket) when the connection is refused.
   */
  async open(socket: Socket, info: ConnectionInfo): Promise<Connection | null> {
    if (this.closing) {
      socket.close(1001, 'Server is shutting down');
      return null;
    }
    let sub: { scope: ExprHandler; filter: Filter };
    try {
      sub = await this.subscription(info);
    } catch (err) {
      const e = toMhError(err);
      if (e.code === 'MH_ERR_INTERNAL') this.log('error', `url:${this.name}: open failed`, err);
      socket.send(Payload.of({ _error: e.toJSON() }));
      socket.close(e.closeCode && e.closeCode >= 4000 ? e.closeCode : 4400, e.message);
      return null;
    }
    // Live filters cost CPU on every event: a handler's distinct ones are bounded together (max_filter_scans).
    const admitted = this.filterBudget.admit(sub.filter);
    if (admitted instanceof MhError) {
      socket.send(Payload.of({ _error: admitted.toJSON() }));
      socket.close(admitted.closeCode ?? 4400, admitted.message);
      return null;
    }
    const conn = new Connection(socket, sub.scope, this.log);
    conn.filter = sub.filter;
    conn.rate = this.policy.rateGuard();
    this.connections.add(conn);
    const unsubscribe = this.hub.subscribe(conn);
    conn.unsubscribe = () => {
      unsubscribe();
      admitted();
    };
    this.policy.expireAt(conn, info.expiresAt ?? null);
    try {
      await this.replay(conn, info);
    } catch (err) {
      this.log('error', `url:${this.name}: history failed`, err);
      conn.sendError(toMhError(err));
      socket.close(4500, 'History failed');
      this.disconnect(conn);
      return null;
    }
    return conn;
  }

  /**
   * The `handler` object expressions see, and the filter of a connection or read: `open` runs on a copy of
   * the query args, and what it sets wins over the query string (pinned filters cannot be widened).
   */
  private async subscription(info: ConnectionInfo): Promise<{ scope: ExprHandler; filter: Filter }> {
    const args = emptyArgs();
    for (const k of Object.keys(info.args)) args[k] = [...info.args[k]!];
    const scope: ExprHandler = Object.freeze({
      name: this.name,
      current_user: info.user,
      session: Object.freeze({ id: info.sessionId }),
      args,
      // The gate made `info.headers` for this connection alone: freeze it rather than keep a second copy.
      request: Object.freeze({ ip: info.ip, headers: Object.freeze(info.headers) }),
    });
    if (this.config.open) await this.config.open({ args, handler: scope });
    const filter = this.subscriptionFilter(args);
    parseSince(info.args._since);
    return { scope, filter };
  }

  /** The filter for these args (after `open`): parsed once, then shared, frozen, by every connection that asks. */
  private subscriptionFilter(args: Args): Filter {
    // Reserved args (`_since`, `access_token`, …) never change the filter: left out, they cannot fill the cache
    // with one entry per resume or per token.
    let key = '';
    for (const k of Object.keys(args)) if (!RESERVED_ARGS.has(k)) key += JSON.stringify(k) + ':' + JSON.stringify(args[k]) + ',';
    let filter = this.filters.get(key);
    if (!filter) {
      // A bad filter throws here and is not kept: each such request gets its own error.
      filter = deepFreeze(
        parseFilter(args, this.config.columns, { reserved: RESERVED_ARGS, maxConditions: this.config.maxFilterArgs, maxNeedle: this.config.maxFilterNeedle }),
      );
      if (this.filters.size >= FILTER_CACHE) this.filters.clear();
      this.filters.set(key, filter);
    }
    return filter;
  }

  /**
   * Sends what comes before live events: the events since `_since` (or since a durable user's acknowledged
   * position), or else the history. Live events that arrive meanwhile wait in the connection and are released
   * by `goLive` with no gap and no duplicate.
   */
  private async replay(conn: Connection, info: ConnectionInfo): Promise<void> {
    const user = info.user?.id ?? null;
    if (this.durable && user !== null) {
      conn.durableUser = user;
      conn.onSent = (payload) => this.durable!.sent(conn, payload);
      this.durable.attach(conn);
    }
    let since = parseSince(info.args._since);
    if (since === undefined && conn.durableUser !== null) since = (await this.durable!.cursor(conn.durableUser)) ?? undefined;
    if (since !== undefined) {
      const r = await sendEventsSince(conn.socket, this.store, conn.filter, since, conn.onSent ?? undefined);
      if (r.ok) return conn.goLive(r.snapshot);
      // Older than the event record keeps (or from another database): say so, then send history.
      conn.socket.send(Payload.of({ _reset: { since, oldest: r.oldest, seq: r.snapshot } }));
    }
    const snapshot = this.config.historyLimit > 0 ? await sendHistory(conn.socket, this.store, conn.filter, this.config.historyLimit) : await this.store.committedSeq();
    conn.goLive(snapshot);
  }

  /** The transport saw the connection close. */
  disconnect(conn: Connection): void {
    if (conn.expiry) clearTimeout(conn.expiry);
    this.durable?.detach(conn);
    conn.unsubscribe?.();
    conn.unsubscribe = null;
    this.connections.delete(conn);
  }

  /**
   * A client frame (`bytes`: its size on the wire, for the write-queue bound). Errors go back to the sender as
   * `_error` frames; the connection stays open. Never throws: whatever a frame holds, the socket handler that
   * called this returns normally.
   */
  receive(conn: Connection, text: string, bytes = text.length): void {
    if (conn.refuseAll) return;
    let frame: Frame;
    try {
      if (this.closing) throw new MhError('MH_ERR_SHUTTING_DOWN');
      const verdict = conn.rate?.take() ?? 'ok';
      if (verdict === 'close') {
        // Stop reading this client, but let the messages it already got accepted commit and be acknowledged.
        conn.rate = null;
        conn.refuseAll = true;
        const e = new MhError('MH_ERR_RATE_LIMITED', [`over ${this.config.limits.messages_per_second} messages/s for too long`]);
        void conn
          .idle()
          .then(() => this.drained())
          .then(() => {
            conn.sendError(e);
            conn.socket.close(e.closeCode!, e.message);
          });
        return;
      }
      if (verdict === 'limited') throw new MhError('MH_ERR_RATE_LIMITED', [`at most ${this.config.limits.messages_per_second} messages/s`]);
      frame = decodeFrame(text);
    } catch (err) {
      conn.fail(err);
      return;
    }
    const ref = frame.ref;
    switch (frame.kind) {
      case 'invalid':
        return conn.sendError(frame.error, ref);
      case 'ack':
        return this.acknowledge(conn, frame.seq, ref);
      case 'auth':
        return void this.policy.refresh(conn, frame.token, ref);
    }
    const msg = frame.msg;
    if (msg._direct === true) return this.direct(conn, msg, ref);
    const full = this.admitWrite(bytes);
    if (full) return conn.sendError(full, ref);
    conn.serial(() => {
      let result;
      try {
        result = andThen(this.prepare(msg, conn.scope), (prepared) => this.enqueue({ prepared, conn, ref, bytes }));
      } catch (err) {
        this.settle(bytes);
        conn.fail(err, ref);
        return;
      }
      if (result && typeof (result as Promise<void>).then === 'function') {
        return (result as Promise<void>).then(undefined, (err) => {
          this.settle(bytes);
          conn.fail(err, ref);
        });
      }
    });
  }

  /**
   * Takes a place in the write queue for a message of `bytes`, or returns the MH_ERR_OVERLOADED that refuses it.
   * The place is given back by `settle` (refused in the pipeline) or once its commit is published: so the queue
   * bounds everything accepted and not yet stored, whether it waits for a hook or for the database.
   */
  private admitWrite(bytes: number): MhError | null {
    const { max_queued_messages: maxMessages, max_queued_bytes: maxBytes } = this.config.limits;
    if (maxMessages > 0 && this.inflight >= maxMessages) return new MhError('MH_ERR_OVERLOADED', [`${this.inflight} messages`]);
    if (maxBytes > 0 && this.inflightBytes + bytes > maxBytes && this.inflight > 0) return new MhError('MH_ERR_OVERLOADED', [`${this.inflightBytes} bytes`]);
    this.inflight++;
    this.inflightBytes += bytes;
    return null;
  }

  /** `{"_ack": seq}` from a durable subscriber: everything up to seq arrived. */
  private acknowledge(conn: Connection, seq: unknown, ref: unknown): void {
    if (!this.durable || conn.durableUser === null) {
      return conn.sendError(new MhError('MH_ERR_MSG_REJECTED', [], { message: 'Acknowledgements need durable: true and a logged-in user' }), ref);
    }
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
      return conn.sendError(new MhError('MH_ERR_MSG_REJECTED', [], { message: '_ack must be a sequence number' }), ref);
    }
    this.durable.ack(conn, conn.durableUser, seq);
  }

  /**
   * `_direct: true`: delivered live to matching subscribers through the same pipeline, but never stored and
   * without a sequence number (typing indicators and other ephemeral traffic).
   */
  private direct(conn: Connection, msg: Message, ref: unknown): void {
    if (!this.config.direct) {
      return conn.sendError(new MhError('MH_ERR_MSG_REJECTED', [], { message: 'Direct messages are not enabled on this handler' }), ref);
    }
    conn.serial(() => {
      try {
        return andThen(this.prepare(msg, conn.scope), ({ method, req, frame }) => {
          const row: Row = {};
          for (const c of this.columnNames) row[c] = Object.hasOwn(req.values, c) ? req.values[c] : null;
          row.id = req.id;
          this.publish([{ entry: this.name, event: { seq: 0, method, id: req.id, before: null, after: row, changed: [] }, frame }]);
          if (ref !== undefined) conn.socket.send(Payload.of({ _ack: null, _ref: ref, id: req.id }));
        });
      } catch (err) {
        conn.fail(err, ref);
      }
    });
  }

  /**
   * Runs one message through the same pipeline for transports without a socket (HTTP publish). `bytes` is the
   * message's size in the request, for the write-queue bound. Resolves with the committed frame, or rejects
   * with the MhError.
   */
  submit(value: unknown, scope: ExprHandler, bytes = 0): Promise<Row> {
    return new Promise((resolve, reject) => {
      try {
        if (this.closing) throw new MhError('MH_ERR_SHUTTING_DOWN');
        const msg = toMessage(value);
        delete msg._ref;
        const full = this.admitWrite(bytes);
        if (full) throw full;
        Promise.resolve(this.prepare(msg, scope)).then(
          (prepared) =>
            this.enqueue({
              prepared,
              conn: null,
              ref: undefined,
              bytes,
              done: (r, frame) => (r.ok ? resolve(frame) : reject(r.error)),
            }),
          (err) => {
            this.settle(bytes);
            reject(toMhError(err));
          },
        );
      } catch (err) {
        reject(toMhError(err));
      }
    });
  }

  /**
   * Runs the pipeline. When an app module returns a promise, the message waits for it, but not forever: a
   * promise that never settles would otherwise stall this connection's later messages and shutdown.
   */
  private prepare(msg: Message, scope: ExprHandler): MaybePromise<Prepared> {
    const r = this.run(msg, scope);
    if (!isThenable(r)) return r;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MhError('MH_ERR_EXPR_RUNTIME', [`no result after ${HANDLER_DEFAULTS.hook_timeout_ms} ms`])), HANDLER_DEFAULTS.hook_timeout_ms);
    });
    return Promise.race([r as Promise<Prepared>, timeout]).finally(() => clearTimeout(timer));
  }

  /** A message leaves the write queue (refused, or committed and published). */
  private settle(bytes: number): void {
    this.inflight--;
    this.inflightBytes -= bytes;
    if (this.inflight === 0 && this.inflightDone) this.inflightDone();
  }

  private enqueue(p: Pending): void {
    this.queue.push(p);
    if (!this.flushScheduled && !this.flushing) {
      this.flushScheduled = true;
      // Everything enqueued during this turn commits in one transaction.
      setImmediate(() => {
        this.flushScheduled = false;
        void this.flush();
      });
    }
  }

  /** Resolves when every message enqueued so far has been committed and published. */
  private async drained(): Promise<void> {
    while (this.queue.length || this.flushing || this.flushScheduled) await (this.flushing ?? new Promise<void>((r) => setImmediate(r)));
  }

  /** Commits queued messages in batches, then publishes each in commit order. */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = (async () => {
      while (this.queue.length) {
        const batch = this.queue.splice(0, MAX_BATCH);
        let results: WriteResult[];
        try {
          results = await this.store.write(batch.map((p) => p.prepared.req));
        } catch (err) {
          // A store that throws instead of answering per request: every message of the batch was refused, and
          // each still leaves the queue, so senders hear of it and shutdown does not wait for them.
          this.log('error', `url:${this.name}: write failed`, err);
          const e = err instanceof MhError ? err : new MhError('MH_ERR_STORE_FAILED', ['the write failed'], { cause: err });
          results = batch.map(() => ({ ok: false, error: e }));
        }
        // Everything committed goes to the bus as one batch, in commit order (the local bus hands it to the hub
        // in this same turn); then each sender hears its acknowledgement or its error.
        const events: BusEvent[] = [];
        for (let i = 0; i < batch.length; i++) {
          const r = results[i]!;
          if (!r.ok) continue;
          const frame = batch[i]!.prepared.frame;
          // A POST's frame carries the whole new row (column defaults included), like its history row will.
          if (r.event.method === 'POST') for (const c of this.columnNames) if (!(c in frame)) frame[c] = r.event.after![c];
          frame._seq = r.event.seq;
          // The pipeline checked the frame (depth, text) before the commit, so serializing it cannot fail.
          events.push({ entry: this.name, event: r.event, frame });
        }
        if (events.length) this.publish(events);
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i]!;
          const r = results[i]!;
          const frame = p.prepared.frame;
          if (r.ok) {
            if (p.ref !== undefined && p.conn) p.conn.sendAck(r.event.seq, p.ref, r.event.id);
          } else if (p.conn) {
            // Not logged here: the store logged the driver's detail, once per kind a minute (store/fault-log).
            p.conn.sendError(r.error, p.ref);
          }
          this.settle(p.bytes);
          p.done?.(r, frame);
        }
        if (events.length) this.onCommit?.(events.length);
      }
    })().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /**
   * An HTTP read: the history a subscription with these args would get first (same filter rules, same rows),
   * sent to `socket` in pages paced by it, so a big read holds one page in memory, never the whole answer.
   * Throws before sending anything when the read is refused (`open`, a bad filter).
   */
  async read(info: ConnectionInfo, socket: Socket): Promise<void> {
    const { filter } = await this.subscription(info);
    if (this.config.historyLimit > 0) await sendHistory(socket, this.store, filter, this.config.historyLimit);
  }

  /** Number of open connections. */
  get size(): number {
    return this.connections.size;
  }

  /**
   * Graceful stop: refuse new messages, finish every accepted one (pipeline, commit, publish), then close
   * sockets with 1001 and the database.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    this.closing = true;
    const drained = (async () => {
      await Promise.all([...this.connections].map((c) => c.idle()));
      if (this.inflight > 0) await new Promise<void>((r) => (this.inflightDone = r));
      await this.drained();
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([drained, timeout]);
    clearTimeout(timer);
    clearInterval(this.pruner);
    await this.durable?.close();
    for (const conn of this.connections) {
      if (conn.expiry) clearTimeout(conn.expiry);
      conn.socket.close(1001, 'Server is shutting down');
    }
    this.connections.clear();
  }
}
