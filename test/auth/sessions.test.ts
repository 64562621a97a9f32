import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessions } from '../../src/auth/index.js';
import { NOW, SECRET } from './keys.js';
import { startRequests, type RequestFactory } from './support.js';

let requests: RequestFactory;
beforeAll(async () => {
  requests = await startRequests();
});
afterAll(() => requests.close());

/** The cookie pair (`name=value`) of a Set-Cookie header. */
const pairOf = (setCookie: string | null): string => setCookie!.split(';')[0]!;

describe('createSessions', () => {
  it('mints a session with a signed, HttpOnly, SameSite=Lax cookie', async () => {
    const { id, setCookie } = createSessions({ secret: SECRET, now: () => NOW }).resolve(await requests.request());
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(setCookie).toMatch(new RegExp(`^msghub_session=${id}\\.${NOW / 1000}\\.[A-Za-z0-9_-]{43}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax$`));
  });

  it('returns the same id, and no new cookie, for a request that carries the cookie', async () => {
    const sessions = createSessions({ secret: SECRET, now: () => NOW });
    const first = sessions.resolve(await requests.request());
    const again = sessions.resolve(await requests.request({ cookie: `other=1; ${pairOf(first.setCookie)}` }));
    expect(again).toEqual({ id: first.id, setCookie: null });
  });

  it('gives every browser its own id', async () => {
    const sessions = createSessions({ secret: SECRET });
    const ids = new Set(await Promise.all([1, 2, 3].map(async () => sessions.resolve(await requests.request()).id)));
    expect(ids.size).toBe(3);
  });

  it('mints a new session for a tampered cookie', async () => {
    const sessions = createSessions({ secret: SECRET, now: () => NOW });
    const pair = pairOf(sessions.resolve(await requests.request()).setCookie);
    const [name, value] = pair.split('=') as [string, string];
    const [id, issued, mac] = value.split('.') as [string, string, string];
    const victim = 'A'.repeat(22);
    for (const forged of [`${victim}.${issued}.${mac}`, `${id}.${Number(issued) + 1}.${mac}`, `${id}.${issued}.${mac.slice(0, -1)}B`, `${id}.${issued}`, id]) {
      const result = sessions.resolve(await requests.request({ cookie: `${name}=${forged}` }));
      expect(result.id).not.toBe(victim);
      expect(result.setCookie).not.toBeNull();
    }
  });

  it('refuses a cookie signed with another secret', async () => {
    const mine = createSessions({ secret: SECRET, now: () => NOW });
    const theirs = createSessions({ secret: 'x'.repeat(40), now: () => NOW });
    const cookie = pairOf(theirs.resolve(await requests.request()).setCookie);
    expect(mine.resolve(await requests.request({ cookie })).setCookie).not.toBeNull();
  });

  it('ends a session max_age after it began, whatever the browser keeps', async () => {
    let now = NOW;
    const sessions = createSessions({ secret: SECRET, maxAgeSeconds: 60, now: () => now });
    const first = sessions.resolve(await requests.request());
    const cookie = pairOf(first.setCookie);
    now += 59_000;
    expect(sessions.resolve(await requests.request({ cookie })).id).toBe(first.id);
    now += 1_000;
    expect(sessions.resolve(await requests.request({ cookie })).id).not.toBe(first.id);
  });

  it('takes the first valid cookie when several share the name (cookie tossing)', async () => {
    const sessions = createSessions({ secret: SECRET, now: () => NOW });
    const real = sessions.resolve(await requests.request());
    const cookie = `msghub_session=forged.1.x; ${pairOf(real.setCookie)}`;
    expect(sessions.resolve(await requests.request({ cookie }))).toEqual({ id: real.id, setCookie: null });
  });

  it('honours the cookie name, max_age and secure options', async () => {
    const { setCookie } = createSessions({ secret: SECRET, cookie: 'sid', maxAgeSeconds: 3600, secure: true }).resolve(await requests.request());
    expect(setCookie).toMatch(/^sid=.*; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure$/);
    const plain = createSessions({ secret: SECRET, secure: 'auto' }).resolve(await requests.request());
    expect(plain.setCookie).not.toContain('Secure');
  });

  it('refuses a secret shorter than 32 bytes', () => {
    expect(() => createSessions({ secret: 'short' })).toThrow(RangeError);
  });
});
