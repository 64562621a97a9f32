/**
 * @module auth/sessions
 * Anonymous sessions: a signed, HttpOnly, SameSite=Lax cookie that gives every browser a stable session id
 * without any server-side state. The cookie is `<id>.<issued-at>.<mac>`: the MAC (HMAC-SHA256 under the
 * session secret) makes ids unforgeable, the issue time lets the server enforce `max_age` even on a cookie a
 * client kept past its expiry. A cookie that fails any check is ignored and a new session is minted.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SESSION_DEFAULTS } from './config.js';
import { cookieValues } from './cookies.js';
import { MIN_SECRET_BYTES } from './keys.js';

export interface SessionOptions {
  /** At least 32 bytes. Rotating it ends every session. */
  secret: string;
  /** Cookie name; default `msghub_session`. */
  cookie?: string;
  /** Lifetime in seconds; default 30 days. Not sliding: a session ends `maxAgeSeconds` after it began. */
  maxAgeSeconds?: number;
  /** `auto` (default): `Secure` when the request itself came over TLS. Behind a TLS proxy, set true. */
  secure?: boolean | 'auto';
  /** Clock in ms, for tests. */
  now?: () => number;
}

export interface Sessions {
  /**
   * Returns the session id from a valid signed cookie, or mints a new one; `setCookie` is the Set-Cookie header
   * value to send when new (null otherwise). Tampered, expired or malformed cookies get a new session.
   */
  resolve(req: IncomingMessage): { id: string; setCookie: string | null };
}

const COOKIE_VALUE = /^([A-Za-z0-9_-]{22})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;
const CLOCK_SKEW_SECONDS = 60;
/** Separates these MACs from any other use of the same secret (e.g. someone reusing the JWT secret). */
const CONTEXT = 'msghub-session.v1:';

/** Creates the session resolver. Throws a RangeError for a secret shorter than 32 bytes. */
export function createSessions(opts: SessionOptions): Sessions {
  if (Buffer.byteLength(opts.secret, 'utf8') < MIN_SECRET_BYTES) {
    throw new RangeError(`session secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  const name = opts.cookie ?? SESSION_DEFAULTS.cookie;
  const maxAge = opts.maxAgeSeconds ?? SESSION_DEFAULTS.maxAgeSeconds;
  const secure = opts.secure ?? SESSION_DEFAULTS.secure;
  const now = opts.now ?? Date.now;
  const mac = (payload: string): string => createHmac('sha256', opts.secret).update(CONTEXT + payload).digest('base64url');

  const valid = (value: string, nowSeconds: number): string | null => {
    const m = COOKIE_VALUE.exec(value);
    if (!m) return null;
    const [, id, issued, sig] = m as unknown as [string, string, string, string];
    const expected = Buffer.from(mac(`${id}.${issued}`));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    // A little future is clock skew between processes sharing the secret; more than that is not ours.
    const age = nowSeconds - Number(issued);
    return age >= -CLOCK_SKEW_SECONDS && age < maxAge ? id : null;
  };

  return {
    resolve(req) {
      const nowSeconds = Math.floor(now() / 1000);
      for (const value of cookieValues(req, name)) {
        const id = valid(value, nowSeconds);
        if (id !== null) return { id, setCookie: null };
      }
      const id = randomBytes(16).toString('base64url');
      const payload = `${id}.${nowSeconds}`;
      const isSecure = secure === 'auto' ? (req.socket as { encrypted?: boolean } | null)?.encrypted === true : secure;
      const attrs = [`${name}=${payload}.${mac(payload)}`, 'Path=/', `Max-Age=${maxAge}`, 'HttpOnly', 'SameSite=Lax'];
      if (isSecure) attrs.push('Secure');
      return { id, setCookie: attrs.join('; ') };
    },
  };
}
