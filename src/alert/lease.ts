/**
 * @module alert/lease
 * Keeps a claimed alert's lease alive while its mail is being sent. The lease is short (`leaseMs`, a minute by
 * default) so that an alert whose worker died is retried about a minute later; a send that takes longer than
 * the lease is still never taken over, because the worker that is alive renews the lease every `leaseMs / 3`.
 * Two renewals may fail (a busy database) before the lease can expire.
 */
import type { Knex } from 'knex';
import { renewLease, type ClaimedRow } from './claim.js';
import type { AlertLog } from './log.js';
import { isoAt } from './outbox.js';

const MAX_TIMER_MS = 2 ** 31 - 1;
const oneLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 1000);

/** A running heartbeat for one claimed row. Create it when the send starts; `stop()` it before recording the outcome. */
export class LeaseKeeper {
  readonly #knex: Knex;
  readonly #row: ClaimedRow;
  readonly #leaseMs: number;
  readonly #log: AlertLog;
  readonly #timer: NodeJS.Timeout;
  #renewing: Promise<void> | null = null;
  #lost = false;

  /** Starts renewing `row`'s lease (`row.lease` follows each renewal). */
  constructor(knex: Knex, row: ClaimedRow, leaseMs: number, log: AlertLog) {
    this.#knex = knex;
    this.#row = row;
    this.#leaseMs = leaseMs;
    this.#log = log;
    // Clamped to what setInterval accepts (a longer delay would silently become 1 ms).
    this.#timer = setInterval(() => this.#renew(), Math.min(MAX_TIMER_MS, Math.max(1, Math.floor(leaseMs / 3))));
    // The send's own socket keeps the process alive while it runs; the heartbeat alone never should.
    this.#timer.unref();
  }

  /**
   * Stops renewing and waits for a renewal in flight, so that `row.lease` is final when the caller records the
   * outcome (which is conditional on it).
   */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#renewing;
  }

  #renew(): void {
    // One renewal at a time: a slow database must not let an older renewal overwrite a newer lease.
    if (this.#renewing || this.#lost) return;
    const row = this.#row;
    this.#renewing = renewLease(this.#knex, row, isoAt(this.#leaseMs))
      .then(
        (held) => {
          if (held) return;
          this.#lost = true;
          clearInterval(this.#timer);
          this.#log('warn', `alert ${row.id} (${row.handler}): lease lost while sending; another worker may send it too`);
        },
        (err) => this.#log('warn', `alert ${row.id}: cannot renew its lease (until ${row.lease}), will retry: ${oneLine(err)}`),
      )
      // A logger that throws must not turn into a failed send: stop() awaits this promise.
      .catch(() => {})
      .finally(() => {
        this.#renewing = null;
      });
  }
}
