/**
 * @module auth/jwt
 * Standalone JWT authentication: find the token of a request, verify it with jose against the configured key
 * and algorithm allowlist, and map its claims to a `User`. No token means anonymous; a token that is present
 * but invalid is refused with a reason, because silently treating a broken login as anonymous hides the bug
 * from the person who has to fix it.
 */
import type { IncomingMessage } from 'node:http';
import { decodeProtectedHeader, jwtVerify, type JWTVerifyOptions, type JWSAlgorithm, type JWTVerifyGetKey } from 'jose';
import { MhError } from '../errors.js';
import type { User } from '../types.js';
import { userFromClaims } from './claims.js';
import type { JwtAuthConfig, JwtSettings } from './config.js';
import { extractToken } from './token.js';

/** Tokens longer than this are refused before any parsing (real ones are well under 4 KiB). */
export const MAX_TOKEN_LENGTH = 8192;

/** A verified identity and when it stops being valid (ms since the epoch; null: the token has no `exp`). */
export interface Authenticated {
  user: User;
  expiresAt: number | null;
}

/** Verifies the tokens of requests and of `{"_auth": token}` refresh frames. */
export interface Authenticator {
  /**
   * Extracts and verifies the token of a request. null = anonymous (no token, or no `auth.jwt`). Throws an
   * MhError MH_ERR_AUTH_REQUIRED, whose message says why (expired, bad signature, algorithm not allowed…),
   * for a token that is present but invalid.
   */
  authenticate(req: IncomingMessage): Promise<Authenticated | null>;
  /** Verifies a refreshed token sent on an open socket; same errors. */
  verify(token: string): Promise<Authenticated>;
}

/**
 * Creates the authenticator of an `auth:` section. `now` (ms) is the clock `exp` and `nbf` are checked against.
 */
export function createAuthenticator(config: JwtAuthConfig, now: () => number = Date.now): Authenticator {
  const { jwt, token: sources } = config;
  const verify = async (token: string): Promise<Authenticated> => {
    if (jwt === null) throw refused('tokens are not accepted here (no auth.jwt configured)');
    return verifyToken(token, jwt, now);
  };
  return {
    async authenticate(req) {
      if (jwt === null) return null;
      const found = extractToken(req, sources);
      return found === null ? null : verify(found.token);
    },
    verify,
  };
}

async function verifyToken(token: string, jwt: JwtSettings, now: () => number): Promise<Authenticated> {
  if (token === '') throw refused('empty token');
  if (token.length > MAX_TOKEN_LENGTH) throw refused(`token longer than ${MAX_TOKEN_LENGTH} characters`);
  const options: JWTVerifyOptions = {
    algorithms: [...jwt.algorithms] as JWSAlgorithm[],
    clockTolerance: jwt.clockToleranceSeconds,
    currentDate: new Date(now()),
    ...(jwt.issuer !== undefined && { issuer: jwt.issuer as string | string[] }),
    ...(jwt.audience !== undefined && { audience: jwt.audience as string | string[] }),
  };
  let payload;
  try {
    // The key union confuses jwtVerify's overloads; each member is a valid key input on its own.
    ({ payload } = await jwtVerify(token, jwt.key as JWTVerifyGetKey, options));
  } catch (err) {
    throw refused(reason(err, token), err);
  }
  const user = userFromClaims(payload, jwt.claims);
  return { user, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null };
}

/** A client-safe sentence for a jose failure: enough to fix a client, nothing about our keys. */
function reason(err: unknown, token: string): string {
  const code = (err as { code?: string }).code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (err as { claim?: string }).claim;
      if (claim === 'nbf') return 'token not yet valid';
      if (claim === 'iss') return 'token issuer not accepted';
      if (claim === 'aud') return 'token audience not accepted';
      return `token claim "${claim ?? '?'}" is invalid`;
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return `token algorithm ${JSON.stringify(algOf(token))} is not accepted`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'bad token signature';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no known key matches the token';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'malformed token';
    default:
      return 'invalid token';
  }
}

function algOf(token: string): string {
  try {
    return String(decodeProtectedHeader(token).alg);
  } catch {
    return '?';
  }
}

function refused(why: string, cause?: unknown): MhError {
  return new MhError('MH_ERR_AUTH_REQUIRED', [], { message: `Authentication required: ${why}`, cause });
}
