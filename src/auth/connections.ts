/**
 * @module auth/connections
 * Caps on open connections of one handler: in total, and per client address, so one machine cannot exhaust
 * the sockets everyone else needs. The caller acquires at the handshake and releases exactly once on close.
 */
import { MhError } from '../errors.js';

/** Counts open connections per address; a limit of 0 means unlimited. */
export class ConnectionCounter {
  private readonly perIp = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly maxPerHandler: number,
    private readonly maxPerIp: number,
  ) {}

  /** Counts one more connection from `ip`, or returns MH_ERR_TOO_MANY_CONNECTIONS (429) and counts nothing. */
  acquire(ip: string): MhError | null {
    const key = normalizeIp(ip);
    const mine = this.perIp.get(key) ?? 0;
    if (this.maxPerHandler > 0 && this.total >= this.maxPerHandler) {
      return new MhError('MH_ERR_TOO_MANY_CONNECTIONS', [`this endpoint allows ${this.maxPerHandler} at a time`]);
    }
    if (this.maxPerIp > 0 && mine >= this.maxPerIp) {
      return new MhError('MH_ERR_TOO_MANY_CONNECTIONS', [`your address has ${mine} open; the limit is ${this.maxPerIp}`]);
    }
    this.perIp.set(key, mine + 1);
    this.total++;
    return null;
  }

  /** Forgets one connection from `ip`. Releasing an address with none open does nothing. */
  release(ip: string): void {
    const key = normalizeIp(ip);
    const mine = this.perIp.get(key);
    if (mine === undefined) return;
    if (mine <= 1) this.perIp.delete(key);
    else this.perIp.set(key, mine - 1);
    this.total--;
  }

  /** Open connections in total, or from `ip`. */
  count(ip?: string): number {
    return ip === undefined ? this.total : (this.perIp.get(normalizeIp(ip)) ?? 0);
  }
}

/** A dual-stack socket reports IPv4 clients as `::ffff:1.2.3.4`; count them with their plain IPv4 selves. */
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
