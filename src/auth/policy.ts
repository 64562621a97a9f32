/**
 * @module auth/policy
 * How much a handler's clients may do once admitted (see gate.ts for who gets in): per-connection message
 * rates, per-address rates for HTTP publishers, connection caps, and token expiry with in-band refresh.
 */
import type { Subscriber } from '../core/subscriber.js';
import { MhError } from '../errors.js';
import { ConnectionCounter, RateGuard, checkRefresh, msUntilExpiry, type Authenticator, type Limits } from './index.js';
import { AddressRates } from './rate.js';

export class AccessPolicy {
  /** Open connections per handler and per client address (kwargs `limits`). */
  readonly connections: ConnectionCounter;
  /** Verifies refreshed tokens sent as `{"_auth": token}` (set by the service when JWT auth is configured). */
  verifier: Authenticator | null = null;
  /** HTTP publishers have no connection: their rate is kept per client address (made on first use). */
  private httpRates: AddressRates | null = null;

  constructor(readonly limits: Limits) {
    this.connections = new ConnectionCounter(limits.max_connections, limits.max_connections_per_ip);
  }

  /** A per-connection rate guard, or null when `limits.messages_per_second` is 0 (unlimited). */
  rateGuard(): RateGuard | null {
    const l = this.limits;
    if (l.messages_per_second === 0) return null;
    return new RateGuard({ messagesPerSecond: l.messages_per_second, burst: l.burst, closeAfterSeconds: l.close_after_seconds, closeAfterRefusals: l.close_after_refusals });
  }

  /**
   * HTTP publish: the same rate and burst, kept per client address. Throws MH_ERR_RATE_LIMITED while the
   * address's bucket is empty; it is forgiven as the bucket refills (no ban: there is no connection to close).
   */
  checkHttpRate(ip: string, messages: number): void {
    const l = this.limits;
    if (l.messages_per_second === 0) return;
    if (messages > l.burst) throw new MhError('MH_ERR_RATE_LIMITED', [`one request may carry at most ${l.burst} messages (limits.burst)`]);
    this.httpRates ??= new AddressRates({ ratePerSec: l.messages_per_second, burst: l.burst });
    if (!this.httpRates.take(ip, messages)) throw new MhError('MH_ERR_RATE_LIMITED', [`at most ${l.messages_per_second} messages/s`]);
  }

  /** Closes the connection with 4401 when its token expires, unless `_auth` brought a fresher one. */
  expireAt(conn: Subscriber, expiresAt: number | null): void {
    if (conn.expiry) clearTimeout(conn.expiry);
    conn.expiry = null;
    const ms = msUntilExpiry(expiresAt, Date.now());
    if (ms === null) return;
    conn.expiry = setTimeout(() => {
      const e = new MhError('MH_ERR_AUTH_EXPIRED');
      conn.closeWith(e);
    }, ms);
    conn.expiry.unref();
  }

  /** `{"_auth": token}`: a refreshed token for the same user keeps the connection open past the old expiry. */
  async refresh(conn: Subscriber, token: unknown, ref: unknown): Promise<void> {
    try {
      if (!this.verifier) throw new MhError('MH_ERR_CONTROL_REFUSED', ['a token refresh needs JWT auth (the auth: section)']);
      if (typeof token !== 'string' || token === '') throw new MhError('MH_ERR_CONTROL_REFUSED', ['_auth must be a token string']);
      const next = await this.verifier.verify(token);
      // The connection may have closed while the token was verified (a JWKS fetch): arm nothing for it.
      if (!conn.sink.isOpen) return;
      const mismatch = checkRefresh(conn.scope.current_user, next.user);
      if (mismatch) throw mismatch;
      this.expireAt(conn, next.expiresAt);
      conn.sink.sendText(conn.codec.authOk(ref, next.expiresAt), 0);
    } catch (err) {
      conn.fail(err, ref);
    }
  }
}
