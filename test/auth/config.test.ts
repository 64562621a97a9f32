import { afterAll, describe, expect, it } from 'vitest';
import { parseAuthSection } from '../../src/auth/index.js';
import { folderWith, keyPair, removeFolders, SECRET } from './keys.js';

afterAll(removeFolders);

const FILE = '/app/gramex.yaml';
const ctx = (yamlPath = '/app') => ({ path: 'auth', file: FILE, yamlPath });
const paths = (section: unknown, yamlPath?: string) => parseAuthSection(section, ctx(yamlPath)).issues.map((i) => i.path);

describe('parseAuthSection', () => {
  it('returns no config and no issues when the section is absent', () => {
    expect(parseAuthSection(undefined, ctx())).toEqual({ config: null, issues: [] });
  });

  it('fills the documented defaults around an HMAC secret', () => {
    const { config, issues } = parseAuthSection({ jwt: { secret: SECRET } }, ctx());
    expect(issues).toEqual([]);
    expect(config).toMatchObject({
      jwt: { algorithms: ['HS256'], clockToleranceSeconds: 5, claims: { id: 'sub' } },
      token: { header: true, cookie: null, query: 'access_token' },
      session: null,
    });
  });

  it('resolves a public key file relative to the YAML folder and defaults the algorithm from the key type', async () => {
    const rsa = await keyPair('RS256');
    const ec = await keyPair('ES256');
    const dir = folderWith({ 'rsa.pem': rsa.publicPem, 'ec.pem': ec.publicPem });
    expect(parseAuthSection({ jwt: { public_key: 'rsa.pem' } }, ctx(dir)).config?.jwt?.algorithms).toEqual(['RS256']);
    expect(parseAuthSection({ jwt: { public_key: 'ec.pem' } }, ctx(dir)).config?.jwt?.algorithms).toEqual(['ES256']);
    expect(parseAuthSection({ jwt: { public_key: rsa.publicPem, algorithms: ['PS256', 'RS512'] } }, ctx()).config?.jwt?.algorithms).toEqual(['PS256', 'RS512']);
  });

  it('reports a secret shorter than 32 bytes', () => {
    const { config, issues } = parseAuthSection({ jwt: { secret: 'short' } }, ctx());
    expect(config).toBeNull();
    expect(issues).toEqual([{ path: 'auth.jwt.secret', file: FILE, message: expect.stringContaining('is 5 bytes; use at least 32') }]);
  });

  it('refuses alg none and algorithms the key cannot verify', () => {
    const { issues } = parseAuthSection({ jwt: { secret: SECRET, algorithms: ['none', 'RS256', 'HS512'] } }, ctx());
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      ['auth.jwt.algorithms', expect.stringContaining('"none" is never accepted')],
      ['auth.jwt.algorithms', expect.stringContaining('"RS256" cannot be verified with this key')],
    ]);
  });

  it('needs exactly one key source', () => {
    expect(paths({ jwt: { issuer: 'x' } })).toEqual(['auth.jwt']);
    expect(parseAuthSection({ jwt: { secret: SECRET, jwks: 'k.json' } }, ctx()).issues[0]?.message).toBe('give only one of secret, jwks');
  });

  it('reports unreadable, private and malformed key files at their path', async () => {
    const rsa = await keyPair('RS256');
    const dir = folderWith({ 'private.pem': rsa.privatePem, 'junk.pem': 'hello', 'junk.json': '{', 'empty.json': '{"keys": []}' });
    const issue = (jwt: unknown) => parseAuthSection({ jwt }, ctx(dir)).issues[0];
    expect(issue({ public_key: 'missing.pem' })).toMatchObject({ path: 'auth.jwt.public_key', message: expect.stringContaining('ENOENT') });
    expect(issue({ public_key: 'private.pem' })?.message).toContain('is a private key');
    expect(issue({ public_key: 'junk.pem' })?.message).toContain('is not a PEM public key');
    expect(issue({ jwks: 'junk.json' })?.message).toContain('is not valid JSON');
    expect(issue({ jwks: 'empty.json' })?.message).toContain('at least one public JWK');
  });

  it('refuses symmetric, private and mislabelled keys in a key set', async () => {
    const rsa = await keyPair('RS256');
    const { issues } = parseAuthSection(
      { jwt: { jwks: { keys: [{ kty: 'oct', k: 'AAAA' }, { ...rsa.jwk, d: 'x' }, { ...rsa.jwk, alg: 'ES256' }, rsa.jwk] } } },
      ctx(),
    );
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      ['auth.jwt.jwks.keys[0]', expect.stringContaining('symmetric key')],
      ['auth.jwt.jwks.keys[1]', expect.stringContaining('private key material')],
      ['auth.jwt.jwks.keys[2].alg', expect.stringContaining('"ES256" cannot be used with this key')],
    ]);
  });

  it('reports unknown keys at every level, so a typo never turns a control off', () => {
    expect(paths({ jwt: { secret: SECRET, isuer: 'x' }, token: { headers: true }, session: { secret: SECRET, maxage: 1 }, sesion: {} })).toEqual([
      'auth.sesion',
      'auth.jwt.isuer',
      'auth.token.headers',
      'auth.session.maxage',
    ]);
  });

  it('checks issuer, audience, clock tolerance and the claims map', () => {
    expect(paths({ jwt: { secret: SECRET, issuer: '', audience: [1], clock_tolerance: -1, claims: { id: '', name: 'given_name' } } })).toEqual([
      'auth.jwt.issuer',
      'auth.jwt.audience',
      'auth.jwt.clock_tolerance',
      'auth.jwt.claims.id',
    ]);
    const { config } = parseAuthSection({ jwt: { secret: SECRET, issuer: ['a', 'b'], audience: 'app', clock_tolerance: 0, claims: { id: 'email' } } }, ctx());
    expect(config?.jwt).toMatchObject({ issuer: ['a', 'b'], audience: 'app', clockToleranceSeconds: 0, claims: { id: 'email' } });
  });

  it('parses token sources and refuses turning all of them off', () => {
    const { config } = parseAuthSection({ jwt: { secret: SECRET }, token: { header: false, cookie: 'jwt', query: false } }, ctx());
    expect(config?.token).toEqual({ header: false, cookie: 'jwt', query: null });
    expect(paths({ jwt: { secret: SECRET }, token: { header: false, query: false } })).toEqual(['auth.token']);
    expect(paths({ jwt: { secret: SECRET }, token: { header: 'yes', cookie: 'a b' } })).toEqual(['auth.token.header', 'auth.token.cookie']);
    expect(paths({ token: { header: true } })).toEqual(['auth.token']);
  });

  it('parses the session and requires its secret', () => {
    const { config } = parseAuthSection({ session: { secret: SECRET, cookie: 'sid', max_age: 3600, secure: true } }, ctx());
    expect(config).toMatchObject({ jwt: null, session: { secret: SECRET, cookie: 'sid', maxAgeSeconds: 3600, secure: true } });
    expect(parseAuthSection({ session: { secret: SECRET } }, ctx()).config?.session).toEqual({ secret: SECRET, cookie: 'msghub_session', maxAgeSeconds: 2592000, secure: 'auto' });
    expect(paths({ session: { max_age: 1.5, secure: 'sometimes' } })).toEqual(['auth.session.secret', 'auth.session.max_age', 'auth.session.secure']);
    expect(paths({ jwt: { secret: SECRET }, token: { cookie: 'sid' }, session: { secret: SECRET, cookie: 'sid' } })).toEqual(['auth.token.cookie']);
  });

  it('reports a section that is not a mapping', () => {
    expect(parseAuthSection(true, ctx()).issues).toEqual([{ path: 'auth', file: FILE, message: expect.any(String) }]);
  });
});
