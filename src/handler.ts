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
import { MhError, toMhError } from './errors.js';
import { parseFilter, projectRow } from './filter/index.js';
import { Hub } from './hub/hub.js';
import type { Logger } from './log.js';
import type { ExprHandler } from './pipeline/defaults.js';
import { andThen } from './pipeline/maybe-async.js';
import { parseFrame, toMessage, type Message } from './pipeline/parse.js';
import { createPipeline, type Prepared } from './pipeline/run.js';
import type { Store, WriteResult } from './store/store.js';
import { Payload, type Socket } from './transport/socket.js';
import type { Args, Row, User } from './types.js';

/** Query parameters that steer the transport, never filters. */
export const RESERVED_ARGS: ReadonlySet<string> = new Set(['_since', '_wait', 'access_token', '_format']);

/** The most writes committed in one transaction; a turn with more is split. */
const MAX_BATCH = 1000;
/** History rows sent per event-loop turn, so a large replay never stalls live fan-out to others. */
const REPLAY_PAGE = 256;

/** What a transport knows about who is connecting. */
export interface ConnectionInfo {
  args: Args;
  user: User | null;
  sessionId: string | null;
  ip: string;
  headers: Record<string, string>;
}

interface Pending {
  prepared: Prepared;
  conn: Connection | null;
  ref: unknown;
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
  /** Messages between receipt and enqueue (async prepare etc.), so shutdown can wait for them. */
  private inflight = 0;
  private inflightDone: (() => void) | null = null;
  /** Called after each committed batch (e.g. to wake the alert worker). */
  onCommit: ((events: number) => void) | null = null;

  constructor(
    readonly config: MessageHandlerConfig,
    readonly store: Store,
    private readonly log: Logger,
  ) {
    this.name = config.name;
    this.columnNames = [...config.columns.keys()];
    this.run = createPipeline(config, log);
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
    const args: Args = {};
    for (const k of Object.keys(info.args)) args[k] = [...info.args[k]!];
    const scope: ExprHandler = Object.freeze({
      name: this.name,
      current_user: info.user,
      session: Object.freeze({ id: info.sessionId }),
      args,
      request: Object.freeze({ ip: info.ip, headers: Object.freeze({ ...info.headers }) }),
    });
    const conn = new Connection(socket, scope, this.log);
    try {
      // `open` may rewrite args: what it sets is the filter, whatever the query string said.
      if (this.config.open) await this.config.open({ args, handler: scope });
      conn.filter = parseFilter(args, this.config.columns, { reserved: RESERVED_ARGS, maxConditions: this.config.maxFilterArgs });
    } catch (err) {
      const e = toMhError(err);
      if (e.code === 'MH_ERR_INTERNAL') this.log('error', `url:${this.name}: open failed`, err);
      conn.sendError(e);
      socket.close(e.closeCode && e.closeCode >= 4000 ? e.closeCode : 4400, e.message);
      return null;
    }
    this.connections.add(conn);
    conn.unsubscribe = this.hub.subscribe(conn);
    try {
      // Capture the sequence before querying: live events committed after it are buffered by the connection
      // and sent after the history, those at or before it are already in the history.
      const historySeq = this.store.lastSeq;
      const rows = this.config.historyLimit > 0 ? await this.store.history(conn.filter, this.config.historyLimit) : [];
      for (let i = 0; i < rows.length; i++) {
        if (!socket.isOpen) break;
        socket.send(Payload.of(conn.filter.columns ? projectRow(rows[i]!, conn.filter, ['_seq']) : rows[i]));
        if (i % REPLAY_PAGE === REPLAY_PAGE - 1) await new Promise<void>((r) => setImmediate(r));
      }
      conn.goLive(historySeq);
    } catch (err) {
      this.log('error', `url:${this.name}: history failed`, err);
      conn.sendError(toMhError(err));
      socket.close(4500, 'History failed');
      this.disconnect(conn);
      return null;
    }
    return conn;
  }

  /** The transport saw the connection close. */
  disconnect(conn: Connection): void {
    conn.unsubscribe?.();
    conn.unsubscribe = null;
    this.connections.delete(conn);
  }

  /** A client frame. Errors go back to the sender as `_error` frames; the connection stays open. */
  receive(conn: Connection, text: string): void {
    let msg: Message;
    try {
      if (this.closing) throw new MhError('MH_ERR_SHUTTING_DOWN');
      msg = parseFrame(text);
    } catch (err) {
      conn.fail(err);
      return;
    }
    const ref = msg._ref;
    delete msg._ref;
    this.inflight++;
    conn.serial(() => {
      let result;
      try {
        result = andThen(this.run(msg, conn.scope), (prepared) => this.enqueue({ prepared, conn, ref }));
      } catch (err) {
        this.settle();
        conn.fail(err, ref);
        return;
      }
      if (result && typeof (result as Promise<void>).then === 'function') {
        return (result as Promise<void>).then(undefined, (err) => {
          this.settle();
          conn.fail(err, ref);
        });
      }
    });
  }

  /**
   * Runs one message through the same pipeline for transports without a socket (HTTP publish). Resolves with
   * the committed frame, or rejects with the MhError.
   */
  submit(value: unknown, scope: ExprHandler): Promise<Row> {
    return new Promise((resolve, reject) => {
      try {
        if (this.closing) throw new MhError('MH_ERR_SHUTTING_DOWN');
        const msg = toMessage(value);
        delete msg._ref;
        this.inflight++;
        Promise.resolve(this.run(msg, scope)).then(
          (prepared) =>
            this.enqueue({
              prepared,
              conn: null,
              ref: undefined,
              done: (r, frame) => (r.ok ? resolve(frame) : reject(r.error)),
            }),
          (err) => {
            this.settle();
            reject(toMhError(err));
          },
        );
      } catch (err) {
        reject(toMhError(err));
      }
    });
  }

  private settle(): void {
    this.inflight--;
    if (this.inflight === 0 && this.inflightDone) this.inflightDone();
  }

  private enqueue(p: Pending): void {
    this.settle();
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

  /** Commits queued messages in batches, then publishes each in commit order. */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = (async () => {
      while (this.queue.length) {
        const batch = this.queue.splice(0, MAX_BATCH);
        const results = await this.store.write(batch.map((p) => p.prepared.req));
        let committed = 0;
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i]!;
          const r = results[i]!;
          const frame = p.prepared.frame;
          if (r.ok) {
            committed++;
            // A POST's frame carries the whole new row (column defaults included), like its history row will.
            if (r.event.method === 'POST') for (const c of this.columnNames) if (!(c in frame)) frame[c] = r.event.after![c];
            frame._seq = r.event.seq;
            try {
              this.hub.publish(r.event, frame);
            } catch (err) {
              this.log('error', `url:${this.name}: publish failed`, err);
            }
            if (p.ref !== undefined && p.conn) {
              p.conn.socket.send(Payload.of({ _ack: r.event.seq, _ref: p.ref, id: r.event.id, _seq: r.event.seq }));
            }
          } else if (p.conn) {
            if (r.error.code === 'MH_ERR_STORE_FAILED') this.log('error', `url:${this.name}: write failed`, r.error.cause ?? r.error);
            p.conn.sendError(r.error, p.ref);
          }
          p.done?.(r, frame);
        }
        if (committed) this.onCommit?.(committed);
      }
    })().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Rows for an HTTP read, with the same filter rules as a subscription. */
  async read(args: Args): Promise<Row[]> {
    const filter = parseFilter(args, this.config.columns, { reserved: RESERVED_ARGS, maxConditions: this.config.maxFilterArgs });
    const rows = await this.store.history(filter, this.config.historyLimit);
    return filter.columns ? rows.map((r) => projectRow(r, filter, ['_seq'])) : rows;
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
      while (this.queue.length || this.flushing) await this.flush();
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([drained, timeout]);
    clearTimeout(timer);
    for (const conn of this.connections) conn.socket.close(1001, 'Server is shutting down');
    this.connections.clear();
  }
}
