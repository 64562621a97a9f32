/**
 * @module auth/config
 * The app-level `auth:` section of gramex.yaml: how tokens are verified (`jwt`), where they are read from
 * (`token`) and the anonymous session cookie (`session`). Parsed once at load into a frozen `JwtAuthConfig`;
 * every mistake is reported with its YAML path, because a typo in an auth setting must never quietly turn a
 * control off.
 */
import type { ConfigIssue } from '../errors.js';
import { resolveKey, secretBytes, type VerifyKey } from './keys.js';
import { checkKeys, isMapping, joinPath, reporter, type Report } from './report.js';

/** Resolved `auth.jwt`. */
export interface JwtSettings {
  readonly key: VerifyKey;
  /** The allowlist passed to jose: the token's `alg` header must be one of these. Never contains `none`. */
  readonly algorithms: readonly string[];
  readonly issuer?: string | readonly string[];
  readonly audience?: string | readonly string[];
  /** Seconds of clock skew accepted on `exp` and `nbf`. */
  readonly clockToleranceSeconds: number;
  /** User attribute → claim name (a dotted path reaches into objects). Always has `id`. */
  readonly claims: Readonly<Record<string, string>>;
}

/** Where a request's token is looked for, in this order: header, cookie, query. */
export interface TokenSources {
  /** `Authorization: Bearer <token>`. */
  readonly header: boolean;
  /** Cookie name, or null. */
  readonly cookie: string | null;
  /** Query parameter name, or null. */
  readonly query: string | null;
}

/** Resolved `auth.session`; the options of `createSessions()`. */
export interface SessionSettings {
  readonly secret: string;
  readonly cookie: string;
  readonly maxAgeSeconds: number;
  readonly secure: boolean | 'auto';
}

/** The resolved app-level `auth:` section. */
export interface JwtAuthConfig {
  /** Null when the section has no `jwt:`: every request is anonymous. */
  readonly jwt: JwtSettings | null;
  readonly token: TokenSources;
  /** Null when the section has no `session:`. */
  readonly session: SessionSettings | null;
}

export const TOKEN_DEFAULTS: TokenSources = Object.freeze({ header: true, cookie: null, query: 'access_token' });
export const SESSION_DEFAULTS = Object.freeze({ cookie: 'msghub_session', maxAgeSeconds: 30 * 24 * 3600, secure: 'auto' as const });
export const CLOCK_TOLERANCE_DEFAULT = 5;

const SECTION_KEYS = ['jwt', 'token', 'session'];
const JWT_KEYS = ['secret', 'public_key', 'jwks', 'algorithms', 'issuer', 'audience', 'clock_tolerance', 'claims'];
const TOKEN_KEYS = ['header', 'cookie', 'query'];
const SESSION_KEYS = ['secret', 'cookie', 'max_age', 'secure'];
/** RFC 6265 cookie-name token characters. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses the app's `auth:` section. `ctx.path` is its YAML path (`auth`); `ctx.yamlPath` the folder key files
 * are relative to. An absent section gives `config: null` and no issues; any issue also gives `config: null`.
 */
export function parseAuthSection(
  section: unknown,
  ctx: { path: string; file: string; yamlPath: string },
): { config: JwtAuthConfig | null; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  if (section === undefined || section === null) return { config: null, issues };
  const report = reporter(ctx, issues);
  if (!isMapping(section)) {
    report(ctx.path, 'must be a mapping with jwt:, token: and/or session:');
    return { config: null, issues };
  }
  checkKeys(section, SECTION_KEYS, ctx.path, report);
  const jwt = section.jwt == null ? null : parseJwt(section.jwt, joinPath(ctx.path, 'jwt'), ctx.yamlPath, report);
  if (section.jwt == null && section.token != null) report(joinPath(ctx.path, 'token'), 'has no effect without auth.jwt');
  const token = section.token == null ? TOKEN_DEFAULTS : parseToken(section.token, joinPath(ctx.path, 'token'), report);
  const session = section.session == null ? null : parseSession(section.session, joinPath(ctx.path, 'session'), report);
  if (token.cookie !== null && token.cookie === session?.cookie) {
    report(joinPath(joinPath(ctx.path, 'token'), 'cookie'), `is also the session cookie's name`);
  }
  if (issues.length > 0) return { config: null, issues };
  return { config: Object.freeze({ jwt, token, session }), issues };
}

function parseJwt(jwt: unknown, at: string, yamlPath: string, report: Report): JwtSettings | null {
  if (!isMapping(jwt)) {
    report(at, 'must be a mapping with secret, public_key or jwks');
    return null;
  }
  checkKeys(jwt, JWT_KEYS, at, report);
  const resolved = resolveKey(jwt, at, yamlPath, report);
  const algorithms = parseAlgorithms(jwt.algorithms, resolved?.allowed ?? null, joinPath(at, 'algorithms'), report);
  const issuer = stringOrList(jwt.issuer, joinPath(at, 'issuer'), report);
  const audience = stringOrList(jwt.audience, joinPath(at, 'audience'), report);
  let clockToleranceSeconds = CLOCK_TOLERANCE_DEFAULT;
  if (jwt.clock_tolerance != null) {
    const t = jwt.clock_tolerance;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) report(joinPath(at, 'clock_tolerance'), 'must be a number of seconds ≥ 0');
    else clockToleranceSeconds = t;
  }
  const claims = parseClaims(jwt.claims, joinPath(at, 'claims'), report);
  if (!resolved) return null;
  return Object.freeze({
    key: resolved.key,
    algorithms: Object.freeze(algorithms ?? [...resolved.defaults]),
    ...(issuer !== undefined && { issuer }),
    ...(audience !== undefined && { audience }),
    clockToleranceSeconds,
    claims,
  });
}

/** The explicit allowlist, checked against what the key can verify; undefined means the key's defaults. */
function parseAlgorithms(value: unknown, allowed: readonly string[] | null, at: string, report: Report): string[] | undefined {
  if (value == null) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((a) => typeof a === 'string')) {
    report(at, 'must be an algorithm name or a non-empty list of them (e.g. [RS256])');
    return undefined;
  }
  for (const alg of list as string[]) {
    if (alg.toLowerCase() === 'none') report(at, '"none" is never accepted: unsigned tokens prove nothing');
    else if (allowed && !allowed.includes(alg)) report(at, `"${alg}" cannot be verified with this key; expected one of ${allowed.join(', ')}`);
  }
  return list as string[];
}

function stringOrList(value: unknown, at: string, report: Report): string | readonly string[] | undefined {
  if (value == null) return undefined;
  if (typeof value === 'string' && value !== '') return value;
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && v !== '')) return Object.freeze([...(value as string[])]);
  report(at, 'must be a non-empty string or a non-empty list of strings');
  return undefined;
}

function parseClaims(value: unknown, at: string, report: Report): Readonly<Record<string, string>> {
  const claims: Record<string, string> = { id: 'sub' };
  if (value == null) return Object.freeze(claims);
  if (!isMapping(value)) {
    report(at, 'must be a mapping of user attribute → claim name, e.g. {id: email}');
    return Object.freeze(claims);
  }
  for (const [attr, claim] of Object.entries(value)) {
    if (typeof claim !== 'string' || claim === '') report(joinPath(at, attr), 'must be a claim name');
    else if (attr === '__proto__') report(joinPath(at, attr), 'is not a valid attribute name');
    else claims[attr] = claim;
  }
  return Object.freeze(claims);
}

/** `true`/`false`, or a name; `false` turns the source off. */
function nameOrFalse(value: unknown, fallback: string | null, at: string, report: Report, what: string): string | null {
  if (value === undefined) return fallback;
  if (value === false || value === null) return null;
  if (typeof value === 'string' && COOKIE_NAME.test(value)) return value;
  report(at, `must be a ${what} name or false`);
  return fallback;
}

function parseToken(value: unknown, at: string, report: Report): TokenSources {
  if (!isMapping(value)) {
    report(at, 'must be a mapping with header, cookie and/or query');
    return TOKEN_DEFAULTS;
  }
  checkKeys(value, TOKEN_KEYS, at, report);
  let header = TOKEN_DEFAULTS.header;
  if (value.header !== undefined) {
    if (typeof value.header !== 'boolean') report(joinPath(at, 'header'), 'must be true or false');
    else header = value.header;
  }
  const cookie = nameOrFalse(value.cookie, TOKEN_DEFAULTS.cookie, joinPath(at, 'cookie'), report, 'cookie');
  const query = nameOrFalse(value.query, TOKEN_DEFAULTS.query, joinPath(at, 'query'), report, 'query parameter');
  if (!header && cookie === null && query === null) report(at, 'turns off every token source; enable header, cookie or query');
  return Object.freeze({ header, cookie, query });
}

function parseSession(value: unknown, at: string, report: Report): SessionSettings | null {
  if (!isMapping(value)) {
    report(at, 'must be a mapping with at least secret:');
    return null;
  }
  checkKeys(value, SESSION_KEYS, at, report);
  const secretOk = secretBytes(value.secret, joinPath(at, 'secret'), report) !== null;
  let cookie: string = SESSION_DEFAULTS.cookie;
  if (value.cookie !== undefined) {
    if (typeof value.cookie !== 'string' || !COOKIE_NAME.test(value.cookie)) report(joinPath(at, 'cookie'), 'must be a cookie name');
    else cookie = value.cookie;
  }
  let maxAgeSeconds: number = SESSION_DEFAULTS.maxAgeSeconds;
  if (value.max_age !== undefined) {
    const m = value.max_age;
    if (typeof m !== 'number' || !Number.isSafeInteger(m) || m <= 0) report(joinPath(at, 'max_age'), 'must be a whole number of seconds > 0');
    else maxAgeSeconds = m;
  }
  let secure: boolean | 'auto' = SESSION_DEFAULTS.secure;
  if (value.secure !== undefined) {
    if (value.secure !== true && value.secure !== false && value.secure !== 'auto') report(joinPath(at, 'secure'), 'must be true, false or auto');
    else secure = value.secure;
  }
  if (!secretOk) return null;
  return Object.freeze({ secret: value.secret as string, cookie, maxAgeSeconds, secure });
}
