/**
 * @module auth/rate
 * Message rates: a token bucket; the per-connection policy on top of it that turns "too fast" into either a
 * refused frame (`_error` MH_ERR_RATE_LIMITED, the socket stays open) or, for a client that keeps hammering
 * regardless, a close with 4429; and per-address buckets for HTTP publishers, who have no connection to close.
 * Time comes from an injectable clock so the policies are tested without sleeping.
 */
import { LIMIT_DEFAULTS } from './limits.js';

/**
 * A token bucket: holds up to `burst` tokens, refilled continuously at `ratePerSec`; a message takes one.
 * Starts full, so a client may send `burst` messages at once.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(ratePerSec > 0) || !Number.isFinite(ratePerSec)) throw new RangeError('ratePerSec must be a finite number > 0');
    if (!(burst >= 1) || !Number.isFinite(burst)) throw new RangeError('burst must be a finite number ≥ 1');
    this.tokens = burst;
    this.last = now();
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) otherwise. */
  take(n = 1): boolean {
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Tokens available now. */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /** When the bucket was last taken from or looked at (the clock's time). */
  get touchedAt(): number {
    return this.last;
  }

  private refill(): void {
    const t = this.now();
    // A clock that steps backwards (NTP) must not drain the bucket.
    const elapsed = Math.max(0, t - this.last);
    this.last = t;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.ratePerSec);
  }
}

/** What to do with one incoming frame. */
export type RateVerdict = 'ok' | 'limited' | 'close';

export interface RateGuardOptions {
  /** 0 turns the guard off. */
  messagesPerSecond: number;
  burst: number;
  /** Close a connection over its rate this long (seconds). Default `LIMIT_DEFAULTS.close_after_seconds`. */
  closeAfterSeconds?: number;
  /** Close a connection refused this many times while over its rate. Default `LIMIT_DEFAULTS.close_after_refusals`. */
  closeAfterRefusals?: number;
}

/**
 * The rate policy of one connection. Its first refused frame puts it *over the limit*; it stays there until it
 * slows down enough that, after a frame is accepted, a spare token is left in the bucket. A connection over the
 * limit for `closeAfterSeconds`, or refused `closeAfterRefusals` times while over it, gets `'close'`: a flood
 * is cut off in a fraction of a second, a client slightly too fast after a few seconds, and a burst that then
 * backs off never. Once `'close'`, always `'close'`.
 */
export class RateGuard {
  private readonly bucket: TokenBucket | null;
  private readonly closeAfterMs: number;
  private readonly closeAfterRefusals: number;
  private overSince: number | null = null;
  private refusals = 0;
  private closed = false;

  constructor(opts: RateGuardOptions, private readonly now: () => number = Date.now) {
    this.bucket = opts.messagesPerSecond > 0 ? new TokenBucket(opts.messagesPerSecond, opts.burst, now) : null;
    this.closeAfterMs = (opts.closeAfterSeconds ?? LIMIT_DEFAULTS.close_after_seconds) * 1000;
    this.closeAfterRefusals = opts.closeAfterRefusals ?? LIMIT_DEFAULTS.close_after_refusals;
  }

  /** Accounts for one frame (or `n` units of work) and says what to do with it. */
  take(n = 1): RateVerdict {
    if (this.closed) return 'close';
    if (this.bucket === null) return 'ok';
    if (this.bucket.take(n)) {
      if (this.overSince !== null && this.bucket.available() >= 1) {
        this.overSince = null;
        this.refusals = 0;
      }
      return 'ok';
    }
    const t = this.now();
    this.overSince ??= t;
    this.refusals++;
    if (this.refusals >= this.closeAfterRefusals || t - this.overSince >= this.closeAfterMs) {
      this.closed = true;
      return 'close';
    }
    return 'limited';
  }
}

export interface AddressRatesOptions {
  /** Tokens per second per address (> 0). */
  ratePerSec: number;
  /** Bucket size per address (≥ 1). */
  burst: number;
  /** Most addresses tracked at once; past it the least recently seen one is forgotten. Default 10,000. */
  maxAddresses?: number;
}

/**
 * A token bucket per client address, for HTTP publishers (no connection to close, so no `'close'` verdict: an
 * address is refused exactly while its bucket is empty, and forgiven as it refills).
 *
 * Bounded: a bucket left alone for `burst / ratePerSec` seconds is full again, so it is dropped (a new one would
 * be the same). Buckets are kept in least-recently-used order, so those idle ones are always at the front and
 * each `take` drops them in amortised O(1). At most `maxAddresses` are kept; past that the least recently
 * seen address is forgotten (it starts again with a full bucket).
 */
export class AddressRates {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly idleMs: number;
  private readonly maxAddresses: number;

  constructor(
    private readonly opts: AddressRatesOptions,
    private readonly now: () => number = Date.now,
  ) {
    // Validates the rate and burst once, here, rather than on the first request.
    new TokenBucket(opts.ratePerSec, opts.burst, now);
    this.idleMs = (opts.burst / opts.ratePerSec) * 1000;
    this.maxAddresses = opts.maxAddresses ?? 10_000;
  }

  /** Takes `n` tokens from `ip`'s bucket if it has that many; false (nothing taken) otherwise. */
  take(ip: string, n = 1): boolean {
    const t = this.now();
    for (const [key, bucket] of this.buckets) {
      if (t - bucket.touchedAt < this.idleMs) break;
      this.buckets.delete(key);
    }
    const key = normalizeIp(ip);
    let bucket = this.buckets.get(key);
    if (bucket) this.buckets.delete(key);
    else {
      if (this.buckets.size >= this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = new TokenBucket(this.opts.ratePerSec, this.opts.burst, this.now);
    }
    // Re-inserted at the end: the map stays in least-recently-used order.
    this.buckets.set(key, bucket);
    return bucket.take(n);
  }

  /** Addresses tracked now. */
  get size(): number {
    return this.buckets.size;
  }
}

/** A dual-stack socket reports IPv4 clients as `::ffff:1.2.3.4`; count them with their plain IPv4 selves. */
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
