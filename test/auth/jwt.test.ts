import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsecuredJWT } from 'jose';
import { createAuthenticator, parseAuthSection, type Authenticator, type JwtAuthConfig } from '../../src/auth/index.js';
import { MhError } from '../../src/errors.js';
import { bytes, folderWith, keyPair, NOW, nowS, removeFolders, SECRET, sign, type KeyPair } from './keys.js';
import { startRequests, type RequestFactory } from './support.js';

let requests: RequestFactory;
let rsa: KeyPair;
let ec: KeyPair;

beforeAll(async () => {
  requests = await startRequests();
  [rsa, ec] = await Promise.all([keyPair('RS256'), keyPair('ES256')]);
});
afterAll(async () => {
  await requests.close();
  removeFolders();
});

function configOf(section: Record<string, unknown>, yamlPath = '/app'): JwtAuthConfig {
  const { config, issues } = parseAuthSection(section, { path: 'auth', file: '/app/gramex.yaml', yamlPath });
  expect(issues).toEqual([]);
  return config!;
}

const hs = (now = () => NOW): Authenticator => createAuthenticator(configOf({ jwt: { secret: SECRET } }), now);
const hsToken = (payload: Record<string, unknown> = {}) => sign(payload, 'HS256', bytes(SECRET));

/** The MhError a verification rejects with. */
async function refusal(p: Promise<unknown>): Promise<MhError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MhError);
  return err as MhError;
}

describe('createAuthenticator', () => {
  describe('with an HMAC secret', () => {
    it('verifies a valid token and returns the user and its expiry', async () => {
      const result = await hs().verify(await hsToken({ name: 'Alice', roles: ['admin'] }));
      expect(result).toEqual({ user: { id: 'alice', sub: 'alice', name: 'Alice', roles: ['admin'], iat: nowS, exp: nowS + 3600 }, expiresAt: NOW + 3600_000 });
      expect(Object.isFrozen(result.user)).toBe(true);
    });

    it('returns a null expiry for a token without exp', async () => {
      const token = await sign({ exp: undefined }, 'HS256', bytes(SECRET));
      expect((await hs().verify(token)).expiresAt).toBeNull();
    });

    it('refuses an unsigned token (alg none)', async () => {
      const token = new UnsecuredJWT({ sub: 'admin' }).setIssuedAt(nowS).encode();
      const err = await refusal(hs().verify(token));
      expect(err).toMatchObject({ code: 'MH_ERR_AUTH_REQUIRED', status: 401, closeCode: 4401 });
      expect(err.message).toBe('Authentication required: token algorithm "none" is not accepted');
    });

    it('refuses a token signed with another secret', async () => {
      const token = await sign({}, 'HS256', bytes('another-secret-that-is-long-enough-987654'));
      expect((await refusal(hs().verify(token))).message).toBe('Authentication required: bad token signature');
    });

    it('refuses a token whose payload was changed after signing', async () => {
      const [header, , signature] = (await hsToken()).split('.');
      const forged = Buffer.from(JSON.stringify({ sub: 'admin', iat: nowS, exp: nowS + 3600 })).toString('base64url');
      expect((await refusal(hs().verify(`${header}.${forged}.${signature}`))).message).toContain('bad token signature');
    });

    it('refuses an RS256 token (algorithm confusion)', async () => {
      const token = await sign({}, 'RS256', rsa.privateKey);
      expect((await refusal(hs().verify(token))).message).toBe('Authentication required: token algorithm "RS256" is not accepted');
    });

    it('refuses an HS512 token unless HS512 is allowed', async () => {
      const token = await sign({}, 'HS512', bytes(SECRET));
      expect((await refusal(hs().verify(token))).message).toContain('"HS512" is not accepted');
      const both = createAuthenticator(configOf({ jwt: { secret: SECRET, algorithms: ['HS256', 'HS512'] } }), () => NOW);
      expect((await both.verify(token)).user.id).toBe('alice');
    });

    it('refuses malformed, empty and oversized tokens', async () => {
      expect((await refusal(hs().verify('not.a.jwt'))).message).toContain('malformed token');
      expect((await refusal(hs().verify(''))).message).toContain('empty token');
      expect((await refusal(hs().verify('a'.repeat(9000)))).message).toContain('token longer than 8192');
    });
  });

  describe('with the clock', () => {
    it('refuses an expired token, beyond the clock tolerance', async () => {
      const token = await hsToken({ iat: nowS - 7200, exp: nowS - 6 });
      expect((await refusal(hs().verify(token))).message).toBe('Authentication required: token expired');
      expect((await hs(() => NOW - 2000).verify(token)).user.id).toBe('alice');
    });

    it('accepts a token expired less than the tolerance ago', async () => {
      const token = await hsToken({ exp: nowS - 4 });
      expect((await hs().verify(token)).user.id).toBe('alice');
    });

    it('refuses a token that is not yet valid', async () => {
      const token = await hsToken({ nbf: nowS + 60 });
      expect((await refusal(hs().verify(token))).message).toBe('Authentication required: token not yet valid');
      expect((await hs(() => NOW + 60_000).verify(token)).user.id).toBe('alice');
    });

    it('honours a configured clock tolerance', async () => {
      const token = await hsToken({ exp: nowS - 30 });
      const lenient = createAuthenticator(configOf({ jwt: { secret: SECRET, clock_tolerance: 60 } }), () => NOW);
      expect((await lenient.verify(token)).user.id).toBe('alice');
    });
  });

  describe('issuer and audience', () => {
    const strict = () => createAuthenticator(configOf({ jwt: { secret: SECRET, issuer: 'https://id.example.com', audience: ['chat', 'web'] } }), () => NOW);

    it('accepts a token from the issuer for one of the audiences', async () => {
      expect((await strict().verify(await hsToken({ iss: 'https://id.example.com', aud: 'web' }))).user.id).toBe('alice');
    });

    it('refuses another issuer, another audience, or a token that names neither', async () => {
      expect((await refusal(strict().verify(await hsToken({ iss: 'https://evil.example', aud: 'web' })))).message).toContain('issuer not accepted');
      expect((await refusal(strict().verify(await hsToken({ iss: 'https://id.example.com', aud: 'admin' })))).message).toContain('audience not accepted');
      expect((await refusal(strict().verify(await hsToken()))).message).toContain('not accepted');
    });
  });

  describe('claims', () => {
    it('maps claims to user attributes, dotted paths included', async () => {
      const auth = createAuthenticator(configOf({ jwt: { secret: SECRET, claims: { id: 'email', roles: 'realm_access.roles' } } }), () => NOW);
      const { user } = await auth.verify(await hsToken({ email: 'a@example.com', realm_access: { roles: ['ops'] } }));
      expect(user).toMatchObject({ id: 'a@example.com', sub: 'alice', roles: ['ops'] });
    });

    it('turns a numeric id into a string', async () => {
      const auth = createAuthenticator(configOf({ jwt: { secret: SECRET, claims: { id: 'uid' } } }), () => NOW);
      expect((await auth.verify(await hsToken({ uid: 42 }))).user.id).toBe('42');
    });

    it('refuses a token without the id claim', async () => {
      const auth = createAuthenticator(configOf({ jwt: { secret: SECRET, claims: { id: 'email' } } }), () => NOW);
      expect((await refusal(auth.verify(await hsToken()))).message).toBe('Authentication required: token has no usable "email" claim for the user id');
    });

    it('never copies a __proto__ claim onto the user', async () => {
      const { user } = await hs().verify(await hsToken(JSON.parse('{"__proto__": {"admin": true}}') as Record<string, unknown>));
      expect(Object.getPrototypeOf(user)).toBe(Object.prototype);
      expect((user as Record<string, unknown>).admin).toBeUndefined();
    });
  });

  describe('with public keys', () => {
    it('verifies RS256 with a PEM file and refuses HS256 signed with that PEM as a secret (key confusion)', async () => {
      const auth = createAuthenticator(configOf({ jwt: { public_key: 'rsa.pem' } }, folderWith({ 'rsa.pem': rsa.publicPem })), () => NOW);
      expect((await auth.verify(await sign({}, 'RS256', rsa.privateKey))).user.id).toBe('alice');
      const confused = await sign({ sub: 'admin' }, 'HS256', bytes(rsa.publicPem));
      expect((await refusal(auth.verify(confused))).message).toContain('"HS256" is not accepted');
    });

    it('verifies ES256 with a PEM and refuses a token signed by another key', async () => {
      const auth = createAuthenticator(configOf({ jwt: { public_key: ec.publicPem } }), () => NOW);
      expect((await auth.verify(await sign({}, 'ES256', ec.privateKey))).user.id).toBe('alice');
      const other = await keyPair('ES256');
      expect((await refusal(auth.verify(await sign({}, 'ES256', other.privateKey)))).message).toContain('bad token signature');
    });

    it('verifies tokens against a JWKS file by key id', async () => {
      const dir = folderWith({ 'jwks.json': JSON.stringify({ keys: [{ ...rsa.jwk, kid: 'r1', alg: 'RS256' }, { ...ec.jwk, kid: 'e1' }] }) });
      const auth = createAuthenticator(configOf({ jwt: { jwks: 'jwks.json' } }, dir), () => NOW);
      expect((await auth.verify(await sign({ sub: 'r' }, 'RS256', rsa.privateKey, { kid: 'r1' }))).user.id).toBe('r');
      expect((await auth.verify(await sign({ sub: 'e' }, 'ES256', ec.privateKey, { kid: 'e1' }))).user.id).toBe('e');
      expect((await refusal(auth.verify(await sign({}, 'RS256', rsa.privateKey, { kid: 'nope' })))).message).toContain('no known key matches');
      expect((await refusal(auth.verify(await sign({}, 'HS256', bytes(SECRET), { kid: 'r1' })))).message).toContain('"HS256" is not accepted');
    });
  });

  describe('authenticate(req)', () => {
    const cookieAndQuery = () =>
      createAuthenticator(configOf({ jwt: { secret: SECRET }, token: { header: true, cookie: 'jwt', query: 'access_token' } }), () => NOW);

    it('is anonymous without a token, or with a non-Bearer Authorization header', async () => {
      expect(await hs().authenticate(await requests.request())).toBeNull();
      expect(await hs().authenticate(await requests.request({ authorization: 'Basic YWxpY2U6cHc=' }))).toBeNull();
    });

    it('reads the token from the Authorization header, the cookie and the query', async () => {
      const token = await hsToken();
      const auth = cookieAndQuery();
      expect((await auth.authenticate(await requests.request({ authorization: `Bearer ${token}` })))?.user.id).toBe('alice');
      expect((await auth.authenticate(await requests.request({ cookie: `theme=dark; jwt=${token}` })))?.user.id).toBe('alice');
      expect((await auth.authenticate(await requests.request({}, `/chat?topic=x&access_token=${token}`)))?.user.id).toBe('alice');
    });

    it('prefers the header, then the cookie, then the query, and never falls back past a bad token', async () => {
      const bob = await hsToken({ sub: 'bob' });
      const carol = await hsToken({ sub: 'carol' });
      const auth = cookieAndQuery();
      expect((await auth.authenticate(await requests.request({ authorization: `Bearer ${bob}`, cookie: `jwt=${carol}` }, `/?access_token=${carol}`)))?.user.id).toBe('bob');
      expect((await auth.authenticate(await requests.request({ cookie: `jwt=${bob}` }, `/?access_token=${carol}`)))?.user.id).toBe('bob');
      await refusal(auth.authenticate(await requests.request({ authorization: 'Bearer garbage' }, `/?access_token=${carol}`)));
    });

    it('ignores sources that are turned off', async () => {
      const token = await hsToken();
      expect(await hs().authenticate(await requests.request({ cookie: `jwt=${token}` }))).toBeNull();
      const headerOnly = createAuthenticator(configOf({ jwt: { secret: SECRET }, token: { query: false } }), () => NOW);
      expect(await headerOnly.authenticate(await requests.request({}, `/?access_token=${token}`))).toBeNull();
    });

    it('refuses an empty Bearer token', async () => {
      expect((await refusal(hs().authenticate(await requests.request({ authorization: 'Bearer' }))))?.message).toContain('empty token');
    });

    it('treats every request as anonymous without auth.jwt, and refuses refresh tokens', async () => {
      const auth = createAuthenticator(configOf({ session: { secret: SECRET } }), () => NOW);
      expect(await auth.authenticate(await requests.request({ authorization: `Bearer ${await hsToken()}` }))).toBeNull();
      expect((await refusal(auth.verify(await hsToken()))).message).toContain('no auth.jwt configured');
    });
  });
});
