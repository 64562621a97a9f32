/**
 * @module auth/gate
 * Who gets in, decided once per WebSocket handshake or HTTP request, before anything else runs, in this order:
 *
 *   origin (403) → identity: embedder's authenticate() or the JWT (401 for a bad token) → session cookie →
 *   the client address (`trust_proxy:`) → the handler's `auth:` rule (401 anonymous / 403 membership or condition)
 *
 * The per-handler connection caps are applied by the transports, which know when a connection ends, to the
 * address decided here (`ConnectionInfo.ip`).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConnectionInfo, MessageHandler } from '../core/handler.js';
import { MhError, toMhError } from '../errors.js';
import { msghubCodec } from '../protocol/msghub.js';
import type { Args, User } from '../types.js';
import { checkAccess, type Authenticator, type Sessions } from './index.js';
import { forwardedIp, socketIp, type TrustProxy } from './proxy.js';

export interface GateOptions {
  /** The embedding app's hook; when it returns a user, the JWT is not consulted. */
  authenticate?: (req: IncomingMessage) => User | null | Promise<User | null>;
  authenticator: Authenticator | null;
  sessions: Sessions | null;
  /** The app's `trust_proxy:` (auth/proxy.ts); null or absent: the TCP peer is the client. */
  trustProxy?: TrustProxy | null;
}

export interface Admitted {
  info: ConnectionInfo;
  /** A Set-Cookie header for a new anonymous session, to send with the response. */
  setCookie: string | null;
}

/**
 * The client address, without the IPv4-mapped IPv6 prefix: the TCP peer's, or with `trust` the one the trusted
 * proxies name in `X-Forwarded-For` (auth/proxy.ts). Decided once per handshake or request; every per-address
 * control (connection caps, HTTP rates and read caps), `handler.request.ip` and conditions see this one value.
 */
export function clientIp(req: IncomingMessage, trust: TrustProxy | null = null): string {
  return trust ? forwardedIp(req, trust) : socketIp(req);
}

/** Lets a request in, or throws the MhError (with its HTTP status) that refuses it. */
export async function admit(handler: MessageHandler, req: IncomingMessage, args: Args, options: GateOptions): Promise<Admitted> {
  // A cross-site page must not open a socket or post with the victim's cookies.
  if (!handler.config.origins(req)) {
    // The body of the 403 says which rule refused (a browser shows only "Unexpected response code: 403"; the
    // Network tab shows this).
    throw new MhError('MH_ERR_AUTH_FORBIDDEN', [
      `origin ${req.headers.origin} is not allowed by url.${handler.name}.kwargs.origins ` +
        `(${handler.config.originsSource ?? `absent: only pages served by this host, ${req.headers.host ?? '?'}`}); list the page's origin there (docs/security.md)`,
    ]);
  }
  let user: User | null = null;
  let expiresAt: number | null = null;
  if (options.authenticate) {
    user = await options.authenticate(req);
    if (user !== null && (typeof user !== 'object' || typeof user.id !== 'string')) {
      throw new Error('authenticate() must return null or an object with a string id');
    }
  }
  if (user === null && options.authenticator) {
    const found = await options.authenticator.authenticate(req);
    if (found) ({ user, expiresAt } = found);
  }
  // The id is written into every row the user posts: it must be text SQLite, PostgreSQL and MySQL store as sent.
  if (user !== null && !user.id.isWellFormed()) throw new MhError('MH_ERR_AUTH_FORBIDDEN', ['the user id is not well-formed text']);
  const session = options.sessions?.resolve(req) ?? null;
  // Null-prototype: header names are the client's (expressions read them as `handler.request.headers`).
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  const ip = clientIp(req, options.trustProxy ?? null);
  const denied = checkAccess(handler.config.access, user, { ip, headers });
  if (denied) throw denied;
  return { info: { args, user, sessionId: session?.id ?? null, ip, headers, expiresAt }, setCookie: session?.setCookie ?? null };
}

/** Refuses a WebSocket handshake with an HTTP status and a JSON `_error` body (browsers see the status only). */
export function refuseUpgrade(socket: Duplex, err: unknown): void {
  const e = toMhError(err);
  const body = msghubCodec.error(e);
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests', 503: 'Service Unavailable' }[e.status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${e.status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

