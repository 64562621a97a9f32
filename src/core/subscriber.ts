/**
 * @module core/subscriber
 * One subscriber of a handler, whatever its transport (WebSocket, SSE, long-poll, an adapter's socket) and its
 * protocol (the codec): its filter, its subscriber key, its `handler` object for expressions, its replay-then-live
 * switch, and the per-subscriber ordering of the messages it sends. The transport is a Sink; this class never
 * knows which.
 */
import type { RateGuard } from '../auth/index.js';
import { MhError, toMhError } from '../errors.js';
import type { Filter } from '../filter/index.js';
import type { Member } from '../hub/hub.js';
import type { HandlerStats } from '../ops/counters.js';
import type { Logger } from '../log.js';
import type { ExprHandler } from '../pipeline/defaults.js';
import { isThenable } from '../pipeline/maybe-async.js';
import type { Codec } from '../protocol/codec.js';
import type { StoredEvent } from '../store/store.js';
import type { Payload, Sink } from '../transport/sink.js';
import type { Row } from '../types.js';
import type { Reply } from './intake.js';

export class Subscriber implements Member {
  filter!: Filter;
  /** While history is being sent, live events wait here (with their seq) so none is lost or sent twice. */
  private buffer: { payload: Payload; seq: number }[] | null = [];
  /**
   * Live events at or below this `_seq` were in the replay (it read the database, which can be ahead of the events
   * this process has delivered when other processes write): they are not sent twice.
   */
  private replayedUpTo = 0;
  /** Tail of this subscriber's message chain: its messages are processed strictly in order. */
  private tail: Promise<void> | null = null;
  unsubscribe: (() => void) | null = null;
  /** Durable delivery: events sent and not yet acknowledged, in send order. */
  readonly unacked: { payload: Payload; sentAt: number }[] = [];
  /** Frames per second this subscriber may send (null: unlimited). */
  rate: RateGuard | null = null;
  /** Set when the subscriber is being closed for abuse: its further frames are dropped unread. */
  refuseAll = false;
  /** Fires when the user's token expires without a refresh. */
  expiry: NodeJS.Timeout | null = null;
  /** The adapter's handler for its protocol's own requests (`SubscribeOptions.control`); null for msghub's. */
  control: ((s: Subscriber, control: unknown, ref: unknown) => void) | null = null;
  /** The handler's counters: refusals told to this subscriber are counted there (error paths only). */
  stats: HandlerStats | null = null;
  /** Called for every event frame sent (durable delivery tracks them). */
  onSent: ((payload: Payload) => void) | null = null;

  /**
   * @param key the subscriber key: whose durable position and acknowledgements these are (a user's id by
   *     default; an adapter may give a session or client id). null: not durable.
   */
  constructor(
    readonly sink: Sink,
    readonly scope: ExprHandler,
    readonly codec: Codec,
    readonly key: string | null,
    private readonly log: Logger,
  ) {}

  deliver(payload: Payload, event: StoredEvent): void {
    if (this.buffer) this.buffer.push({ payload, seq: event.seq });
    else if (event.seq === 0 || event.seq > this.replayedUpTo) this.emit(payload);
  }

  /** Sends an event frame (live or replayed). */
  emit(payload: Payload): void {
    this.sink.send(payload);
    this.onSent?.(payload);
  }

  /**
   * Ends replay: sends the live events that arrived meanwhile and were not already part of the replay
   * (direct messages, which have no sequence number, always pass).
   */
  goLive(replayedUpTo: number): void {
    const pending = this.buffer ?? [];
    this.buffer = null;
    this.replayedUpTo = replayedUpTo;
    for (const { payload, seq } of pending) if (seq === 0 || seq > replayedUpTo) this.emit(payload);
  }

  /**
   * Runs `task` after every earlier task of this subscriber. Synchronous tasks run at once when nothing is
   * pending, so the common case costs no promise.
   */
  serial(task: () => unknown): void {
    if (this.tail) {
      const p: Promise<void> = this.tail
        .then(() => this.guard(task))
        .then(() => {
          if (this.tail === p) this.tail = null;
        });
      this.tail = p;
      return;
    }
    const r = this.guard(task);
    if (isThenable(r)) {
      const p: Promise<void> = (r as Promise<void>).finally(() => {
        if (this.tail === p) this.tail = null;
      });
      this.tail = p;
    }
  }

  /** Resolves when every queued task of this subscriber has run (for shutdown). */
  idle(): Promise<void> {
    return this.tail ?? Promise.resolve();
  }

  private guard(task: () => unknown): unknown {
    try {
      const r = task();
      return isThenable(r) ? (r as Promise<unknown>).then(undefined, (err) => this.fail(err)) : r;
    } catch (err) {
      this.fail(err);
      return undefined;
    }
  }

  /** Reports a failed message to its sender only; the subscriber stays connected. */
  fail(err: unknown, ref?: unknown): void {
    const e = toMhError(err);
    if (e.code === 'MH_ERR_INTERNAL') this.log('error', `url:${this.scope.name}: message failed`, err, { conn: this.sink.peer ?? '' });
    this.sendError(e, ref);
  }

  sendError(err: MhError, ref?: unknown): void {
    this.stats?.refuse(err.code);
    this.sink.sendText(this.codec.error(err, ref), 0);
  }

  /** Ends the subscription with the error's close code (its `_error` frame first). */
  closeWith(err: MhError, fallback = 4400): void {
    this.sendError(err);
    this.sink.close(err.closeCode ?? fallback, err.message);
  }

  /** Messages of this subscriber accepted and not yet answered. */
  private outstanding = 0;
  private whenAnswered: (() => void)[] = [];

  /** The answer to the message this subscriber sent with reference `ref` (nothing for a success without one). */
  reply(ref: unknown): Reply {
    this.outstanding++;
    return ref === undefined ? new SilentSuccess(this) : new RefReply(this, ref);
  }

  /** A Reply of this subscriber was called (each is called exactly once). */
  answered(): void {
    if (--this.outstanding === 0 && this.whenAnswered.length) for (const f of this.whenAnswered.splice(0)) f();
  }

  /** Resolves once every message this subscriber sent so far has been answered (committed or refused). */
  settled(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => this.whenAnswered.push(resolve));
  }
}

/** A message sent without a reference: only a refusal is answered. */
class SilentSuccess implements Reply {
  constructor(private readonly sub: Subscriber) {}
  committed(): void {
    this.sub.answered();
  }
  refused(err: MhError): void {
    this.sub.answered();
    this.sub.fail(err);
  }
}

class RefReply implements Reply {
  constructor(
    private readonly sub: Subscriber,
    private readonly ref: unknown,
  ) {}
  committed(event: StoredEvent, _frame: Row): void {
    this.sub.answered();
    const seq = event.seq === 0 ? null : event.seq;
    this.sub.sink.sendText(this.sub.codec.ack({ seq, ref: this.ref, id: event.id }), 0);
  }
  refused(err: MhError): void {
    this.sub.answered();
    this.sub.fail(err, this.ref);
  }
}
