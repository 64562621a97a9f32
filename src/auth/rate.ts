/**
 * @module auth/rate
 * Per-connection message rate: a token bucket, and the policy on top of it that turns "too fast" into either a
 * refused frame (`_error` MH_ERR_RATE_LIMITED, the socket stays open) or, for a client that keeps hammering
 * regardless, a close with 4429. Time comes from an injectable clock so the policy is tested without sleeping.
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
