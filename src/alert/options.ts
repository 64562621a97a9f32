/**
 * @module alert/options
 * Delivery tuning for the OutboxWorker, with every default in one object. The defaults ride out an SMTP outage
 * of about four hours (25 attempts, backing off to 15 minutes apart) and give up on any alert a day old.
 */

export interface OutboxOptions {
  /** Mails sent at the same time by one worker. */
  concurrency: number;
  /** Attempts (including the first) before an alert is `dead`. */
  maxAttempts: number;
  /** An alert older than this (since it was queued) is `dead` instead of sent late. */
  maxAgeMs: number;
  /** Delay after the first failure; doubles per attempt. */
  baseDelayMs: number;
  /** Ceiling of the retry delay. */
  maxDelayMs: number;
  /** Longest sleep between looks at the table (new rows from other processes, retries). `kick()` wakes sooner. */
  pollMs: number;
  /**
   * How long a claim lasts unless renewed. The worker renews it every `leaseMs / 3` while the send runs, so a
   * send may take longer than this; a row still `sending` after it (its worker died) is claimed again, so this
   * is about how long a crash delays an alert. Must exceed the longest stall of a live process (event loop,
   * database) and the clock difference between nodes that share the outbox.
   */
  leaseMs: number;
  /** `sent` rows older than this are deleted, so the table does not grow forever. `dead` rows are kept. */
  keepSentMs: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

export const DEFAULT_OUTBOX_OPTIONS: Readonly<OutboxOptions> = Object.freeze({
  concurrency: 4,
  maxAttempts: 25,
  maxAgeMs: 24 * HOUR,
  baseDelayMs: 1 * SECOND,
  maxDelayMs: 15 * MINUTE,
  pollMs: 5 * SECOND,
  leaseMs: 1 * MINUTE,
  keepSentMs: 7 * 24 * HOUR,
});

/** Defaults filled in; non-positive or non-numeric values fall back to the default instead of stalling the queue. */
export function resolveOutboxOptions(options: Partial<OutboxOptions> = {}): OutboxOptions {
  const out = { ...DEFAULT_OUTBOX_OPTIONS };
  for (const key of Object.keys(out) as (keyof OutboxOptions)[]) {
    const v = options[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) continue;
    out[key] = key === 'concurrency' || key === 'maxAttempts' ? Math.ceil(v) : v;
  }
  return out;
}

/**
 * Delay before attempt `attempt + 1`, after `attempt` failures: exponential, capped, with "equal jitter" (half
 * fixed, half random) so many alerts failing together do not hammer the server again in lockstep.
 */
export function backoffDelay(
  attempt: number,
  options: Pick<OutboxOptions, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
): number {
  const exp = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * random());
}
