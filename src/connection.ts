/**
 * @module connection
 * One subscriber/publisher connection of a MessageHandler, independent of the transport: its filter, its
 * `handler` object for expressions, its replay-then-live switch, and the per-connection ordering of the
 * messages it sends.
 */
import type { RateGuard } from './auth/index.js';
import { MhError, toMhError } from './errors.js';
import type { Filter } from './filter/index.js';
import type { Subscriber } from './hub/hub.js';
import type { ExprHandler } from './pipeline/defaults.js';
import { isThenable } from './pipeline/maybe-async.js';
import type { StoredEvent } from './store/store.js';
import { Payload, type Socket } from './transport/socket.js';
import type { Logger } from './log.js';

export class Connection implements Subscriber {
  filter!: Filter;
  /** While history is being sent, live events wait here (with their seq) so none is lost or sent twice. */
  private buffer: { payload: Payload; seq: number }[] | null = [];
  /** Tail of this connection's message chain: a connection's messages are processed strictly in order. */
  private tail: Promise<void> | null = null;
  unsubscribe: (() => void) | null = null;
  /** Durable delivery: the user whose position this connection advances (null when not durable). */
  durableUser: string | null = null;
  /** Durable delivery: events sent and not yet acknowledged, in send order. */
  readonly unacked: { payload: Payload; sentAt: number }[] = [];
  /** Frames per second this connection may send (null: unlimited). */
  rate: RateGuard | null = null;
  /** Set when the connection is being closed for abuse: its further frames are dropped unread. */
  refuseAll = false;
  /** Fires when the user's token expires without a refresh. */
  expiry: NodeJS.Timeout | null = null;
  /** Called for every event frame sent (durable delivery tracks them). */
  onSent: ((payload: Payload) => void) | null = null;

  constructor(
    readonly socket: Socket,
    readonly scope: ExprHandler,
    private readonly log: Logger,
  ) {}

  /**
   * Live events at or below this `_seq` were in the replay (it read the database, which can be ahead of the events
   * this process has delivered when other processes write): they are not sent twice.
   */
  private replayedUpTo = 0;

  deliver(payload: Payload, event: StoredEvent): void {
    if (this.buffer) this.buffer.push({ payload, seq: event.seq });
    else if (event.seq === 0 || event.seq > this.replayedUpTo) this.emit(payload);
  }

  /** Sends an event frame (live or replayed). */
  emit(payload: Payload): void {
    this.socket.send(payload);
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
   * Runs `task` after every earlier task of this connection. Synchronous tasks run at once when nothing is
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

  /** Resolves when every queued task of this connection has run (for shutdown). */
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

  /** Reports a failed message to its sender only; the connection stays open. */
  fail(err: unknown, ref?: unknown): void {
    const e = toMhError(err);
    if (e.code === 'MH_ERR_INTERNAL') this.log('error', `url:${this.scope.name}: message failed`, err);
    this.sendError(e, ref);
  }

  sendError(err: MhError, ref?: unknown): void {
    const frame: Record<string, unknown> = { _error: err.toJSON() };
    if (ref !== undefined) frame._ref = ref;
    this.socket.send(safePayload(frame, err));
  }

  /** The sender's acknowledgement of a committed message. */
  sendAck(seq: number, ref: unknown, id: string): void {
    let ack: string;
    try {
      // For the sender alone: no Payload to share. (Same keys and order as JSON.stringify of the object.)
      ack = `{"_ack":${seq},"_ref":${JSON.stringify(ref)},"id":${JSON.stringify(id)},"_seq":${seq}}`;
    } catch {
      ack = `{"_ack":${seq},"id":${JSON.stringify(id)},"_seq":${seq}}`;
    }
    this.socket.sendText(ack, 0);
  }
}

/**
 * A reply can never throw out of the code that answers a client: `_ref` passed the frame checks, but should a
 * value that cannot be serialized ever reach here, the error still goes out, without the `_ref`.
 */
function safePayload(frame: Record<string, unknown>, err: MhError): Payload {
  try {
    return Payload.of(frame);
  } catch {
    return Payload.of({ _error: err.toJSON() });
  }
}
