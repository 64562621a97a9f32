/**
 * The attacker's suite: every attempt is refused with its documented code, and the database is unchanged
 * afterwards (compared as a full dump of every table). Standalone server (the CLI) with JWT auth from the
 * app-level `auth:` section and an anonymous session cookie.
 */
import fs from 'node:fs';
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
/** Every table, every row: the database "byte for byte", as far as its content goes. */
function dumpDatabase(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
    return JSON.stringify(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all()]));
  } finally {
    db.close();
  }
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
  const dump = (): string => dumpDatabase(path.join(dir, 'sec.db'));

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

  it('refuses a token whose user id is not well-formed text (a lone surrogate) with 403: it would be stored in every row', async () => {
    const before = dump();
    expect(await handshake('/private', bearer(await token({ sub: 'a\ud800' })))).toBe(403);
    const res = await fetch(`${server.http}/private`, { method: 'POST', headers: bearer(await token({ sub: 'a\ud800' })), body: '{"body":"x"}' });
    expect(res.status).toBe(403);
    expect(dump()).toBe(before);
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

/**
 * Issue 14's classes, each against a real `msghub serve` process: a crash is a dead process, which every later
 * request in the section would see.
 */
const HARDENING = `
url:
  chat:
    pattern: /chat
    handler: MessageHandler
    kwargs:
      url: sqlite:///hard.db
      table: chat
      columns: {body: TEXT, recipient: TEXT}
      direct: true
      limits: {messages_per_second: 0}
  hooks:
    pattern: /hooks
    handler: MessageHandler
    kwargs:
      url: sqlite:///hard.db
      table: hooks
      columns: {body: TEXT}
      prepare: "msg.cut ? (msg.body = msg.body.slice(0, 1)) : ''"
      modify: "msg.loop ? (msg.me = msg) : ''"
      limits: {messages_per_second: 0}
  held:
    pattern: /held
    handler: MessageHandler
    kwargs:
      url: sqlite:///hard.db
      table: held
      columns: {body: TEXT}
      prepare: hold.hold(msg.body)
      limits: {messages_per_second: 0, max_queued_messages: 3}
  search:
    pattern: /search
    handler: MessageHandler
    kwargs:
      url: sqlite:///hard.db
      table: search
      columns: {body: TEXT}
      max_filter_scans: 2
  static:
    pattern: /static/(.*)
    handler: FileHandler
    kwargs: {path: $YAMLPATH/public/}
modules:
  hold: ./hold.js
`;

/** `depth` arrays nested inside each other: 6000 of them is a 12 KB frame. */
const deep = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

describe('security: one-request crashes, forged keys, malformed text, the write queue (issue 14)', () => {
  let server: Mounted;
  let dir: string;
  const { connect, closeAll } = clientPool(() => server.ws);
  const dump = (): string => dumpDatabase(path.join(dir, 'hard.db'));
  /** The server still answers: a known-good write is acknowledged. */
  const alive = async (): Promise<void> => {
    const res = await fetch(`${server.http}/chat`, { method: 'POST', body: '{"body":"still alive"}' });
    expect(res.status).toBe(201);
  };
  const post = (p: string, body: string): Promise<Response> => fetch(`${server.http}${p}`, { method: 'POST', body });

  beforeAll(async () => {
    dir = tempDir();
    fs.mkdirSync(path.join(dir, 'public'));
    fs.writeFileSync(path.join(dir, 'public', 'a.txt'), 'a');
    // Holds each message in the pipeline until the test releases it (an app module's promise).
    fs.writeFileSync(
      path.join(dir, 'hold.js'),
      `export function hold(body) { return body === 'slow' ? new Promise((r) => setTimeout(r, 600)) : undefined; }\n`,
    );
    server = await startCli(writeConfig(HARDENING, dir));
  });
  afterAll(async () => {
    await closeAll();
    await server?.close();
  });

  describe('query keys that name Object.prototype members', () => {
    const keys = ['valueOf', 'toString', '__proto__', 'constructor', 'hasOwnProperty', '__defineGetter__'];

    it('never crash a file, history, long-poll or SSE request; each key is an unknown filter column', async () => {
      for (const k of keys) {
        expect((await fetch(`${server.http}/static/a.txt?${k}=1`)).status, k).toBe(200);
        expect((await fetch(`${server.http}/favicon.ico?${k}=1&${k}=2`)).status, k).toBe(404);
        const read = await fetch(`${server.http}/chat?${k}=1`);
        expect(read.status, k).toBe(400);
        expect(await read.json()).toMatchObject({ _error: { code: 'MH_ERR_FILTER_COLUMN' } });
        const poll = await fetch(`${server.http}/chat?_since=0&_wait=0&${k}=1`);
        expect(poll.status, k).toBe(400);
        await poll.body?.cancel();
        // SSE answers every refusal in the stream: an `_error` event, then a close event with its code.
        const sse = await fetch(`${server.http}/chat?${k}=x`, { headers: { accept: 'text/event-stream' } });
        expect(sse.status, k).toBe(200);
        const text = await sse.text();
        expect(text, k).toMatch(/"code":"MH_ERR_FILTER_COLUMN"/);
        expect(text, k).toMatch(/event: close\ndata: \{"code":4400/);
      }
      await alive();
    });

    it('never crash a WebSocket handshake: the socket is refused with 4400 and an _error', async () => {
      for (const k of keys) {
        const c = await connect(`/chat?${k}=1`);
        await c.waitClose();
        expect(c.closeCode, k).toBe(4400);
        expect(c.frames[0]!._error, k).toMatchObject({ code: 'MH_ERR_FILTER_COLUMN' });
      }
      await alive();
    });
  });

  describe('frames nested past the depth limit', () => {
    it('refuse a 6000-deep _ref on a message, an _ack and an _auth before anything runs, and keep serving', async () => {
      const before = dump();
      const c = await connect('/chat');
      for (const text of [
        `{"body":"x","_ref":${deep(6000)}}`,
        `{"_ack":1,"_ref":${deep(6000)}}`,
        `{"_auth":"t","_ref":${deep(6000)}}`,
        `{"_direct":true,"body":"x","_ref":${deep(6000)}}`,
      ]) {
        c.send(text);
      }
      const errors = (): Record<string, unknown>[] => c.frames.filter((f) => '_error' in f);
      await c.until(() => errors().length === 4, 'four errors');
      // The `_ref` itself is what is too deep, so the answers cannot carry it.
      for (const f of errors()) expect(f).toEqual({ _error: expect.objectContaining({ code: 'MH_ERR_MSG_TOO_DEEP' }) });
      expect(dump()).toBe(before);
      // As deep as the frame size limit allows (64 KiB): refused the same way.
      c.send(`{"body":"x","a":${deep(30_000)}}`);
      await c.until(() => errors().length === 5, 'a fifth error');
      expect(errors()[4]!._error).toMatchObject({ code: 'MH_ERR_MSG_TOO_DEEP' });
      await alive();
    });

    it('refuse a deep non-column key before the commit, over WebSocket and HTTP (no ack then silence, no 500)', async () => {
      const before = dump();
      const c = await connect('/chat');
      const r = await c.request({ body: 'x', extra: JSON.parse(deep(40)) as unknown });
      expect(r._error).toMatchObject({ code: 'MH_ERR_MSG_TOO_DEEP' });
      const res = await post('/chat', `{"body":"x","extra":${deep(6000)}}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ _error: { code: 'MH_ERR_MSG_TOO_DEEP' } });
      expect(dump()).toBe(before);
      // 32 levels (the message object plus 31 arrays) are fine.
      expect((await c.request({ body: 'ok', extra: JSON.parse(deep(31)) }))._ack).toEqual(expect.any(Number));
    });

    it('refuse a message a hook made unserializable (a cycle) before the commit: stored means broadcast', async () => {
      const watcher = await connect('/hooks');
      const sender = await connect('/hooks');
      const before = dump();
      const r = await sender.request({ body: 'x', loop: true });
      expect(r._error).toMatchObject({ code: 'MH_ERR_MSG_TOO_DEEP' });
      const http = await post('/hooks', '{"body":"x","loop":true}');
      expect(http.status).toBe(400);
      expect(dump()).toBe(before);
      const ok = await sender.request({ body: 'plain' });
      await watcher.next((f) => f.id === ok.id);
      expect(watcher.frames.filter((f) => f._method === 'POST').map((f) => f.body)).toEqual(['plain']);
    });
  });

  describe('keys only the server sends', () => {
    it('are refused, never broadcast: _error, _reset, _ack and _auth in a message, __proto__ at any depth', async () => {
      const watcher = await connect('/chat');
      const sender = await connect('/chat');
      const before = dump();
      const forged = [
        '{"body":"x","_error":{"code":"MH_ERR_INTERNAL","message":"forged"}}',
        '{"body":"x","_reset":{"since":0}}',
        '{"body":"x","__proto__":{"admin":true}}',
        '{"body":"x","nested":{"a":[{"__proto__":{"admin":true}}]}}',
        '{"_direct":true,"body":"x","_error":{"code":"x"}}',
      ];
      for (const [i, text] of forged.entries()) sender.send(text.replace(/}$/, `,"_ref":${i}}`));
      const replies = await sender.until((fs) => fs.filter((f) => f._ref !== undefined).length === forged.length, 'a reply to each');
      for (const f of replies.filter((x) => x._ref !== undefined)) expect(f._error, JSON.stringify(f)).toMatchObject({ code: 'MH_ERR_MSG_RESERVED_KEY' });
      for (const body of ['{"body":"x","_ack":1}', '{"body":"x","_auth":"t"}', '{"body":"x","_error":{}}', '{"body":"x","__proto__":{}}']) {
        const res = await post('/chat', body);
        expect(res.status, body).toBe(400);
        expect(await res.json()).toMatchObject({ _error: { code: 'MH_ERR_MSG_RESERVED_KEY' } });
      }
      expect(dump()).toBe(before);
      const ok = await sender.request({ body: 'marker' });
      await watcher.next((f) => f.id === ok.id);
      expect(watcher.frames.filter((f) => '_error' in f || '_reset' in f || f.body === 'x')).toEqual([]);
    });
  });

  describe('lone surrogates', () => {
    it('are refused from a client, over WebSocket and HTTP, in values and in keys', async () => {
      const before = dump();
      const c = await connect('/chat');
      for (const [i, text] of ['{"body":"a\\ud800b"}', '{"body":"ok","x\\udc00":1}', '{"body":"ok","extra":["\\ud83d"]}'].entries()) {
        c.send(text.replace(/}$/, `,"_ref":${i}}`));
        const f = await c.next((x) => x._ref === i, text);
        expect(f._error, text).toMatchObject({ code: 'MH_ERR_MSG_BAD_TEXT' });
        const res = await post('/chat', text);
        expect(res.status, text).toBe(400);
        expect(await res.json()).toMatchObject({ _error: { code: 'MH_ERR_MSG_BAD_TEXT' } });
      }
      expect(dump()).toBe(before);
      // A well-formed pair is fine, and history returns exactly what was acknowledged and broadcast.
      const r = await c.request({ body: 'a\ud83d\ude00b' });
      const f = await c.next((x) => x.id === r.id && x._method === 'POST');
      expect(f.body).toBe('a\ud83d\ude00b');
      const rows = (await (await fetch(`${server.http}/chat?id=${r.id as string}`)).json()) as { body: string }[];
      expect(rows[0]!.body).toBe('a\ud83d\ude00b');
    });

    it('made by a hook (half of an emoji) are refused before the commit', async () => {
      const before = dump();
      const c = await connect('/hooks');
      const r = await c.request({ body: '\ud83d\ude00 smile', cut: true });
      expect(r._error).toMatchObject({ code: 'MH_ERR_MSG_BAD_TEXT' });
      expect(dump()).toBe(before);
    });
  });

  describe('live filter work', () => {
    it('refuses a subscription past max_filter_scans with 4429 MH_ERR_FILTER_BUDGET, shares a live filter, and frees it on close', async () => {
      const first = await connect('/search?body~=a&body~=b');
      const same = await connect('/search?body~=a&body~=b');
      const refused = await connect('/search?body~=c');
      await refused.waitClose();
      expect(refused.closeCode).toBe(4429);
      expect(refused.frames[0]!._error).toMatchObject({ code: 'MH_ERR_FILTER_BUDGET' });
      await first.close();
      await same.close();
      // Once the last subscriber of that filter has gone (when the server has seen the close), its budget is free.
      const deadline = Date.now() + 5000;
      let next = await connect('/search?body~=c');
      for (;;) {
        const reply = await next.request({ body: 'abc' }).catch(() => null);
        if (reply || Date.now() > deadline) break;
        await new Promise((r) => setImmediate(r));
        next = await connect('/search?body~=c');
      }
      expect(next.closeCode).toBeNull();
    });
  });

  describe('the write queue', () => {
    it('refuses messages past limits.max_queued_messages with MH_ERR_OVERLOADED (503), and takes them again once it drains', async () => {
      const before = dump();
      const c = await connect('/held');
      // Three messages wait in an app module's promise; the queue holds 3.
      for (let i = 0; i < 6; i++) c.send({ body: 'slow', _ref: i });
      const http = await post('/held', '{"body":"fast"}');
      expect(http.status).toBe(503);
      expect(http.headers.get('retry-after')).toBe('1');
      expect(await http.json()).toMatchObject({ _error: { code: 'MH_ERR_OVERLOADED' } });
      await c.until((fs) => fs.filter((f) => f._ref !== undefined).length === 6, 'six replies');
      const replies = c.frames.filter((f) => f._ref !== undefined);
      expect(replies.filter((f) => (f._error as { code?: string } | undefined)?.code === 'MH_ERR_OVERLOADED').map((f) => f._ref)).toEqual([3, 4, 5]);
      expect(replies.filter((f) => f._ack !== undefined).map((f) => f._ref)).toEqual([0, 1, 2]);
      void before;
      const db = new Database(path.join(dir, 'hard.db'), { readonly: true });
      expect((db.prepare('SELECT COUNT(*) AS n FROM held').get() as { n: number }).n).toBe(3);
      db.close();
      expect((await post('/held', '{"body":"fast"}')).status).toBe(201);
    });
  });
});
