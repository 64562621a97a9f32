/**
 * @module auth/refresh
 * The rule for `{"_auth": "<token>"}` on an open socket: a fresh token may extend a session, never change whose
 * session it is. The socket's filters (e.g. an `open` that pinned `recipient` to the user) were computed for
 * the user who connected, so a different user, or a login on an anonymous socket, must reconnect instead.
 */
import { MhError } from '../errors.js';
import type { User } from '../types.js';

/** null when `next` may replace `current` on the same socket; otherwise MH_ERR_AUTH_FORBIDDEN saying why. */
export function checkRefresh(current: User | null, next: User): MhError | null {
  if (current === null) return new MhError('MH_ERR_AUTH_FORBIDDEN', ['this socket is anonymous; reconnect with the token to log in']);
  if (current.id !== next.id) return new MhError('MH_ERR_AUTH_FORBIDDEN', ['a refreshed token must be for the same user; reconnect to switch users']);
  return null;
}

/**
 * Milliseconds until a socket whose token expires at `expiresAt` must be closed with MH_ERR_AUTH_EXPIRED (4401),
 * or null when the token never expires. Never negative: an already expired token closes now.
 */
export function msUntilExpiry(expiresAt: number | null, now: number): number | null {
  return expiresAt === null ? null : Math.max(0, expiresAt - now);
}
