/**
 * @module auth/keys
 * The verification key of `auth.jwt`: an HMAC `secret`, a `public_key` PEM, or a `jwks` key set, loaded once at
 * config time. Each kind of key fixes which JWT algorithms can ever be valid with it; `algorithms:` may only
 * narrow that set. This is what defeats algorithm confusion: an RS256 token is never checked against an HMAC
 * secret, nor an HS256 token against a public key used as an HMAC secret.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';
import { isMapping, joinPath, type Report } from './report.js';

/** Shortest HMAC secret accepted: 32 bytes, the output size of SHA-256 (RFC 7518 §3.2 requires at least that). */
export const MIN_SECRET_BYTES = 32;

/** What jose verifies with: secret bytes, a public key, or a key-set lookup by the token's `kid`/`alg`. */
export type VerifyKey = Uint8Array | KeyObject | JWTVerifyGetKey;

export interface ResolvedKey {
  readonly key: VerifyKey;
  /** Every algorithm this key can verify. */
  readonly allowed: readonly string[];
  /** Algorithms used when `algorithms:` is not given. */
  readonly defaults: readonly string[];
}

const HMAC = ['HS256', 'HS384', 'HS512'];
const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const PSS = ['PS256', 'PS384', 'PS512'];
const EDDSA = ['EdDSA', 'Ed25519'];
/** Node's curve names and JWK `crv` names → the one ECDSA algorithm defined for that curve. */
const CURVES: Readonly<Record<string, string>> = {
  prime256v1: 'ES256', 'P-256': 'ES256',
  secp384r1: 'ES384', 'P-384': 'ES384',
  secp521r1: 'ES512', 'P-521': 'ES512',
};

/** Algorithms a public key can verify, and the default among them; null for a key type JWT cannot use. */
function familyOf(key: KeyObject): { allowed: string[]; defaults: string[] } | null {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { allowed: RSA, defaults: ['RS256'] };
    case 'rsa-pss':
      return { allowed: PSS, defaults: ['PS256'] };
    case 'ec': {
      const alg = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
      return alg ? { allowed: [alg], defaults: [alg] } : null;
    }
    case 'ed25519':
      return { allowed: EDDSA, defaults: EDDSA };
    default:
      return null;
  }
}

/**
 * Resolves the one key source of a `jwt:` mapping. Reports (and returns null) when none or several are given,
 * a file cannot be read, or the key is unusable. `yamlPath` is the folder relative file paths start from.
 */
export function resolveKey(jwt: Record<string, unknown>, base: string, yamlPath: string, report: Report): ResolvedKey | null {
  const given = (['secret', 'public_key', 'jwks'] as const).filter((k) => jwt[k] !== undefined && jwt[k] !== null);
  if (given.length !== 1) {
    report(base, given.length === 0 ? 'needs one of secret, public_key or jwks' : `give only one of ${given.join(', ')}`);
    return null;
  }
  const kind = given[0]!;
  const at = joinPath(base, kind);
  const value = jwt[kind];
  if (kind === 'secret') return secretKey(value, at, report);
  if (kind === 'public_key') return publicKey(value, at, yamlPath, report);
  return keySet(value, at, yamlPath, report);
}

/** Checks a shared secret (also used for session cookies) and returns its bytes, or null after a report. */
export function secretBytes(value: unknown, at: string, report: Report): Uint8Array | null {
  if (typeof value !== 'string' || value === '') {
    report(at, 'must be a non-empty string (use an environment variable: secret: $MSGHUB_SECRET)');
    return null;
  }
  const bytes = new TextEncoder().encode(value);
  if (bytes.length < MIN_SECRET_BYTES) {
    report(at, `is ${bytes.length} bytes; use at least ${MIN_SECRET_BYTES} random bytes (e.g. \`openssl rand -base64 48\`)`);
    return null;
  }
  return bytes;
}

function secretKey(value: unknown, at: string, report: Report): ResolvedKey | null {
  const key = secretBytes(value, at, report);
  return key ? { key, allowed: HMAC, defaults: ['HS256'] } : null;
}

/** Reads `value` as a file relative to `yamlPath`, unless it is inline content recognised by `inline`. */
function readSource(value: string, inline: boolean, at: string, yamlPath: string, report: Report): string | null {
  if (inline) return value;
  const file = path.resolve(yamlPath, value);
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    report(at, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return null;
  }
}

function publicKey(value: unknown, at: string, yamlPath: string, report: Report): ResolvedKey | null {
  if (typeof value !== 'string' || value === '') {
    report(at, 'must be the path of a PEM file (SPKI public key or X.509 certificate), or the PEM text itself');
    return null;
  }
  const pem = readSource(value, value.trimStart().startsWith('-----BEGIN'), at, yamlPath, report);
  if (pem === null) return null;
  // createPublicKey would happily derive a public key from a private one; a private key in the config is a leak.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    report(at, 'is a private key; give the public key (openssl pkey -pubout) and keep the private key with the issuer');
    return null;
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    report(at, `is not a PEM public key: ${(err as Error).message}`);
    return null;
  }
  const family = familyOf(key);
  if (!family) {
    report(at, `has key type ${key.asymmetricKeyType ?? 'unknown'}; use an RSA, EC (P-256/384/521) or Ed25519 key`);
    return null;
  }
  return { key, ...family };
}

function keySet(value: unknown, at: string, yamlPath: string, report: Report): ResolvedKey | null {
  let jwks: unknown = value;
  if (typeof value === 'string' && value !== '') {
    const text = readSource(value, false, at, yamlPath, report);
    if (text === null) return null;
    try {
      jwks = JSON.parse(text);
    } catch (err) {
      report(at, `is not valid JSON: ${(err as Error).message}`);
      return null;
    }
  }
  if (!isMapping(jwks) || !Array.isArray(jwks.keys) || jwks.keys.length === 0) {
    report(at, 'must be the path of a JWKS file: {"keys": [ …at least one public JWK… ]}');
    return null;
  }
  const allowed = new Set<string>();
  const defaults = new Set<string>();
  let ok = true;
  jwks.keys.forEach((jwk: unknown, i: number) => {
    const family = jwkFamily(jwk, joinPath(joinPath(at, 'keys'), i), report);
    if (!family) ok = false;
    else {
      family.allowed.forEach((a) => allowed.add(a));
      family.defaults.forEach((a) => defaults.add(a));
    }
  });
  if (!ok) return null;
  return { key: createLocalJWKSet(jwks as unknown as JSONWebKeySet), allowed: [...allowed], defaults: [...defaults] };
}

function jwkFamily(jwk: unknown, at: string, report: Report): { allowed: string[]; defaults: string[] } | null {
  if (!isMapping(jwk)) {
    report(at, 'must be a JWK object');
    return null;
  }
  if (jwk.kty === 'oct') {
    report(at, 'is a symmetric key; put shared secrets in `secret:`, not in a key set');
    return null;
  }
  if (jwk.d !== undefined) {
    report(at, 'holds private key material ("d"); publish only public keys');
    return null;
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JWK & { kty: string }, format: 'jwk' });
  } catch (err) {
    report(at, `is not a usable public JWK: ${(err as Error).message}`);
    return null;
  }
  const family = familyOf(key);
  if (!family) {
    report(at, `has key type ${key.asymmetricKeyType ?? 'unknown'}; use RSA, EC (P-256/384/521) or Ed25519`);
    return null;
  }
  // A key that names its algorithm is used with that algorithm only (RFC 7517 §4.4).
  if (typeof jwk.alg === 'string') {
    if (!family.allowed.includes(jwk.alg)) {
      report(joinPath(at, 'alg'), `"${jwk.alg}" cannot be used with this key; expected one of ${family.allowed.join(', ')}`);
      return null;
    }
    return { allowed: [jwk.alg], defaults: [jwk.alg] };
  }
  return family;
}
