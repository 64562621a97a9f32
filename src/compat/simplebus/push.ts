/**
 * @module compat/simplebus/push
 * HTTP push users (SimpleBus's `connection_properties: {type: http, url, authorization: {type: basic, user,
 * password}}`, e.g. a 1C backend): msghub POSTs each message to `<url>/data` as JSON, with those Basic
 * credentials. A 2xx answer confirms the delivery; anything else (a status, a refused connection, a timeout)
 * schedules another attempt with exponential backoff (`redelivery_seconds` × 2^(attempt−1), at most 10 minutes),
 * until `max_redeliveries` attempts, then the row is `dead` (kept, visible).
 *
 * This is the alert outbox's pattern (alert/worker.ts), on the delivery rows: any node's worker claims a due
 * row (deliveries.ts `claim`: a conditional UPDATE that moves `next_at` to a lease), sends, and records the
 * outcome; a worker that dies mid-send leaves a row that is due again when the lease ends. The worker wakes on a
 * timer (every tick) and when a message with push recipients is committed (adapter.ts).
 *
 * SimpleBus's own HTTP worker crashes on its first item (it reads a variable before assigning it), so its push
 * never worked; this is the behaviour its documentation describes. Its form encoding (`data=`) is not used: the
 * body is the message's JSON, `Content-Type: application/json`.
 */
import type { Logger } from '../../log.js';
import type { DueRow, Deliveries } from './deliveries.js';
import { iso } from './deliveries.js';
import type { PushTarget, Users } from './users.js';
import { pushTarget } from './users.js';

/** How long one POST may take. */
const POST_TIMEOUT_MS = 10_000;
/** The claim outlives the POST's timeout, so a row is never taken over while its POST may still succeed. */
const LEASE_MS = POST_TIMEOUT_MS + 20_000;
const MAX_BACKOFF_MS = 10 * 60_000;
/** Rows claimed per pass, and POSTs in flight at once. */
const BATCH = 50;

export interface PushOptions {
  redeliveryMs: number;
  maxRedeliveries: number;
  /** The body of message `seq` (the JSON recipients receive), or null when it is gone. */
  body(seq: number): Promise<string | null>;
}

/** Sends one message to a push user. Resolves with null on a 2xx, else the reason. */
export async function postMessage(target: PushTarget, body: string): Promise<string | null> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (target.basic) headers.authorization = 'Basic ' + Buffer.from(`${target.basic.user}:${target.basic.password}`).toString('base64');
  try {
    const res = await fetch(`${target.url}/data`, { method: 'POST', headers, body, signal: AbortSignal.timeout(POST_TIMEOUT_MS), redirect: 'manual' });
    // Read (and drop) the answer so the connection can be reused.
    await res.arrayBuffer().catch(() => undefined);
    return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`;
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return e.cause?.code ?? e.name ?? 'request failed';
  }
}

export class PushWorker {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly deliveries: Deliveries,
    private readonly users: Users,
    private readonly options: PushOptions,
    private readonly log: Logger,
  ) {}

  /** Runs a pass now (or right after the one running). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err) => this.log('warn', 'simplebus: push pass failed', err))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async pass(): Promise<void> {
    for (;;) {
      const due = await this.deliveries.duePush(BATCH);
      if (!due.length || this.stopped) return;
      await Promise.all(due.map((row) => this.attempt(row)));
      if (due.length < BATCH) return;
    }
  }

  private async attempt(row: DueRow): Promise<void> {
    const { redeliveryMs, maxRedeliveries } = this.options;
    if (row.attempts >= maxRedeliveries) {
      await this.deliveries.kill(row, `no 2xx answer after ${row.attempts} attempts`);
      return;
    }
    const lease = await this.deliveries.claim(row, LEASE_MS);
    if (!lease) return;
    const user = await this.users.get(row.recipient);
    const target = user ? pushTarget(user.props) : null;
    const body = await this.options.body(row.seq);
    const failure = !target ? 'the user is gone or no longer an HTTP push user' : body === null ? 'the message is gone' : await postMessage(target, body);
    if (failure === null) return this.deliveries.confirmed(row);
    const attempt = row.attempts + 1;
    const delay = Math.min(MAX_BACKOFF_MS, redeliveryMs * 2 ** Math.min(20, attempt - 1));
    await this.deliveries.retryAt(row, lease, iso(delay), failure);
  }
}
