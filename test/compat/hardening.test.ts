/**
 * Review of the three adapters (issues 18 and 19) as an attacker: each test names a hole that was open and fails
 * without its fix. Real services on loopback: SQLite files, and PostgreSQL where the hole was PostgreSQL's.
 *
 * - SimpleBus: password checks (argon2, ~25 ms of a libuv thread each) are rationed per client address, over
 *   HTTP Basic and the socket's `connect` alike: 400 wrong passwords from one address used to hold a correct
 *   login for 19 s;
 * - SimpleBus: `POST put` obeys `limits:` (the per-address message rate) like msghub's own HTTP publish;
 * - SimpleBus: an HTTP direct call that waits for its confirmation holds one of its address's connections;
 * - x0: a session id is at most 191 characters, the durable key's width (a longer one made every poll of that
 *   session fail on PostgreSQL, with the SQL in the log).
 */
import { rmSync } from 'node:fs';
import knexFactory from 'knex';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKS_BURST } from '../../src/compat/simplebus/users.js';
import { MAX_SESSION_LENGTH } from '../../src/compat/x0/codec.js';
import { ConfigError } from '../../src/errors.js';
import { compileService } from '../../src/service.js';
import { mount, type Mounted } from '../support/mounts.js';
import { requireService, tempDir, writeConfig } from '../support/tmp.js';
import { BusClient, UID, basic, post, put } from './simplebus-harness.js';
import { X0Browser } from './support/x0-client.js';

const ADMIN: [string, string] = ['admin', 'admin-password'];
const PW = '12345';

let dir: string;
let server: Mounted;

beforeAll(async () => {
  dir = tempDir('msghub-hardening-');
  const config = writeConfig(
    `
url:
  sb-auth:
    pattern: /auth/(.*)
    handler: SimpleBusHandler
    kwargs:
      url: sqlite:///$YAMLPATH/bus.db
      table: hard_auth
      ping_seconds: 0.2
      limits: {messages_per_second: 0}
  sb-ws-auth:
    pattern: /ws-auth/(.*)
    handler: SimpleBusHandler
    kwargs:
      url: sqlite:///$YAMLPATH/bus.db
      table: hard_ws_auth
      limits: {messages_per_second: 0}
  sb-rate:
    pattern: /rate/(.*)
    handler: SimpleBusHandler
    kwargs:
      url: sqlite:///$YAMLPATH/bus.db
      table: hard_rate
      ping_seconds: 0.2
      direct_timeout_seconds: 20
      limits: {messages_per_second: 1, burst: 3, max_connections_per_ip: 3}
  x0:
    pattern: /x0/MsgHandler.py(/.*)?
    handler: X0MessageHandler
    kwargs:
      url: sqlite:///$YAMLPATH/x0.db
      table: hard_x0
      poll_timeout: 0.2
      limits: {messages_per_second: 0}
`,
    dir,
  );
  server = await mount('http', config);
  // The first user of each bus (the signup page), then the others.
  for (const bus of ['auth', 'ws-auth', 'rate']) {
    const base = `${server.http}/${bus}`;
    const r = await fetch(`${base}/signup`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `name=${ADMIN[0]}&password=${ADMIN[1]}`, redirect: 'manual' });
    expect(r.status).toBe(302);
    const users = [{ _id: 'user1', password: PW }, { _id: 'user2', password: PW }];
    expect((await post(base, 'put_users', users, { user: ADMIN })).status).toBe(200);
  }
}, 60_000);

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SimpleBus: password checks are rationed per address', () => {
  it(`HTTP: a flood of wrong passwords gets 429 after ${CHECKS_BURST} checks; a login the cache knows still works meanwhile`, async () => {
    const base = `${server.http}/auth`;
    // user2's correct password, verified once: remembered, so it costs no argon2 check afterwards.
    expect((await post(base, 'put_users', [], { user: ['user2', PW] })).status).toBe(200);
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        fetch(`${base}/put`, { method: 'POST', headers: { authorization: basic('user1', `wrong-${i}`), 'message-type': 'queue' }, body: '{"to":[],"uid":1}' }).then(async (r) => [r.status, await r.text()] as const),
      ),
    );
    const refused = answers.filter(([s]) => s === 429);
    const denied = answers.filter(([s]) => s === 401);
    expect(refused.length + denied.length).toBe(60);
    // At most the burst and what refilled meanwhile (5/s) were checked.
    expect(denied.length).toBeLessThanOrEqual(CHECKS_BURST + Math.ceil(((performance.now() - started) / 1000) * 5) + 1);
    expect(refused[0]).toEqual([429, 'Too many messages: at most 5 password checks a second from one address']);
    // Meanwhile a remembered login is answered at once, without a check.
    expect((await post(base, 'put_users', [], { user: ['user2', PW] })).status).toBe(200);
    // The bucket refills: after a second, user1's correct password is checked and accepted.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await put(base, ['user1', PW], { to: ['@user2'], message: 'x', uid: UID })).status).toBe(200);
  });

  it(`sockets: the first ${CHECKS_BURST} connects with wrong passwords close with 1002 NO AUTHORIZATION, those past the ration with 4429 (try later)`, async () => {
    const started = performance.now();
    const clients = await Promise.all(Array.from({ length: CHECKS_BURST + 20 }, (_, i) => BusClient.connect(`${server.ws}/ws-auth/ws`, 'user1', `wrong-${i}`)));
    await Promise.all(clients.map((c) => c.until((x) => x.closeCode !== null, 'the close', 10_000)));
    const codes = clients.map((c) => c.closeCode);
    const throttled = clients.filter((c) => c.closeCode === 4429);
    const denied = codes.filter((c) => c === 1002).length;
    expect(denied).toBeGreaterThanOrEqual(CHECKS_BURST);
    // At most the burst and what refilled meanwhile (5/s) were checked; the rest were refused unchecked.
    expect(denied).toBeLessThanOrEqual(CHECKS_BURST + Math.ceil(((performance.now() - started) / 1000) * 5) + 1);
    expect(throttled.length).toBeGreaterThanOrEqual(1);
    expect(codes.filter((c) => c !== 1002 && c !== 4429)).toEqual([]);
    expect(throttled[0]!.closeReason).toBe('Too many messages: at most 5 password checks a second from one address');
  });
});

describe('SimpleBus: a socket without a user', () => {
  it('is closed with 4429 after 1000 frames dropped before connect (no rate guard applies yet); a few are harmless', async () => {
    const ws = new WebSocket(`${server.ws}/auth/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const closed = new Promise<[number, string]>((resolve) => ws.once('close', (code, reason) => resolve([code, reason.toString()])));
    const junk = JSON.stringify({ type: 'noise', pad: 'x'.repeat(1000) });
    for (let i = 0; i < 1001; i++) ws.send(i % 2 ? junk : 'not json');
    const timeout = new Promise<'open'>((r) => setTimeout(() => r('open'), 5000));
    expect(await Promise.race([closed, timeout])).toEqual([4429, 'More than 1000 frames before the connection was ready']);
    // A client that sends a few frames first, then connects, is served as before.
    const c = await BusClient.connect(`${server.ws}/auth/ws`, 'user2', PW);
    await c.live();
    await c.close();
  });
});

describe('SimpleBus: limits apply to HTTP calls', () => {
  it('POST put obeys the per-address message rate (limits.messages_per_second, burst)', async () => {
    const base = `${server.http}/rate`;
    const answers: number[] = [];
    for (let i = 0; i < 6; i++) answers.push((await put(base, ['user1', PW], { to: ['@user2'], message: i, uid: UID })).status);
    expect(answers.slice(0, 3)).toEqual([200, 200, 200]);
    expect(answers.slice(3)).toContain(429);
    const refused = await put(base, ['user1', PW], { to: ['@user2'], message: 'x', uid: UID });
    expect(refused).toEqual({ status: 429, text: 'Too many messages: at most 1 messages/s' });
    const db = knexFactory({ client: 'better-sqlite3', connection: { filename: `${dir}/bus.db` }, useNullAsDefault: true });
    try {
      // Only what was accepted was stored.
      const stored = await db('hard_rate').count({ n: '*' }).first();
      expect(Number(stored!.n)).toBe(answers.filter((s) => s === 200).length);
    } finally {
      await db.destroy();
    }
  });

  it('an HTTP direct call waiting for its confirmation holds one of its address’s connections: past the cap, 429 at once, nothing sent', async () => {
    const base = `${server.http}/rate`;
    // The recipient is online and never confirms: every direct call waits (direct_timeout_seconds: 20).
    const u2 = await BusClient.connect(`${server.ws}/rate/ws`, 'user2', PW);
    await u2.live();
    // Its socket holds one of the 3 connections of this address; 2 direct calls take the others.
    await new Promise((r) => setTimeout(r, 3100)); // the rate test's bucket refills (1/s, burst 3)
    const waiting = [0, 1].map((i) => {
      const ac = new AbortController();
      const done = fetch(`${base}/put`, { method: 'POST', headers: { authorization: basic('user1', PW), 'message-type': 'direct' }, body: JSON.stringify({ to: ['@user2'], message: i, uid: UID, _id: `direct-wait-${i}` }), signal: ac.signal }).catch(() => null);
      return { ac, done };
    });
    await u2.received('direct-wait-0');
    await u2.received('direct-wait-1');
    const started = performance.now();
    const third = await put(base, ['user1', PW], { to: ['@user2'], message: 2, uid: UID, _id: 'direct-wait-2' }, 'direct');
    expect(third.status).toBe(429);
    expect(third.text).toMatch(/^Too many connections/);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(u2.count('direct-wait-2')).toBe(0);
    // A confirmation releases its call and its connection: the next call is taken.
    u2.confirm('direct-wait-0');
    for (const w of waiting) w.ac.abort();
    await Promise.all(waiting.map((w) => w.done));
    await new Promise((r) => setTimeout(r, 1100));
    const fourth = fetch(`${base}/put`, { method: 'POST', headers: { authorization: basic('user1', PW), 'message-type': 'direct' }, body: JSON.stringify({ to: ['@user2'], message: 3, uid: UID, _id: 'direct-wait-3' }) });
    await u2.received('direct-wait-3');
    u2.confirm('direct-wait-3');
    expect((await fourth).status).toBe(200);
    await u2.close();
  });
});

describe('x0: session ids fit the durable key', () => {
  it('a session id of 191 characters works; 192 is refused with MH_ERR_HTTP_BODY', async () => {
    const url = `${server.http}/x0/MsgHandler.py`;
    const a = new X0Browser(url, 'a-sender');
    const long = new X0Browser(url, 's'.repeat(191));
    expect((await a.sendRaw(long.session, { n: 1 })).data).toEqual({ messages: null, status: 'ok' });
    expect((await long.getMsg()).data).toEqual({ messages: [{ n: 1, session_src: 'a-sender' }] });
    expect((await long.getMsg()).data).toEqual({ messages: null });
    const tooLong = new X0Browser(url, 's'.repeat(192));
    for (const r of [await a.sendRaw(tooLong.session, { n: 1 }), await tooLong.getMsg()]) {
      expect(r.status).toBe(200);
      expect(r.data).toMatchObject({ error: true, exception_id: 'MH_ERR_HTTP_BODY' });
    }
  });
});

const pgUp = await requireService('PostgreSQL', 5432);

describe.skipIf(!pgUp)('x0 on PostgreSQL: the longest session id is acknowledged', () => {
  const table = `hard_x0_${process.pid}_${Date.now().toString(36)}`;
  let pg: Mounted;
  let pgDir: string;
  beforeAll(async () => {
    pgDir = tempDir('msghub-hardening-pg-');
    pg = await mount(
      'http',
      writeConfig(
        `
url:
  x0:
    pattern: /x0(/.*)?
    handler: X0MessageHandler
    kwargs:
      url: postgresql://postgres@127.0.0.1:5432/test
      table: ${table}
      poll_timeout: 0.2
      limits: {messages_per_second: 0}
`,
        pgDir,
      ),
    );
  }, 30_000);
  afterAll(async () => {
    await pg?.close();
    const db = knexFactory({ client: 'pg', connection: 'postgresql://postgres@127.0.0.1:5432/test' });
    await db.schema.dropTableIfExists(table);
    await db('msghub_cursors').where('tbl', table).delete().catch(() => undefined);
    await db('msghub_events').where('tbl', table).delete().catch(() => undefined);
    await db('msghub_seq').where('tbl', table).delete().catch(() => undefined);
    await db.destroy();
    rmSync(pgDir, { recursive: true, force: true });
  });

  it('a session of MAX_SESSION_LENGTH characters gets its message once: the next poll acknowledges it', async () => {
    const url = `${pg.http}/x0`;
    const a = new X0Browser(url, 'a-sender');
    const long = new X0Browser(url, 'p'.repeat(MAX_SESSION_LENGTH));
    expect((await a.sendRaw(long.session, { n: 1 })).data).toEqual({ messages: null, status: 'ok' });
    expect((await long.getMsg()).data).toEqual({ messages: [{ n: 1, session_src: 'a-sender' }] });
    expect((await long.getMsg()).data).toEqual({ messages: null });
  });
});

describe('SimpleBusHandler config', () => {
  it('a table name too long for its own tables and indexes is reported at kwargs.table (PostgreSQL refused to start)', async () => {
    const cfg = (table: string): string => `
url:
  sb:
    pattern: /bus/(.*)
    handler: SimpleBusHandler
    kwargs:
      url: sqlite:///$YAMLPATH/bus.db
      table: ${table}
`;
    const d = tempDir('msghub-hardening-config-');
    try {
      const err = await compileService(writeConfig(cfg('t'.repeat(43)), d)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues.map((i) => i.path)).toEqual(['url.sb.kwargs.table']);
      const ok = await compileService(writeConfig(cfg('t'.repeat(42)), d));
      expect(ok.messageHandlers[0]!.config.table).toBe('t'.repeat(42));
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
