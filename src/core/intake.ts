/**
 * @module core/intake
 * The one way a message enters msghub, for every transport and protocol: a WebSocket frame, an HTTP body item,
 * an adapter's request. In: a message (already decoded and checked by its codec or body reader), the `handler`
 * scope of its origin (user, session, request), its size as received, and a Reply; out: exactly one call on the
 * Reply, `committed` with the stored event or `refused` with one catalogued error.
 *
 *   write-queue bound → [per-origin order] → pipeline (with the hook timeout) → group commit → bus → Reply
 *
 * Ordering: messages of one origin that passes itself as `order` are committed in the order they were accepted; every
 * message is committed in the order it finished the pipeline.
 */
import type { MessageHandlerConfig } from '../config/message-handler.js';
import { HANDLER_DEFAULTS } from '../config/defaults.js';
import { MhError, toMhError } from '../errors.js';
import type { ExprHandler } from '../pipeline/defaults.js';
import { andThen, isThenable, type MaybePromise } from '../pipeline/maybe-async.js';
import type { Message } from '../pipeline/parse.js';
import type { GroupCommit } from '../pipeline/commit.js';
import type { Prepared } from '../pipeline/run.js';
import type { StoredEvent } from '../store/store.js';
import type { Row } from '../types.js';
import type { IdempotentWrite } from './idempotency.js';

/** The answer to one message: exactly one of the two is called, once. Neither may throw. */
export interface Reply {
  /** Stored (or, for a direct message, delivered) as `event`; `frame` is what subscribers heard. */
  committed(event: StoredEvent, frame: Row): void;
  refused(err: MhError): void;
}

/** An origin whose messages are processed one after another, in the order it sent them (a Subscriber). */
export interface Ordered {
  serial(task: () => unknown): void;
}

export class Intake {
  /**
   * Messages accepted and not yet answered (in the pipeline, queued, or being committed) and their bytes:
   * shutdown waits for them, and `limits.max_queued_*` bound them.
   */
  private inflight = 0;
  private inflightBytes = 0;
  private idleWaiters: (() => void)[] = [];
  private closing = false;
  /** The table's column names, for the row a direct message would have been. */
  private readonly columns: readonly string[];

  constructor(
    private readonly config: MessageHandlerConfig,
    private readonly run: (msg: Message, handler: ExprHandler) => MaybePromise<Prepared>,
    private readonly commit: GroupCommit,
  ) {
    commit.onAnswered = (bytes) => this.settle(bytes);
    this.columns = [...config.columns.keys()];
  }

  /**
   * Accepts a message; its Reply hears the outcome. Never throws. With `idem` (core/idempotency.ts) the message is
   * published idempotently: its record is written with the message, and a key already committed makes the write
   * refuse it, which `idem.reply(…)` (what `reply` should be) answers with the original acknowledgement.
   */
  accept(msg: Message, scope: ExprHandler, bytes: number, reply: Reply, order?: Ordered, idem?: IdempotentWrite): void {
    const full = this.closing ? new MhError('MH_ERR_SHUTTING_DOWN') : this.admit(bytes);
    if (full) return reply.refused(full);
    const run = (): unknown => {
      let result;
      try {
        result = andThen(this.prepare(msg, scope), (prepared) => {
          idem?.attach(prepared);
          this.commit.enqueue({ prepared, reply, bytes });
        });
      } catch (err) {
        this.settle(bytes);
        reply.refused(toMhError(err));
        return undefined;
      }
      if (isThenable(result)) {
        return (result as Promise<void>).then(undefined, (err) => {
          this.settle(bytes);
          reply.refused(toMhError(err));
        });
      }
      return undefined;
    };
    if (order) order.serial(run);
    else run();
  }

  /**
   * A direct message (`_direct: true`): the same pipeline, then straight to the bus, never stored and without a
   * sequence number (typing indicators and other ephemeral traffic). Not counted in the write queue.
   */
  direct(msg: Message, scope: ExprHandler, reply: Reply, publish: (event: StoredEvent, frame: Row) => void, order?: Ordered): void {
    const task = (): unknown => {
      let result;
      try {
        result = andThen(this.prepare(msg, scope), ({ method, req, frame }) => {
          const row: Row = {};
          for (const c of this.columns) row[c] = Object.hasOwn(req.values, c) ? req.values[c] : null;
          row.id = req.id;
          const event: StoredEvent = { seq: 0, method, id: req.id, before: null, after: row, changed: [] };
          publish(event, frame);
          reply.committed(event, frame);
        });
      } catch (err) {
        reply.refused(toMhError(err));
        return undefined;
      }
      // An async hook that fails (or times out) is answered with the message's own reference too.
      return isThenable(result) ? (result as Promise<void>).then(undefined, (err) => reply.refused(toMhError(err))) : undefined;
    };
    if (order) order.serial(task);
    else task();
  }

  /** Refuses everything accepted from now on with MH_ERR_SHUTTING_DOWN. */
  stop(): void {
    this.closing = true;
  }

  /** Resolves once every accepted message has been answered. */
  idle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Takes a place in the write queue for a message of `bytes`, or returns the MH_ERR_OVERLOADED that refuses it.
   * The place is given back by `settle` once the message is answered: so the queue bounds everything accepted
   * and not yet stored, whether it waits for a hook or for the database.
   */
  private admit(bytes: number): MhError | null {
    const { max_queued_messages: maxMessages, max_queued_bytes: maxBytes } = this.config.limits;
    if (maxMessages > 0 && this.inflight >= maxMessages) return new MhError('MH_ERR_OVERLOADED', [`${this.inflight} messages`]);
    if (maxBytes > 0 && this.inflightBytes + bytes > maxBytes && this.inflight > 0) return new MhError('MH_ERR_OVERLOADED', [`${this.inflightBytes} bytes`]);
    this.inflight++;
    this.inflightBytes += bytes;
    return null;
  }

  private settle(bytes: number): void {
    this.inflight--;
    this.inflightBytes -= bytes;
    if (this.inflight === 0 && this.idleWaiters.length) for (const w of this.idleWaiters.splice(0)) w();
  }

  /**
   * Runs the pipeline. When an app module returns a promise, the message waits for it, but not forever: a
   * promise that never settles would otherwise stall its origin's later messages and shutdown.
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
}
