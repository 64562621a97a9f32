/**
 * @module auth
 * Who the user is and what they may do: JWT verification (app-level `auth:`), anonymous session cookies,
 * handler permissions (`auth:` kwarg), allowed origins (`origins:`) and abuse limits (`limits:`).
 * See docs/security.md.
 */

export { parseAuthSection, TOKEN_DEFAULTS, SESSION_DEFAULTS, CLOCK_TOLERANCE_DEFAULT, type JwtAuthConfig, type JwtSettings, type TokenSources, type SessionSettings } from './config.js';
export { MIN_SECRET_BYTES } from './keys.js';
export { createAuthenticator, MAX_TOKEN_LENGTH, type Authenticator, type Authenticated } from './jwt.js';
export { extractToken, type TokenSource } from './token.js';
export { checkRefresh, msUntilExpiry } from './refresh.js';
export { createSessions, type Sessions, type SessionOptions } from './sessions.js';
export { compileAccessRule, checkAccess, CONDITION_NAMES, type AccessRule, type AccessRequest } from './access.js';
export { compileOrigins, type OriginCheck } from './origins.js';
export { TokenBucket, RateGuard, type RateGuardOptions, type RateVerdict } from './rate.js';
export { ConnectionCounter } from './connections.js';
export { LIMIT_DEFAULTS, parseLimits, type Limits } from './limits.js';
