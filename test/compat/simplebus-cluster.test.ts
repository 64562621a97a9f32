/**
 * SimpleBus on two nodes (two MessageServices) sharing PostgreSQL and a Redis bus: a message sent on one node
 * reaches recipients on both; the node that holds an unconfirmed recipient redelivers; a confirmation sent on
 * the other node stops it; an HTTP direct call on one node is released by a confirmation on the other; confirm
 * forwarding crosses nodes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import knexFactory, { type Knex } from 'knex';
import { mount, type Mounted } from '../support/mounts.js';
import { requireService, tempDir, writeConfig } from '../support/tmp.js';
import { BusClient, UID, post, put } from './simplebus-harness.js';

const PG = 'postgresql://postgres@127.0.0.1:5432/test';
const TABLE = `sbc_${process.pid}_${Date.now().toString(36)}`;
const ADMIN: [string, string] = ['admin', 'admin-pw'];
const PW = 'pw-12345';

const ok = (await requireService('PostgreSQL', 5432)) && (await requireService('Redis', 6379));

describe.skipIf(!ok)('SimpleBus on two nodes (PostgreSQL + Redis)', () => {
  let a: Mounted;
  let b: Mounted;
  let db: Knex;

  beforeAll(async () => {
    const config = writeConfig(
      `
bus: redis://127.0.0.1:6379/0
url:
  bus:
    pattern: /bus/(.*)
    handler: SimpleBusHandler
    kwargs:
      url: ${PG}
      table: ${TABLE}
      redelivery_seconds: 0.4
      ping_seconds: 0.2
      direct_timeout_seconds: 5
      limits: {messages_per_second: 0}
`,
      tempDir('msghub-sbc-'),
    );
    a = await mount('http', config);
    b = await mount('http', config);
    db = knexFactory({ client: 'pg', connection: PG });
    const signup = await fetch(`${a.http}/bus/signup`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `name=${ADMIN[0]}&password=${ADMIN[1]}`, redirect: 'manual' });
    expect(signup.status).toBe(302);
    const r = await post(`${b.http}/bus`, 'put_users', ['user1', 'user2', 'user3'].map((u) => ({ _id: u, password: PW })), { user: ADMIN });
    expect(r.status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (db) {
      for (const t of [`${TABLE}_deliveries`, `${TABLE}_tags`, `${TABLE}_users`, TABLE]) await db.schema.dropTableIfExists(t);
      await db.destroy();
    }
  });

  it('delivers on both nodes, redelivers where the recipient is, honours a confirmation from the other node', async () => {
    const u2 = await BusClient.connect(`${b.ws}/bus/ws`, 'user2', PW);
    const u3 = await BusClient.connect(`${a.ws}/bus/ws`, 'user3', PW);
    await Promise.all([u2.live(), u3.live()]);
    const id = 'cluster-1';
    expect(await put(`${a.http}/bus`, ['user1', PW], { to: ['@user2', '@user3'], message: 'hello', uid: UID, _id: id })).toEqual({ status: 200, text: '' });
    await Promise.all([u2.received(id), u3.received(id)]);
    u3.confirm(id);
    // user2 (on node B) does not confirm: B redelivers.
    await u2.received(id, 3, 5000);
    // user2 confirms from another device on node A.
    const u2a = await BusClient.connect(`${a.ws}/bus/ws`, 'user2', PW);
    await u2a.live();
    u2a.confirm(id);
    await expect.poll(async () => (await db(`${TABLE}_deliveries`).where({ mid: id }).orderBy('recipient')).map((r) => r.state), { timeout: 5000 }).toEqual(['confirmed', 'confirmed']);
    const n = u2.count(id);
    const m = u2.mark();
    await u2.until((c) => c.frames.slice(m).filter((f) => f.type === 'ping').length >= 8, 'pings', 5000);
    // At most one redelivery already in flight when the confirmation landed, none after.
    expect(u2.count(id)).toBeLessThanOrEqual(n + 1);
    const settled = u2.count(id);
    const m2 = u2.mark();
    await u2.until((c) => c.frames.slice(m2).filter((f) => f.type === 'ping').length >= 6, 'pings', 5000);
    expect(u2.count(id)).toBe(settled);
    await Promise.all([u2.close(), u3.close(), u2a.close()]);
  });

  it('HTTP direct on node A waits for a confirmation sent on node B; confirm forwarding crosses nodes', async () => {
    const u2 = await BusClient.connect(`${b.ws}/bus/ws`, 'user2', PW);
    const u1 = await BusClient.connect(`${a.ws}/bus/ws`, 'user1', PW);
    await Promise.all([u2.live(), u1.live()]);
    const answered = put(`${a.http}/bus`, ['user1', PW], { to: ['@user2'], message: 'fast', uid: UID, _id: 'cluster-direct' }, 'direct');
    await u2.received('cluster-direct');
    u2.confirm('cluster-direct');
    expect(await answered).toEqual({ status: 200, text: '' });

    u1.sendBus(['@user2'], 'confirm me', { _id: 'cluster-fwd' });
    await u2.received('cluster-fwd');
    u2.confirm('cluster-fwd', { confirm: 'user1' });
    await u1.until((c) => c.frames.some((f) => f.type === 'confirmation' && f.data === 'cluster-fwd'), 'the forwarded confirmation');
    await Promise.all([u2.close(), u1.close()]);
  });
});
