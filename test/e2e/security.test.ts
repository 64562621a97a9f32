/**
 * The attacker's suite: every attempt is refused with its documented code, and the database is unchanged
 * afterwards (compared as a full dump of every table). Standalone server (the CLI) with JWT auth from the
 * app-level `auth:` section and an anonymous session cookie.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { clientPool } from '../support/ws-client.js';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long!';
const CONFIG = `
auth:
  jwt: {secret: "${SECRET}"}
  session: {secret: "another-secret-that-is-at-least-32-bytes!!"}
url:
  private:
    pattern: /private
    handler: MessageHandler
    kwargs:
      url: sqlite:///sec.db
      table: private
      columns: {body: TEXT}
      auth: true
  staff:
    pattern: /staff
    handler: MessageHandler
    kwargs:
      url: sqlite:///sec.db
      table: staff
      columns: {body: TEXT}
      auth: {membership: {role: [staff, admin]}}
  cond:
    pattern: /cond
    handler: MessageHandler
    kwargs:
      url: sqlite:///sec.db
      table: cond
      columns: {body: TEXT}
      auth: {condition: "user.id.startsWith('a')"}
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///sec.db
      table: chat
      columns: {body: TEXT, recipient: TEXT, session: TEXT}
      max_message_bytes: 512
      message_default:
        POST: {session: handler.session.id}
  inbox:
    pattern: /inbox
    handler: MessageHandler
    kwargs:
      url: sqlite:///sec.db
      table: inbox
      columns: {body: TEXT, recipient: TEXT}
      open: >
        args.recipient = [handler.current_user ? handler.current_user.id : '-']
  limited:
    pattern: /limited
    handler: MessageHandler
    kwargs:
      url: sqlite:///sec.db
      table: limited
      columns: {body: TEXT}
      limits: {messages_per_second: 1, burst: 3, close_after_refusals: 5, max_connections: 4, max_connections_per_ip: 2}
`;

const key = new TextEncoder().encode(SECRET);
async function token(claims: Record<string, unknown>, opts: { exp?: string | number; nbf?: string | number; secret?: Uint8Array } = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (opts.exp !== undefined) jwt = jwt.setExpirationTime(opts.exp);
  if (opts.nbf !== undefined) jwt = jwt.setNotBefore(opts.nbf);
  return jwt.sign(opts.secret ?? key);
}
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('security: who may connect, what they may change, how much they may send', () => {
  let server: Mounted;
  let dir: string;
  const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });
  const { connect, closeAll } = clientPool(() => server.ws);
  /** The handshake's HTTP status: 101 when it opened, else the refusal. */
  const handshake = (p: string, headers: Record<string, string> = {}): Promise<number> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${server.ws}${p}`, { headers });
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
      });
      ws.once('error', (e) => (/Unexpected server response/.test(e.message) ? undefined : reject(e)));
    });
  /** Every table, every row: the database "byte for byte", as far as its content goes. */
  const dump = (): string => {
    const db = new Database(path.join(dir, 'sec.db'), { readonly: true });
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
      return JSON.stringify(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all()]));
    } finally {
      db.close();
    }
  };

  beforeAll(async () => {
    dir = tempDir();
    server = await startCli(writeConfig(CONFIG, dir));
  });
  afterAll(async () => {
    await closeAll();
    await server?.close();
  });

  it('refuses an anonymous handshake to auth: true with 401, and the same over HTTP', async () => {
    const before = dump();
    expect(await handshake('/private')).toBe(401);
    const res = await fetch(`${server.http}/private`, { method: 'POST', body: '{"body":"x"}' });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ _error: { code: 'MH_ERR_AUTH_REQUIRED' } });
    expect(dump()).toBe(before);
  });

  it('refuses forged, tampered, expired and not-yet-valid tokens with 401, and accepts a valid one', async () => {
    const before = dump();
    const valid = await token({ sub: 'alice' }, { exp: '5m' });
    const [h, p, sig] = valid.split('.') as [string, string, string];
    const forged = {
      algNone: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice' })}.`,
      wrongSecret: await token({ sub: 'alice' }, { secret: new TextEncoder().encode('x'.repeat(40)) }),
      tampered: `${h}.${b64({ sub: 'admin', iat: 1 })}.${sig}`,
      expired: await token({ sub: 'alice' }, { exp: Math.floor(Date.now() / 1000) - 3600 }),
      notYet: await token({ sub: 'alice' }, { nbf: Math.floor(Date.now() / 1000) + 3600 }),
    };
    void p;
    for (const [name, t] of Object.entries(forged)) expect(await handshake('/private', bearer(t)), name).toBe(401);
    expect(await handshake(`/private?access_token=${forged.algNone}`)).toBe(401);
    expect(dump()).toBe(before);
    const c = await connect('/private', bearer(valid));
    const ack = await c.request({ body: 'hello' });
    expect(ack._ack).toEqual(expect.any(Number));
    const f = await c.next((x) => x.id === ack.id && x._method === 'POST');
    expect(f.user).toBe('alice');
  });

  it('refuses a failed membership or condition with 403', async () => {
    const before = dump();
    expect(await handshake('/staff', bearer(await token({ sub: 'bob', role: 'guest' })))).toBe(403);
    expect(await handshake('/staff', bearer(await token({ sub: 'bob', role: 'staff' })))).toBe(101);
    expect(await handshake('/staff')).toBe(401);
    expect(await handshake('/cond', bearer(await token({ sub: 'bob' })))).toBe(403);
    expect(await handshake('/cond', bearer(await token({ sub: 'alice' })))).toBe(101);
    expect(dump()).toBe(before);
  });

  it('refuses a cross-site page with 403 and lets the same origin in', async () => {
    const before = dump();
    expect(await handshake('/chat', { origin: 'http://evil.example' })).toBe(403);
    const host = new URL(server.http).host;
    expect(await handshake('/chat', { origin: `http://${host}` })).toBe(101);
    const res = await fetch(`${server.http}/chat`, { method: 'POST', headers: { origin: 'http://evil.example' }, body: '{"body":"csrf"}' });
    expect(res.status).toBe(403);
    expect(dump()).toBe(before);
  });

  it("refuses user B's edit and delete of user A's row, changing and broadcasting nothing", async () => {
    const alice = await connect('/chat', bearer(await token({ sub: 'alice' })));
    const bob = await connect('/chat', bearer(await token({ sub: 'bob' })));
    const own = await alice.request({ body: "alice's" });
    await bob.next((f) => f.id === own.id);
    const before = dump();
    for (const msg of [
      { _method: 'PUT', id: own.id, body: 'hijacked' },
      { _method: 'DELETE', id: own.id },
      { _method: 'PUT', id: own.id, user: 'bob' },
    ]) {
      const r = await bob.request(msg);
      expect(r._error, JSON.stringify(msg)).toMatchObject({ code: 'MH_ERR_MSG_FORBIDDEN' });
    }
    // Alice herself may not hand the row to bob either: user never changes.
    await alice.request({ _method: 'PUT', id: own.id, user: 'bob', body: "still alice's" });
    const db = new Database(path.join(dir, 'sec.db'), { readonly: true });
    expect(db.prepare('SELECT user, body FROM chat WHERE id = ?').get(own.id)).toEqual({ user: 'alice', body: "still alice's" });
    db.close();
    expect(bob.frames.filter((f) => f._method === 'DELETE' || f.body === 'hijacked')).toEqual([]);
    void before;
  });

  it('never widens a filter pinned by open through the query string', async () => {
    const carol = await connect('/inbox', bearer(await token({ sub: 'carol' })));
    await carol.request({ body: 'to dan', recipient: 'dan' });
    await carol.request({ body: 'to eve', recipient: 'eve' });
    const spy = await connect('/inbox?recipient=dan&recipient=eve', bearer(await token({ sub: 'eve' })));
    await spy.next((f) => f.body === 'to eve');
    const http = (await (await fetch(`${server.http}/inbox?recipient=dan`, { headers: bearer(await token({ sub: 'eve' })) })).json()) as { body: string }[];
    expect(http.map((r) => r.body)).toEqual(['to eve']);
    await carol.request({ body: 'marker for eve', recipient: 'eve' });
    await spy.next((f) => f.body === 'marker for eve');
    expect(spy.frames.some((f) => f.body === 'to dan')).toBe(false);
  });

  it('closes an oversized frame with 1009 and stores nothing', async () => {
    const before = dump();
    const c = await connect('/chat');
    c.send({ body: 'x'.repeat(2000) });
    await c.waitClose();
    expect(c.closeCode).toBe(1009);
    expect(dump()).toBe(before);
  });

  it('answers a flood with MH_ERR_RATE_LIMITED, then closes it with 4429; only the burst is stored', async () => {
    const c = await connect('/limited');
    for (let i = 0; i < 50; i++) c.send({ body: `flood ${i}`, _ref: i });
    await c.waitClose();
    expect(c.closeCode).toBe(4429);
    const limited = c.frames.filter((f) => (f._error as { code?: string } | undefined)?.code === 'MH_ERR_RATE_LIMITED');
    expect(limited.length).toBeGreaterThanOrEqual(5);
    const db = new Database(path.join(dir, 'sec.db'), { readonly: true });
    const stored = (db.prepare('SELECT COUNT(*) AS n FROM limited').get() as { n: number }).n;
    db.close();
    expect(stored).toBeLessThanOrEqual(4); // burst 3, plus at most one refill
    expect(stored).toBe(c.frames.filter((f) => f._ack !== undefined).length);
  });

  it('refuses connections past the per-address cap with 429', async () => {
    const a = await connect('/limited');
    const b = await connect('/limited');
    expect(await handshake('/limited')).toBe(429);
    await a.close();
    // A freed place is available again once the server has seen the close.
    const deadline = Date.now() + 5000;
    let status = 0;
    while (Date.now() < deadline && (status = await handshake('/limited')) !== 101) await new Promise((r) => setImmediate(r));
    expect(status).toBe(101);
    await b.close();
  });

  it('keeps a socket past its first token’s expiry when refreshed, and closes one that is not with 4401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const short = await token({ sub: 'alice' }, { exp: now + 2 });
    const refreshed = await connect('/chat', bearer(short));
    const stale = await connect('/chat', bearer(short));
    const r = await refreshed.request({ _auth: await token({ sub: 'alice' }, { exp: now + 60 }) });
    expect(r._auth).toBe('ok');
    const other = await refreshed.request({ _auth: await token({ sub: 'mallory' }, { exp: now + 60 }) });
    expect(other._error).toMatchObject({ code: 'MH_ERR_AUTH_FORBIDDEN' });
    await stale.waitClose(8000);
    expect(stale.closeCode).toBe(4401);
    expect(stale.frames.at(-1)!._error).toMatchObject({ code: 'MH_ERR_AUTH_EXPIRED' });
    // Still open after the first token's expiry.
    const ack = await refreshed.request({ body: 'still here' });
    expect(ack._ack).toEqual(expect.any(Number));
  }, 15_000);

  it('gives an anonymous browser a signed session cookie and a stable handler.session.id', async () => {
    const first = await fetch(`${server.http}/chat?_c=body`);
    const cookie = first.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^msghub_session=[^;]+;.*HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    const jar = { cookie: cookie.split(';')[0]! };
    const a = await connect('/chat', jar);
    const b = await connect('/chat', jar);
    const m1 = await a.request({ body: 's1' });
    const m2 = await b.request({ body: 's2' });
    const db = new Database(path.join(dir, 'sec.db'), { readonly: true });
    const sessions = db.prepare('SELECT session FROM chat WHERE id IN (?, ?)').all(m1.id, m2.id) as { session: string }[];
    db.close();
    expect(sessions).toHaveLength(2);
    expect(sessions[0]!.session).toBe(sessions[1]!.session);
    expect(sessions[0]!.session).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // A tampered cookie gets a new session.
    const forged = await connect('/chat', { cookie: jar.cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) });
    const m3 = await forged.request({ body: 's3' });
    const db2 = new Database(path.join(dir, 'sec.db'), { readonly: true });
    expect((db2.prepare('SELECT session FROM chat WHERE id = ?').get(m3.id) as { session: string }).session).not.toBe(sessions[0]!.session);
    db2.close();
  });
});
