/**
 * @module core/handler
 * MessageHandler: one `url:` entry = config + store + hub, and the wiring between them. What it does for each
 * party, top to bottom:
 *
 * - a **transport** hands it a Sink (`attach`, or `open` for one-way transports) and gets back a Session: what to
 *   call with each frame the client sends and when the connection closes. The subscriber's filter comes from the
 *   query args and `open`, or is given in code by an adapter, with a subscriber key and a codec;
 * - each **frame** is decoded by the subscriber's codec into an intent (a message, an acknowledgement, a token
 *   refresh) and a message goes to the one **intake** (core/intake.ts), like every HTTP body item (`submit`);
 * - the intake runs the pipeline and the **group commit** (pipeline/commit.ts), which hands each committed batch
 *   to `publish` (the bus) and then answers each sender;
 * - the bus brings the batch back, through the table's feed, to this handler's **hub**, which delivers it to
 *   every matching subscriber.
 *
 * Ordering contract: for one handler, events are committed in the order their messages finished the pipeline
 * (and, per subscriber, in the order that subscriber sent them), and every subscriber receives them in `_seq`
 * order, after its history, with no gap and no duplicate.
 */
import { AccessPolicy } from '../auth/policy.js';
import type { BusEvent } from '../bus/bus.js';
import { deepFreeze } from '../config/freeze.js';
import type { MessageHandlerConfig } from '../config/message-handler.js';
import { MhError, toMhError } from '../errors.js';
import { FilterBudget, filterComparisons, parseFilter, type Filter } from '../filter/index.js';
import { Durable } from '../hub/durable.js';
import { HandlerStats } from '../ops/counters.js';
import { Hub } from '../hub/hub.js';
import { sendEventsSince, sendHistory } from '../hub/replay.js';
import type { Logger } from '../log.js';
import { GroupCommit } from '../pipeline/commit.js';
import type { ExprHandler } from '../pipeline/defaults.js';
import { toMessage, type Message } from '../pipeline/parse.js';
import { createPipeline } from '../pipeline/run.js';
import type { Codec, Intent } from '../protocol/codec.js';
import { msghubCodec } from '../protocol/msghub.js';
import type { Store } from '../store/store.js';
import type { Sink } from '../transport/sink.js';
import { emptyArgs, type Args, type Row, type User } from '../types.js';
import { IDEM_PREFIX, IdempotentWrite, checkKey, refKey, scopeOf } from './idempotency.js';
import { Intake, type Reply } from './intake.js';
import { Session } from './session.js';
import { Subscriber } from './subscriber.js';

/** Query parameters that steer the transport, never filters. */
export const RESERVED_ARGS: ReadonlySet<string> = new Set(['_since', '_wait', 'access_token', '_format']);

/** How often the event record is pruned to its retention bounds (1 minute). */
const PRUNE_INTERVAL_MS = 60_000;

/** Distinct subscription filters kept parsed per handler (the cache is emptied when it is full). */
const FILTER_CACHE = 1000;

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

/** How a subscription is made, beyond who connects (adapters use these; msghub's own transports need none). */
export interface SubscribeOptions {
  /** The wire protocol of the sink. Default: msghub's own (protocol/msghub.ts). */
  codec?: Codec;
  /**
   * A filter given in code (e.g. `recipient = this session`): the query args and the handler's `open` are then
   * not used for it, but every other rule is (filter budget, replay, durable positions).
   */
  filter?: Filter;
  /**
   * Whose durable position and acknowledgements these are: a session or client id for an adapter. Default: the
   * user's id (null for an anonymous subscriber, which then is not durable).
   */
  key?: string | null;
  /**
   * The adapter's handler for its protocol's own requests (a codec's `control` intents), called in frame order
   * with the subscriber. It must not throw (a throw is reported to the client as an internal error).
   */
  control?: (s: Subscriber, control: unknown, ref: unknown) => void;
}

export class MessageHandler {
  readonly hub = new Hub();
  readonly name: string;
  /** What the hot path counts for metrics (ops/counters.ts): plain integers, read when metrics are scraped. */
  readonly stats = new HandlerStats();
  private closing = false;
  private readonly subscribers = new Set<Subscriber>();
  private readonly commit: GroupCommit;
  private readonly intake: Intake;
  /**
   * Where committed events (and direct messages) go: the service points it at the bus (`bus.publish` with this
   * handler's table), which brings them back to `hub` through the table's feed. A handler on its own publishes
   * straight to its hub.
   */
  publish: (events: BusEvent[]) => void = (events) => {
    for (const e of events) this.hub.publish(e.event, e.frame);
  };
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
    this.commit = new GroupCommit(config.name, store, (events) => this.publish(events), log, this.stats);
    this.intake = new Intake(config, createPipeline(config, log), this.commit);
    this.durable = config.durable ? new Durable(store, config.name, config.ackTimeoutMs, log) : null;
    this.policy = new AccessPolicy(config.limits);
    this.filterBudget = new FilterBudget(config.maxFilterScans);
    // The event record is bounded by age and count (kwargs `retention`); resume beyond it falls back to history.
    // Not once closing: a service closed in the turn it started would otherwise prune a closed store.
    const prune = (): void => {
      if (!this.closing) void this.store.prune(config.retention).catch((err) => this.log('warn', `url:${this.name}: pruning the event record failed`, err));
      // Idempotency records (core/idempotency.ts) older than their window go at the same time.
      const window = config.retention.idempotencyMs;
      if (!this.closing && window !== undefined) {
        void this.store.pruneRefs(new Date(Date.now() - window).toISOString()).catch((err) => this.log('warn', `url:${this.name}: pruning idempotency records failed`, err));
      }
    };
    this.pruner = setInterval(prune, PRUNE_INTERVAL_MS);
    this.pruner.unref();
    setImmediate(prune);
  }

  /** Called after each committed batch with its number of events (e.g. to wake the alert worker). */
  set onCommit(fn: ((events: number) => void) | null) {
    this.commit.onCommit = fn;
  }

  /**
   * The subscriber seam for a two-way transport: starts the subscription on `sink` (history, then live events)
   * and returns the Session the transport calls with each client frame and when the connection closes. Frames
   * that arrive before the history is sent wait in the session (at most 1000).
   */
  attach(sink: Sink, info: ConnectionInfo, options: SubscribeOptions = {}): Session {
    return new Session(this, sink, this.open(sink, info, options), options.codec ?? msghubCodec, this.log);
  }

  /**
   * Starts a subscription: its filter (query args and `open`, or given), history or resume, then live events.
   * Resolves with the subscriber, or null (after an `_error` frame and a close of the sink) when it is refused.
   * One-way transports (SSE, long-poll) call this directly and `disconnect` when their connection ends.
   */
  async open(sink: Sink, info: ConnectionInfo, options: SubscribeOptions = {}): Promise<Subscriber | null> {
    const codec = options.codec ?? msghubCodec;
    const refuse = (e: MhError, code: number): null => {
      this.stats.refuse(e.code);
      sink.sendText(codec.error(e), 0);
      sink.close(code, e.message);
      return null;
    };
    if (this.closing) {
      // Like every shutdown close (`close`), 1001 alone: the client reconnects later, there is nothing to report.
      const bye = new MhError('MH_ERR_SHUTTING_DOWN');
      sink.close(bye.closeCode!, bye.message);
      return null;
    }
    let sub: { scope: ExprHandler; filter: Filter };
    try {
      sub = options.filter ? { scope: this.scopeFor(info), filter: this.givenFilter(options.filter) } : await this.subscription(info);
    } catch (err) {
      const e = toMhError(err);
      if (e.code === 'MH_ERR_INTERNAL') this.log('error', `url:${this.name}: open failed`, err, { conn: sink.peer ?? '' });
      return refuse(e, e.closeCode && e.closeCode >= 4000 ? e.closeCode : 4400);
    }
    // Live filters cost CPU on every event: a handler's distinct ones are bounded together (max_filter_scans).
    const admitted = this.filterBudget.admit(sub.filter);
    if (admitted instanceof MhError) return refuse(admitted, admitted.closeCode ?? 4400);
    const key = options.key !== undefined ? options.key : (info.user?.id ?? null);
    const s = new Subscriber(sink, sub.scope, codec, key, this.log);
    s.filter = sub.filter;
    s.stats = this.stats;
    s.control = options.control ?? null;
    s.rate = this.policy.rateGuard();
    this.subscribers.add(s);
    const unsubscribe = this.hub.subscribe(s);
    s.unsubscribe = () => {
      unsubscribe();
      admitted();
    };
    this.policy.expireAt(s, info.expiresAt ?? null);
    this.stats.replaysInProgress++;
    try {
      await this.replay(s, info);
    } catch (err) {
      const e = toMhError(err);
      // An outage is logged by the store, once per kind a minute: not once per subscriber trying to reconnect.
      if (e.code !== 'MH_ERR_STORE_UNAVAILABLE') this.log('error', `url:${this.name}: history failed`, err, { conn: sink.peer ?? '' });
      this.disconnect(s);
      return refuse(e, e.closeCode ?? 4500);
    } finally {
      this.stats.replaysInProgress--;
    }
    return s;
  }

  /** A filter given in code obeys the same size bound as one from a query string. */
  private givenFilter(filter: Filter): Filter {
    const n = filterComparisons(filter);
    if (n > this.config.maxFilterArgs) throw new MhError('MH_ERR_FILTER_VALUE', ['filter', `${n} comparisons; the limit is ${this.config.maxFilterArgs}`]);
    return filter;
  }

  /**
   * The `handler` object expressions see, for a connection or request. Adapters pass it to `submit` for what
   * their clients publish over HTTP.
   */
  scopeFor(info: ConnectionInfo, args: Args = emptyArgs()): ExprHandler {
    return Object.freeze({
      name: this.name,
      current_user: info.user,
      session: Object.freeze({ id: info.sessionId }),
      args,
      // The gate made `info.headers` for this connection alone: freeze it rather than keep a second copy.
      request: Object.freeze({ ip: info.ip, headers: Object.freeze(info.headers) }),
    });
  }

  /**
   * The `handler` object and the filter of a subscription or read from its query args: `open` runs on a copy of
   * the args, and what it sets wins over the query string (pinned filters cannot be widened).
   */
  private async subscription(info: ConnectionInfo): Promise<{ scope: ExprHandler; filter: Filter }> {
    const args = emptyArgs();
    for (const k of Object.keys(info.args)) args[k] = [...info.args[k]!];
    const scope = this.scopeFor(info, args);
    if (this.config.open) await this.config.open({ args, handler: scope });
    const filter = this.subscriptionFilter(args);
    parseSince(info.args._since);
    return { scope, filter };
  }

  /** The filter for these args (after `open`): parsed once, then shared, frozen, by every subscriber that asks. */
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
   * Sends what comes before live events: the events since `_since` (or since the subscriber key's acknowledged
   * position, when durable), or else the history. Live events that arrive meanwhile wait in the subscriber and
   * are released by `goLive` with no gap and no duplicate.
   */
  private async replay(s: Subscriber, info: ConnectionInfo): Promise<void> {
    const durable = this.durable && s.key !== null ? this.durable : null;
    if (durable) {
      s.onSent = (payload) => durable.sent(s, payload);
      durable.attach(s);
    }
    let since = parseSince(info.args._since);
    if (since === undefined && durable) since = (await durable.cursor(s.key!)) ?? undefined;
    if (since !== undefined) {
      const r = await sendEventsSince(s.sink, this.store, s.filter, since, s.onSent ?? undefined, s.codec);
      if (r.ok) return s.goLive(r.snapshot);
      // Older than the event record keeps (or from another database): say so, then send history.
      s.sink.sendText(s.codec.reset(since, r.oldest, r.snapshot), 0);
    }
    const snapshot =
      this.config.historyLimit > 0 ? await sendHistory(s.sink, this.store, s.filter, this.config.historyLimit, s.codec, this.config.replayStallMs) : await this.store.committedSeq();
    s.goLive(snapshot);
  }

  /** The transport saw the connection close. */
  disconnect(s: Subscriber): void {
    if (s.expiry) clearTimeout(s.expiry);
    this.durable?.detach(s);
    s.unsubscribe?.();
    s.unsubscribe = null;
    this.subscribers.delete(s);
  }

  /**
   * A client frame (`bytes`: its size on the wire, for the write-queue bound). Errors go back to the sender in
   * its protocol; the connection stays open. Never throws: whatever a frame holds, the transport that called
   * this returns normally.
   */
  receive(s: Subscriber, text: string, bytes = text.length): void {
    this.stats.framesIn++;
    this.stats.bytesIn += bytes;
    if (s.refuseAll) return;
    let intent: Intent;
    try {
      if (this.closing) throw new MhError('MH_ERR_SHUTTING_DOWN');
      const verdict = s.rate?.take() ?? 'ok';
      if (verdict === 'close') {
        // Stop reading this client, but let the messages it already got accepted commit and be acknowledged.
        s.rate = null;
        s.refuseAll = true;
        const e = new MhError('MH_ERR_RATE_LIMITED', [`over ${this.config.limits.messages_per_second} messages/s for too long`]);
        void s.settled().then(() => s.closeWith(e));
        return;
      }
      if (verdict === 'limited') throw new MhError('MH_ERR_RATE_LIMITED', [`at most ${this.config.limits.messages_per_second} messages/s`]);
      intent = s.codec.decode(text);
    } catch (err) {
      s.fail(err);
      return;
    }
    const ref = intent.ref;
    switch (intent.kind) {
      case 'invalid':
        return s.sendError(intent.error, ref);
      case 'ack':
        return this.acknowledge(s, intent.seq, ref);
      case 'auth':
        return void this.policy.refresh(s, intent.token, ref);
      case 'control':
        if (!s.control) return s.sendError(new MhError('MH_ERR_CONTROL_REFUSED', ['this protocol has no such request here']), ref);
        try {
          s.control(s, intent.control, ref);
        } catch (err) {
          s.fail(err, ref);
        }
        return;
    }
    const msg = intent.msg;
    if (msg._direct === true) return this.direct(s, msg, ref);
    // An `idem:` reference opts in to idempotent publish (core/idempotency.ts); any other costs one typeof.
    let idem: IdempotentWrite | undefined;
    if (typeof ref === 'string' && ref.startsWith(IDEM_PREFIX)) {
      try {
        idem = new IdempotentWrite(this.store, scopeOf(s.key), refKey(ref)!, false);
      } catch (err) {
        return s.fail(err, ref);
      }
    }
    const reply = s.reply(ref);
    this.intake.accept(msg, s.scope, bytes, idem ? idem.reply(reply) : reply, s, idem);
  }

  /**
   * `{"_ack": seq}` from a durable subscriber: everything up to seq arrived. Public for adapters whose protocol
   * acknowledges by message id (Texto's `ack` of a `receive`): they map the id to its `_seq` and call this.
   */
  acknowledge(s: Subscriber, seq: unknown, ref: unknown): void {
    if (!this.durable || s.key === null) {
      return s.sendError(new MhError('MH_ERR_CONTROL_REFUSED', ['acknowledgements need durable: true and a subscriber key (a logged-in user)']), ref);
    }
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
      return s.sendError(new MhError('MH_ERR_CONTROL_REFUSED', ['_ack must be a sequence number']), ref);
    }
    this.durable.ack(s, s.key, seq);
  }

  /**
   * `_direct: true`: delivered live to matching subscribers through the same pipeline, but never stored and
   * without a sequence number (typing indicators and other ephemeral traffic).
   */
  private direct(s: Subscriber, msg: Message, ref: unknown): void {
    if (!this.config.direct) return s.sendError(new MhError('MH_ERR_CONTROL_REFUSED', ['direct messages are not enabled on this handler']), ref);
    this.intake.direct(msg, s.scope, s.reply(ref), (event, frame) => this.publish([{ entry: this.name, event, frame }]), s);
  }

  /**
   * One message through the same intake for transports without a socket (HTTP publish). `bytes` is the
   * message's size in the request, for the write-queue bound. Resolves with the committed frame, or rejects with
   * the MhError.
   */
  submit(value: unknown, scope: ExprHandler, bytes = 0, idempotencyKey?: string): Promise<Row> {
    return new Promise((resolve, reject) => {
      try {
        if (this.closing) throw new MhError('MH_ERR_SHUTTING_DOWN');
        const msg = toMessage(value);
        delete msg._ref;
        // `Idempotency-Key` (http/message-http.ts): scoped, like a socket's `idem:` references, by the user.
        const idem =
          idempotencyKey === undefined ? undefined : new IdempotentWrite(this.store, scopeOf(scope.current_user?.id ?? null), checkKey(idempotencyKey), true);
        const reply: Reply = { committed: (_event, frame) => resolve(frame), refused: reject };
        this.intake.accept(msg, scope, bytes, idem ? idem.reply(reply) : reply, undefined, idem);
      } catch (err) {
        reject(toMhError(err));
      }
    });
  }

  /**
   * A direct message (never stored, no sequence number) for transports without a socket, e.g. an adapter's HTTP
   * call: the same pipeline as `_direct: true` on a socket, then the bus. Resolves with the frame subscribers
   * heard (its `id`), or rejects with the MhError (MH_ERR_CONTROL_REFUSED unless the handler has `direct: true`).
   */
  submitDirect(value: unknown, scope: ExprHandler): Promise<Row> {
    return new Promise((resolve, reject) => {
      try {
        if (this.closing) throw new MhError('MH_ERR_SHUTTING_DOWN');
        if (!this.config.direct) throw new MhError('MH_ERR_CONTROL_REFUSED', ['direct messages are not enabled on this handler']);
        const msg = toMessage(value);
        delete msg._ref;
        this.intake.direct(msg, scope, { committed: (_event, frame) => resolve(frame), refused: reject }, (event, frame) =>
          this.publish([{ entry: this.name, event, frame }]),
        );
      } catch (err) {
        reject(toMhError(err));
      }
    });
  }

  /**
   * An HTTP read: the history a subscription with these args would get first (same filter rules, same rows),
   * sent to `sink` in pages paced by it, so a big read holds one page in memory, never the whole answer.
   * Throws before sending anything when the read is refused (`open`, a bad filter).
   */
  async read(info: ConnectionInfo, sink: Sink): Promise<void> {
    const { filter } = await this.subscription(info);
    if (this.config.historyLimit <= 0) return;
    this.stats.replaysInProgress++;
    try {
      await sendHistory(sink, this.store, filter, this.config.historyLimit, msghubCodec, this.config.replayStallMs);
    } finally {
      this.stats.replaysInProgress--;
    }
  }

  /** Number of open subscribers. */
  get size(): number {
    return this.subscribers.size;
  }

  /**
   * Graceful stop: refuse new messages, finish every accepted one (pipeline, commit, publish), then close
   * subscribers with 1001 and the database.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    this.closing = true;
    this.intake.stop();
    const drained = (async () => {
      await Promise.all([...this.subscribers].map((s) => s.idle()));
      await this.intake.idle();
      await this.commit.drained();
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([drained, timeout]);
    clearTimeout(timer);
    clearInterval(this.pruner);
    await this.durable?.close();
    const bye = new MhError('MH_ERR_SHUTTING_DOWN');
    for (const s of this.subscribers) {
      if (s.expiry) clearTimeout(s.expiry);
      s.sink.close(bye.closeCode!, bye.message);
    }
    this.subscribers.clear();
  }
}
