/**
 * @module durable
 * At-least-once delivery for authenticated users (`durable: true`). Each user's acknowledged position is kept
 * in the database (`{"_ack": seq}` from the client acknowledges everything up to seq); on reconnect the
 * handler resumes from it; an event a connection has not acknowledged within `ack_timeout` is sent again.
 */
import type { Connection } from './connection.js';
import type { Logger } from './log.js';
import type { Store } from './store/store.js';
import type { Payload } from './transport/socket.js';

/** Unacknowledged events one connection may hold before it is treated as a slow consumer. */
export const MAX_UNACKED = 10_000;

export class Durable {
  private readonly connections = new Set<Connection>();
  /** Cursor writes waiting for this turn's flush: user → highest acknowledged seq. */
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

  /** The position a user's new connection resumes from (null: never acknowledged → history). */
  cursor(user: string): Promise<number | null> {
    return this.store.getCursor(this.handler, user);
  }

  attach(conn: Connection): void {
    this.connections.add(conn);
  }

  detach(conn: Connection): void {
    this.connections.delete(conn);
  }

  /** Records an event frame sent to a durable connection. */
  sent(conn: Connection, payload: Payload): void {
    if (payload.seq === 0) return; // not an event (errors, direct messages)
    conn.unacked.push({ payload, sentAt: Date.now() });
    if (conn.unacked.length > MAX_UNACKED) conn.socket.close(4408, 'Too many unacknowledged events');
  }

  /** The client acknowledged everything up to `seq`. */
  ack(conn: Connection, user: string, seq: number): void {
    let i = 0;
    while (i < conn.unacked.length && conn.unacked[i]!.payload.seq <= seq) i++;
    if (i) conn.unacked.splice(0, i);
    if ((this.pending.get(user) ?? -1) < seq) this.pending.set(user, seq);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /** Writes pending cursors (one write per user per turn, however many acks arrived). */
  async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    for (const [user, seq] of batch) {
      try {
        await this.store.setCursor(this.handler, user, seq);
      } catch (err) {
        this.log('error', `url:${this.handler}: cannot save acknowledgement`, err);
      }
    }
  }

  private redeliver(): void {
    const due = Date.now() - this.ackTimeoutMs;
    for (const conn of this.connections) {
      if (!conn.socket.isOpen) continue;
      for (const entry of conn.unacked) {
        if (entry.sentAt > due) break; // in send order, so the rest are younger
        entry.sentAt = Date.now();
        conn.socket.send(entry.payload);
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
