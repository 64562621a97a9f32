/**
 * SimpleBus compatibility (reference/seed-systems.md §3.7), on one node over SQLite, through a real http.Server:
 * users and signup, /put's answers, queue delivery with per-recipient confirmation and redelivery, offline
 * recipients, addressing rules, direct mode, confirm forwarding, pings, a bad connect, HTTP push users.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mount, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { BusClient, UID, post, pushReceiver, put } from './simplebus-harness.js';
import knexFactory, { type Knex } from 'knex';

const ADMIN: [string, string] = ['admin', 's3cret-admin'];
const PW = '12345';

let dir: string;
let server: Mounted;
let base: string;
let wsUrl: string;
let db: Knex;

beforeAll(async () => {
  dir = tempDir('msghub-sb-');
  const config = writeConfig(
    `
url:
  bus:
    pattern: /bus/(.*)
    handler: SimpleBusHandler
    kwargs:
      url: sqlite:///$YAMLPATH/bus.db
      table: sb
      redelivery_seconds: 0.4
      max_redeliveries: 3
      ping_seconds: 0.2
      direct_timeout_seconds: 1.5
      limits: {messages_per_second: 0}
`,
    dir,
  );
  server = await mount('http', config);
  base = `${server.http}/bus`;
  wsUrl = `${server.ws}/bus/ws`;
  db = knexFactory({ client: 'better-sqlite3', connection: { filename: path.join(dir, 'bus.db') }, useNullAsDefault: true });
}, 30_000);

afterAll(async () => {
  await db?.destroy();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const users = async (list: unknown): Promise<{ status: number; text: string }> => {
  const { status, text } = await post(base, 'put_users', list, { user: ADMIN });
  return { status, text };
};

describe('users (§3.7 1, 2)', () => {
  it('signup creates the first user without auth; a second signup is refused', async () => {
    const page = await fetch(`${base}/signup`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('name="password"');
    const form = (name: string, pw: string): Promise<Response> =>
      fetch(`${base}/signup`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `name=${name}&password=${pw}`, redirect: 'manual' });
    const r = await form(ADMIN[0], ADMIN[1]);
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe('./');
    // The duplicate id: back to the form, which says so (SimpleBus's flash).
    const dup = await form(ADMIN[0], 'other');
    expect(dup.status).toBe(302);
    expect(dup.headers.get('location')).toBe('signup?error=exists');
    expect(await (await fetch(`${base}/signup?error=exists`)).text()).toMatch(/ID already exists|Registration is closed/);
    // A new id once a user exists: registration is closed (our difference: put_users adds users).
    expect((await form('intruder', 'x')).status).toBe(403);
    const stored = await db('sb_users').select('id', 'hash');
    expect(stored.map((u) => u.id)).toEqual(['admin']);
    expect(String(stored[0].hash)).toMatch(/^\$argon2id\$/);
  });

  it('put_users: 401 without auth; 400 texts; upsert adds tags', async () => {
    const noauth = await post(base, 'put_users', [{ _id: 'x', password: 'y' }]);
    expect(noauth.status).toBe(401);
    expect(noauth.text).toBe('Unauthorized Access');
    expect(noauth.headers.get('www-authenticate')).toBe('Basic realm="Authentication Required"');
    expect((await post(base, 'put_users', [], { user: [ADMIN[0], 'wrong'] })).status).toBe(401);
    expect(await users([{ password: 'p' }])).toEqual({ status: 400, text: 'no _id in user' });
    expect(await users([{ _id: 'u' }])).toEqual({ status: 400, text: 'no password in user' });
    expect(await users({ _id: 'u', password: 'p' })).toEqual({ status: 400, text: 'error updating user' });
    expect(await users([{ _id: 'user1', password: PW }, { _id: 'user2', password: PW }, { _id: 'user3', password: PW }])).toEqual({ status: 200, text: '' });
    expect(await users([{ _id: 'user2', password: PW, tags: ['orders'] }, { _id: 'user3', password: PW, tags: ['orders'] }])).toEqual({ status: 200, text: '' });
    const tags = await db('sb_tags').select('user_id', 'tag').orderBy('user_id');
    expect(tags).toEqual([
      { user_id: 'user2', tag: 'orders' },
      { user_id: 'user3', tag: 'orders' },
    ]);
    // The new password works, the old admin's still does.
    expect((await post(base, 'put_users', [], { user: ['user2', PW] })).status).toBe(200);
  });
});

describe('/put and queue delivery (§3.7 3–7, 9–11)', () => {
  it('/put without Message-Type is 400 No Message-Type; without uid 400 NO UID IN MESSAGE', async () => {
    expect(await put(base, ['user1', PW], { to: ['@user2'], message: 'x', uid: UID }, null)).toEqual({ status: 400, text: 'No Message-Type' });
    expect(await put(base, ['user1', PW], { to: ['@user2'], message: 'x' })).toEqual({ status: 400, text: 'NO UID IN MESSAGE' });
    expect((await put(base, ['user1', 'bad'], { to: ['@user2'], message: 'x', uid: UID })).status).toBe(401);
  });

  it('a bad connect closes with 1002 NO AUTHORIZATION', async () => {
    const c = await BusClient.connect(wsUrl, 'user1', 'wrong');
    await c.until((x) => x.closeCode !== null, 'the close');
    expect(c.closeCode).toBe(1002);
    expect(c.closeReason).toBe('NO AUTHORIZATION');
  });

  it('pings arrive every ping_seconds; a frame without uid gets ERROR and is still processed', async () => {
    const c = await BusClient.connect(wsUrl, 'user1', PW);
    await c.live();
    const m = c.frames.length;
    await c.until((x) => x.frames.slice(m).filter((f) => f.type === 'ping').length >= 3, '3 pings', 3000);
    const noUid = { to: ['@user1'], message: 'no uid', _id: 'nouid0000000000000000000000000001' };
    c.send(noUid);
    await c.received(noUid._id);
    expect(c.frames).toContainEqual({ type: 'ERROR', data: noUid });
    c.confirm(noUid._id);
    await c.close();
  });

  it('queue to @user: original fields + _id (kept or 32 hex) + sender (overwritten); redelivered until confirmed, per recipient', async () => {
    const u2 = await BusClient.connect(wsUrl, 'user2', PW);
    const u3 = await BusClient.connect(wsUrl, 'user3', PW);
    await Promise.all([u2.live(), u3.live()]);
    expect(await put(base, ['user1', PW], { to: ['@user2'], message: { order: 7 }, uid: UID, sender: 'forged', custom: [1, 2] })).toEqual({ status: 200, text: '' });
    await u2.until((c) => c.messages().some((f) => (f.message as { order?: number })?.order === 7), 'the order');
    const got = u2.messages().find((f) => (f.message as { order?: number })?.order === 7)!;
    expect(Object.keys(got)).toEqual(['to', 'message', 'uid', 'sender', 'custom', '_id']);
    expect(got).toMatchObject({ to: ['@user2'], message: { order: 7 }, uid: UID, sender: 'user1', custom: [1, 2] });
    expect(got._id).toMatch(/^[0-9a-f]{32}$/);

    // A client-supplied _id is kept; two recipients; each must confirm on its own.
    const id = 'client-chosen-id-1';
    expect((await put(base, ['user1', PW], { to: ['@user2', '@user3'], message: 'both', uid: UID, _id: id })).status).toBe(200);
    await Promise.all([u2.received(id), u3.received(id)]);
    u2.confirm(id);
    // user3 does not confirm: it gets it again after redelivery_seconds, and again.
    await u3.received(id, 3, 5000);
    const rows = await db('sb_deliveries').select('recipient', 'state').where('mid', id).orderBy('recipient');
    expect(rows).toEqual([
      { recipient: 'user2', state: 'confirmed' },
      { recipient: 'user3', state: 'pending' },
    ]);
    const u2count = u2.count(id);
    u3.confirm(id);
    await expect.poll(async () => (await db('sb_deliveries').where({ mid: id, recipient: 'user3' }).first()).state, { timeout: 3000 }).toBe('confirmed');
    const after3 = u3.count(id);
    // Nothing after confirmation: wait through several redelivery periods (pings mark the time).
    const m = u3.mark();
    await u3.until((c) => c.frames.slice(m).filter((f) => f.type === 'ping').length >= 8, 'pings', 4000);
    expect(u3.count(id)).toBe(after3);
    expect(u2.count(id)).toBe(u2count);
    await Promise.all([u2.close(), u3.close()]);
  });

  it('max_redeliveries: an unconfirmed delivery becomes dead (kept, visible), and a late confirmation still counts', async () => {
    const u2 = await BusClient.connect(wsUrl, 'user2', PW);
    await u2.live();
    const id = 'dies-after-three-redeliveries';
    await put(base, ['user1', PW], { to: ['@user2'], message: 'ignored', uid: UID, _id: id });
    await expect.poll(async () => (await db('sb_deliveries').where({ mid: id }).first())?.state, { timeout: 6000, interval: 100 }).toBe('dead');
    expect(u2.count(id)).toBe(4); // the live delivery, then 3 redeliveries
    u2.confirm(id);
    await expect.poll(async () => (await db('sb_deliveries').where({ mid: id }).first())?.state, { timeout: 3000 }).toBe('confirmed');
    await u2.close();
  });

  it('an offline recipient gets everything on connect, in order, and nothing again once confirmed', async () => {
    const ids = ['offline-1', 'offline-2', 'offline-3'];
    for (const id of ids) expect((await put(base, ['user1', PW], { to: ['@user3'], message: id, uid: UID, _id: id })).status).toBe(200);
    const u3 = await BusClient.connect(wsUrl, 'user3', PW);
    await u3.until((c) => ids.every((id) => c.count(id) >= 1), 'the three messages');
    expect(u3.messages().map((f) => f._id).filter((x) => ids.includes(x as string)).slice(0, 3)).toEqual(ids);
    for (const id of ids) u3.confirm(id);
    await expect.poll(async () => (await db('sb_deliveries').whereIn('mid', ids).where('state', 'confirmed')).length, { timeout: 3000 }).toBe(3);
    await u3.close();
    const again = await BusClient.connect(wsUrl, 'user3', PW);
    const m = again.mark();
    await again.until((c) => c.frames.slice(m).filter((f) => f.type === 'ping').length >= 6, 'pings', 4000);
    expect(again.since(m).filter((f) => ids.includes(f._id as string))).toEqual([]);
    await again.close();
  });

  it('$all includes the sender; #tag and a bare tag exclude the sender; an unknown @user is ignored', async () => {
    const cs = await Promise.all(['user1', 'user2', 'user3'].map((u) => BusClient.connect(wsUrl, u, PW)));
    await Promise.all(cs.map((c) => c.live()));
    const [u1, u2, u3] = cs as [BusClient, BusClient, BusClient];
    u2.sendBus(['$all'], 'to all', { _id: 'all-1' });
    await Promise.all([u1.received('all-1'), u2.received('all-1'), u3.received('all-1')]);
    expect((await db('sb').where('mid', 'all-1').first()).recipients).toBe('|admin|user1|user2|user3|');
    u2.sendBus(['#orders'], 'tagged', { _id: 'tag-1' });
    u2.sendBus(['orders'], 'bare tag', { _id: 'tag-2' });
    u1.sendBus(['@nobody', '@user1'], 'unknown', { _id: 'unk-1' });
    await Promise.all([u3.received('tag-1'), u3.received('tag-2'), u1.received('unk-1')]);
    expect((await db('sb').where('mid', 'tag-1').first()).recipients).toBe('|user3|');
    expect((await db('sb').where('mid', 'tag-2').first()).recipients).toBe('|user3|');
    expect((await db('sb').where('mid', 'unk-1').first()).recipients).toBe('|user1|');
    expect(u2.count('tag-1') + u2.count('tag-2') + u1.count('tag-1')).toBe(0);
    for (const [c, ids] of [[u1, ['all-1', 'unk-1']], [u2, ['all-1']], [u3, ['all-1', 'tag-1', 'tag-2']]] as const) for (const id of ids) c.confirm(id);
    await Promise.all(cs.map((c) => c.close()));
  });

  it('confirm forwarding: the sender receives {"type":"confirmation","data":_id}', async () => {
    const u1 = await BusClient.connect(wsUrl, 'user1', PW);
    const u2 = await BusClient.connect(wsUrl, 'user2', PW);
    await Promise.all([u1.live(), u2.live()]);
    u1.sendBus(['@user2'], 'please confirm', { _id: 'fwd-1' });
    await u2.received('fwd-1');
    u2.confirm('fwd-1', { confirm: 'user1' });
    await u1.until((c) => c.frames.some((f) => f.type === 'confirmation' && f.data === 'fwd-1'), 'the forwarded confirmation');
    expect(u1.frames.find((f) => f.type === 'confirmation')).toEqual({ type: 'confirmation', data: 'fwd-1' });
    await Promise.all([u1.close(), u2.close()]);
  });
});

describe('direct mode (§3.7 8)', () => {
  it('an online recipient gets it at once; not stored, not redelivered; HTTP waits for the confirmation', async () => {
    const u2 = await BusClient.connect(wsUrl, 'user2', PW);
    await u2.live();
    const answered = put(base, ['user1', PW], { to: ['@user2'], message: 'fast', uid: UID, _id: 'direct-1' }, 'direct');
    await u2.received('direct-1');
    let done = false;
    void answered.then(() => (done = true));
    // Not answered before the confirmation (a ping round trip proves time passed).
    await u2.live();
    expect(done).toBe(false);
    u2.confirm('direct-1');
    expect(await answered).toEqual({ status: 200, text: '' });
    expect(await db('sb').where('mid', 'direct-1')).toEqual([]);
    expect(await db('sb_deliveries').where('mid', 'direct-1')).toEqual([]);
    // `direct: true` over the socket, too.
    u2.sendBus(['@user2'], 'ws direct', { _id: 'direct-2', direct: true });
    await u2.received('direct-2');
    const m = u2.mark();
    await u2.until((c) => c.frames.slice(m).filter((f) => f.type === 'ping').length >= 6, 'pings', 4000);
    expect(u2.count('direct-1')).toBe(1);
    expect(u2.count('direct-2')).toBe(1);
    // Nobody confirms: our timeout (SimpleBus waits forever).
    const t = await put(base, ['user1', PW], { to: ['@user2'], message: 'unconfirmed', uid: UID, _id: 'direct-3' }, 'direct');
    expect(t).toEqual({ status: 504, text: 'NO CONFIRMATION within 1.5 s' });
    await u2.close();
  });
});

describe('HTTP push users (§3.7 13)', () => {
  it('POSTs <url>/data with Basic auth; a non-2xx is retried with backoff; a 2xx confirms', async () => {
    const recv = await pushReceiver(2);
    try {
      expect(
        (await users([{ _id: 'user1c', password: PW, tags: ['orders'], connection_properties: { type: 'http', url: recv.url, authorization: { type: 'basic', user: 'usr', password: 'pw' } } }])).status,
      ).toBe(200);
      expect((await put(base, ['user1', PW], { to: ['@user1c'], message: { doc: 'invoice' }, uid: UID, _id: 'push-1' })).status).toBe(200);
      await recv.waitFor(3, 10_000);
      expect(recv.requests.map((r) => r.status)).toEqual([503, 503, 200]);
      for (const r of recv.requests) {
        expect(r.path).toBe('/data');
        expect(r.auth).toBe('Basic ' + Buffer.from('usr:pw').toString('base64'));
        expect(r.type).toBe('application/json');
        expect(JSON.parse(r.body)).toMatchObject({ to: ['@user1c'], message: { doc: 'invoice' }, _id: 'push-1', sender: 'user1' });
      }
      await expect.poll(async () => (await db('sb_deliveries').where({ mid: 'push-1' }).first()).state, { timeout: 3000 }).toBe('confirmed');
      const row = await db('sb_deliveries').where({ mid: 'push-1' }).first();
      expect(row.attempts).toBe(3);
      // Nothing more once confirmed.
      const u1 = await BusClient.connect(wsUrl, 'user1', PW);
      const m = u1.mark();
      await u1.until((c) => c.frames.slice(m).filter((f) => f.type === 'ping').length >= 8, 'pings', 4000);
      expect(recv.requests.length).toBe(3);
      await u1.close();
    } finally {
      await recv.close();
    }
  });
});
