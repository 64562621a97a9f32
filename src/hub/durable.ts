/**
 * @module hub/durable
 * At-least-once delivery (`durable: true`) per subscriber key: a logged-in user's id by default, or the key an
 * adapter gives (an x0 session, a Texto client id). Each key's acknowledged position is kept in the database
 * (`{"_ack": seq}` acknowledges everything up to seq); a subscriber that comes back with the same key resumes from
 * it; an event a subscriber has not acknowledged within `ack_timeout` is sent again.
 */
import type { Subscriber } from '../core/subscriber.js';
import { MhError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { Payload } from '../transport/sink.js';

/** Unacknowledged events one subscriber may hold before it is closed (MH_ERR_TOO_MANY_UNACKED). */
export const MAX_UNACKED = 10_000;

export class Durable {
  private readonly connections = new Set<Subscriber>();
  /** Cursor writes waiting for this turn's flush: subscriber key → highest acknowledged seq. */
  private pending = new Map<string, number>();
  private flushScheduled = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly handler: string,
    private readonly ackTimeoutMs: number,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.redeliver(), Math.max(10, ackTimeoutMs / 2));
    this.timer.unref();
  }

  /** The position a subscriber key resumes from (null: never acknowledged → history). */
  cursor(key: string): Promise<number | null> {
    return this.store.getCursor(this.handler, key);
  }

  attach(conn: Subscriber): void {
    this.connections.add(conn);
  }

  detach(conn: Subscriber): void {
    this.connections.delete(conn);
  }

  /** Records an event frame sent to a durable connection. */
  sent(conn: Subscriber, payload: Payload): void {
    if (payload.seq === 0) return; // not an event (errors, direct messages)
    conn.unacked.push({ payload, sentAt: Date.now() });
    if (conn.unacked.length > MAX_UNACKED) conn.closeWith(new MhError('MH_ERR_TOO_MANY_UNACKED', [MAX_UNACKED]));
  }

  /** The client acknowledged everything up to `seq`. */
  ack(conn: Subscriber, key: string, seq: number): void {
    let i = 0;
    while (i < conn.unacked.length && conn.unacked[i]!.payload.seq <= seq) i++;
    if (i) conn.unacked.splice(0, i);
    if ((this.pending.get(key) ?? -1) < seq) this.pending.set(key, seq);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /** Writes pending cursors (one write per key per turn, however many acks arrived). */
  async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    for (const [key, seq] of batch) {
      try {
        await this.store.setCursor(this.handler, key, seq);
      } catch (err) {
        this.log('error', `url:${this.handler}: cannot save acknowledgement`, err);
      }
    }
  }

  private redeliver(): void {
    const due = Date.now() - this.ackTimeoutMs;
    for (const conn of this.connections) {
      if (!conn.sink.isOpen) continue;
      for (const entry of conn.unacked) {
        if (entry.sentAt > due) break; // in send order, so the rest are younger
        entry.sentAt = Date.now();
        conn.sink.send(entry.payload);
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
