/**
 * @module alert/worker
 * OutboxWorker: drains the outbox table. It claims due rows (see claim.ts), sends each through its service's
 * Mailer with bounded concurrency, and records the outcome: `sent`, a later retry with exponential backoff and
 * jitter, or `dead`. It never throws into its caller: database and SMTP failures are logged and retried on the
 * next wake-up, so the message pipeline never waits for, or breaks on, mail.
 *
 * Delivery guarantee: at least once. Every committed alert is sent while it is young enough and has attempts
 * left; a claim is a short lease renewed while the send runs (lease.ts), so an alert whose worker died is retried
 * about `leaseMs` later. It is sent twice only if a process dies between the SMTP server's acceptance and the
 * `sent` update, or cannot renew its lease for a whole `leaseMs` (a stalled process or database); both copies
 * carry the same Message-ID.
 */
import { EventEmitter } from 'node:events';
import { getSystemErrorName } from 'node:util';
import type { Knex } from 'knex';
import { claimDue, markDead, markRetry, markSent, nextDueAt, pruneSent, type ClaimedRow } from './claim.js';
import { LeaseKeeper } from './lease.js';
import { defaultAlertLog, type AlertLog } from './log.js';
import type { Mailer } from './mailer.js';
import { backoffDelay, resolveOutboxOptions, type OutboxOptions } from './options.js';
import { isoAt, messageIdFor } from './outbox.js';
import type { RenderedMail } from './render.js';

/** Payload of the worker's events. */
export interface OutboxEvent {
  id: string;
  handler: string;
  service: string;
  /** Attempts made so far, including the one that produced this event. */
  attempts: number;
  /** `retry` and `dead`: why. */
  error?: string;
  /** `retry`: when the next attempt is due (ISO). */
  nextAttemptAt?: string;
}

/** Events: `sent`, `retry`, `dead` (each with an OutboxEvent). For metrics and tests; listeners must not throw. */
export interface OutboxWorkerEvents {
  sent: [OutboxEvent];
  retry: [OutboxEvent];
  dead: [OutboxEvent];
}

// Node error codes that no retry will fix: an attachment that is missing or unreadable.
const PERMANENT_CODES = new Set(['ENOENT', 'EISDIR', 'EACCES', 'EPERM']);

/**
 * True when retrying cannot help: the server refused with a 5xx reply (bad address, policy, size), or an
 * attachment cannot be read. Authentication failures (535) count as transient: an operator fixing the password
 * and restarting should still get the queued alerts out.
 */
export function isPermanentFailure(err: unknown): boolean {
  const e = err as { responseCode?: unknown; code?: unknown; errno?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && PERMANENT_CODES.has(e.code)) return true;
  // nodemailer re-labels a failed attachment read as ESTREAM but keeps the system errno (-2 for ENOENT).
  if (e.code === 'ESTREAM' && typeof e.errno === 'number' && e.errno < 0) {
    if (PERMANENT_CODES.has(getSystemErrorName(e.errno))) return true;
  }
  return typeof e.responseCode === 'number' && e.responseCode >= 500 && e.responseCode < 600 && e.code !== 'EAUTH';
}

const oneLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 1000);

// Pruning `sent` rows is housekeeping; once an hour is plenty.
const PRUNE_EVERY_MS = 60 * 60 * 1000;
// Floor on the wake-up delay, so a row that is due but momentarily held by another worker cannot spin us.
const MIN_WAKE_MS = 20;

export class OutboxWorker extends EventEmitter<OutboxWorkerEvents> {
  readonly #knex: Knex;
  readonly #mailers: ReadonlyMap<string, Mailer>;
  readonly #opts: OutboxOptions;
  readonly #log: AlertLog;
  readonly #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  #again = false;
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  #lastPrune = 0;

  /**
   * @param knex the handler's database, with the outbox table already created (`ensureOutboxTable`).
   * @param mailers one Mailer per email service name; rows naming another service are left alone (pending)
   *   for a worker that has it, e.g. another app sharing the database, or this one after a config fix.
   */
  constructor(
    knex: Knex,
    mailers: ReadonlyMap<string, Mailer>,
    options: Partial<OutboxOptions> = {},
    log: AlertLog = defaultAlertLog,
  ) {
    super();
    this.#knex = knex;
    this.#mailers = mailers;
    this.#opts = resolveOutboxOptions(options);
    this.#log = log;
  }

  /** Starts draining: sends whatever is due now (e.g. left over from before a restart), then polls. */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    this.kick();
  }

  /** Looks at the table now instead of at the next poll. The core calls it after committing outbox rows. */
  kick(): void {
    if (this.#state !== 'running') return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#ticking = this.#tick().finally(() => {
      this.#ticking = null;
      // A kick that arrived after the claim loop (while pruning or planning the next wake) is not lost.
      if (this.#again) this.kick();
    });
  }

  /** Stops polling and waits for the sends in flight to finish and be recorded. Leaves no timers behind. */
  async stop(): Promise<void> {
    this.#state = 'stopped';
    this.#clearTimer();
    await this.#ticking;
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    this.#clearTimer();
  }

  async #tick(): Promise<void> {
    this.#clearTimer();
    let wakeIn = this.#opts.pollMs;
    try {
      do {
        this.#again = false;
        const free = this.#opts.concurrency - this.#inFlight.size;
        if (free <= 0) break;
        const { claimed, retired, seen } = await claimDue(this.#knex, { limit: free, ...this.#opts, services: [...this.#mailers.keys()] });
        for (const r of retired) {
          this.#log('error', `alert ${r.id} (${r.handler}) is dead: ${r.reason}`);
          this.#emitSafe('dead', { id: r.id, handler: r.handler, service: r.service, attempts: r.attempts, error: r.reason });
        }
        for (const row of claimed) this.#launch(row);
        // Every row we looked at was taken or retired by someone: more may be due behind them.
        if (seen === free && claimed.length < free) this.#again = true;
      } while (this.#again && this.#state === 'running');
      await this.#prune();
      if (this.#inFlight.size < this.#opts.concurrency) {
        const next = await nextDueAt(this.#knex, [...this.#mailers.keys()]);
        if (next !== null) wakeIn = Math.min(wakeIn, Math.max(MIN_WAKE_MS, next - Date.now()));
      }
    } catch (err) {
      this.#log('error', `outbox: cannot read the queue, retrying in ${wakeIn} ms: ${oneLine(err)}`);
    }
    this.#schedule(wakeIn);
  }

  #launch(row: ClaimedRow): void {
    const p: Promise<void> = this.#deliver(row).finally(() => {
      this.#inFlight.delete(p);
      this.kick();
    });
    this.#inFlight.add(p);
  }

  /** Sends one claimed row and records the outcome. Never rejects. */
  async #deliver(row: ClaimedRow): Promise<void> {
    const event: OutboxEvent = { id: row.id, handler: row.handler, service: row.service, attempts: row.attempts };
    let mail: RenderedMail;
    try {
      mail = JSON.parse(row.payload) as RenderedMail;
    } catch (err) {
      await this.#giveUp(row, event, `corrupt payload: ${oneLine(err)}`);
      return;
    }
    // Renewed for as long as the send takes, and stopped before the outcome is recorded under the final lease.
    const lease = new LeaseKeeper(this.#knex, row, this.#opts.leaseMs, this.#log);
    let failure: { err: unknown } | null = null;
    try {
      const mailer = this.#mailers.get(mail.service);
      if (!mailer) throw new Error(`no mailer for email service "${mail.service}"`);
      await mailer.send(mail, messageIdFor(row.id, mail));
    } catch (err) {
      failure = { err };
    } finally {
      await lease.stop();
    }
    if (failure) {
      await this.#failed(row, event, failure.err);
      return;
    }
    try {
      await markSent(this.#knex, row.id);
      this.#log('info', `alert ${row.id} (${row.handler}) sent to ${[...mail.to, ...mail.cc, ...mail.bcc].length} recipient(s)`);
      this.#emitSafe('sent', event);
    } catch (err) {
      // The mail is out but unrecorded: after the lease expires it is sent again, with the same Message-ID.
      this.#log('error', `alert ${row.id} was sent but could not be marked sent (may be re-sent once): ${oneLine(err)}`);
    }
  }

  async #failed(row: ClaimedRow, event: OutboxEvent, err: unknown): Promise<void> {
    const error = oneLine(err);
    const age = Date.now() - Date.parse(row.createdAt);
    const failed = { ...event, error };
    if (isPermanentFailure(err)) return this.#giveUp(row, failed, `permanent failure: ${error}`);
    if (row.attempts >= this.#opts.maxAttempts) {
      return this.#giveUp(row, failed, `${row.attempts} attempts failed; last: ${error}`);
    }
    const delay = backoffDelay(row.attempts, this.#opts);
    if (age + delay > this.#opts.maxAgeMs) return this.#giveUp(row, failed, `would exceed maxAgeMs; last: ${error}`);
    const nextAttemptAt = isoAt(delay);
    try {
      if (await markRetry(this.#knex, row, nextAttemptAt, error)) {
        this.#log('warn', `alert ${row.id} (${row.handler}) attempt ${row.attempts} failed, retrying at ${nextAttemptAt}: ${error}`);
        this.#emitSafe('retry', { ...event, error, nextAttemptAt });
      }
    } catch (dbErr) {
      // The row stays `sending`; its lease expiring makes it due again.
      this.#log('error', `alert ${row.id}: cannot record failed attempt: ${oneLine(dbErr)}`);
    }
  }

  async #giveUp(row: ClaimedRow, event: OutboxEvent, reason: string): Promise<void> {
    try {
      if (await markDead(this.#knex, row, reason)) {
        this.#log('error', `alert ${row.id} (${row.handler}) is dead: ${reason}`);
        this.#emitSafe('dead', { ...event, error: reason });
      }
    } catch (dbErr) {
      this.#log('error', `alert ${row.id}: cannot mark dead (${reason}): ${oneLine(dbErr)}`);
    }
  }

  async #prune(): Promise<void> {
    if (Date.now() - this.#lastPrune < PRUNE_EVERY_MS) return;
    this.#lastPrune = Date.now();
    const n = await pruneSent(this.#knex, isoAt(-this.#opts.keepSentMs));
    if (n > 0) this.#log('info', `outbox: deleted ${n} sent alert(s) older than keepSentMs`);
  }

  #emitSafe<K extends keyof OutboxWorkerEvents>(name: K, event: OutboxEvent): void {
    try {
      (this.emit as (n: K, e: OutboxEvent) => boolean)(name, event);
    } catch (err) {
      this.#log('error', `outbox: a "${name}" listener threw: ${oneLine(err)}`);
    }
  }

  #schedule(ms: number): void {
    if (this.#state !== 'running') return;
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.kick();
    }, ms);
    // An idle outbox must not keep the process alive.
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
