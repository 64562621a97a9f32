/**
 * Confirmation state survives SIGKILL: a real `msghub serve` child (dist/) on a SQLite file is killed between
 * delivery and confirmation; after a restart the recipient gets the message again on connect; once confirmed
 * and killed again, nothing comes back. Needs `npx tsc -p tsconfig.build.json` first.
 */
import { existsSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, startCli, type Mounted } from '../support/mounts.js';
import { tempDir, writeConfig } from '../support/tmp.js';
import { BusClient, UID, post, put } from './simplebus-harness.js';

const dir = tempDir('msghub-sbk-');
const config = writeConfig(
  `
url:
  bus:
    pattern: /bus/(.*)
    handler: SimpleBusHandler
    kwargs:
      url: sqlite:///$YAMLPATH/bus.db
      table: sbk
      redelivery_seconds: 0.3
      ping_seconds: 0.2
`,
  dir,
);
const PW = 'pw-12345';

async function kill(node: Mounted): Promise<void> {
  const exited = new Promise((r) => node.child!.once('exit', r));
  node.child!.kill('SIGKILL');
  await exited;
}

describe.skipIf(!existsSync(CLI))('SimpleBus and SIGKILL (msghub serve child)', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('redelivers after a SIGKILL between delivery and confirmation; nothing after a confirmation', async () => {
    let node = await startCli(config);
    const admin: [string, string] = ['admin', 'admin-pw'];
    await fetch(`${node.http}/bus/signup`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `name=admin&password=admin-pw`, redirect: 'manual' });
    expect((await post(`${node.http}/bus`, 'put_users', [{ _id: 'u1', password: PW }, { _id: 'u2', password: PW }], { user: admin })).status).toBe(200);
    let u2 = await BusClient.connect(`${node.ws}/bus/ws`, 'u2', PW);
    await u2.live();
    expect((await put(`${node.http}/bus`, ['u1', PW], { to: ['@u2'], message: 'survive', uid: UID, _id: 'kill-1' })).status).toBe(200);
    await u2.received('kill-1');
    await kill(node);
    await u2.until((c) => c.closeCode !== null, 'the socket to drop');

    node = await startCli(config);
    try {
      u2 = await BusClient.connect(`${node.ws}/bus/ws`, 'u2', PW);
      await u2.received('kill-1');
      expect(u2.messages().find((f) => f._id === 'kill-1')).toMatchObject({ message: 'survive', sender: 'u1' });
      u2.confirm('kill-1');
      // The confirmation is committed once the redeliveries stop: wait through several periods.
      await u2.live();
      const settle = u2.mark();
      await u2.until((c) => c.frames.slice(settle).filter((f) => f.type === 'ping').length >= 5, 'pings', 4000);
      await kill(node);

      node = await startCli(config);
      u2 = await BusClient.connect(`${node.ws}/bus/ws`, 'u2', PW);
      await u2.live();
      const m = u2.mark();
      await u2.until((c) => c.frames.slice(m).filter((f) => f.type === 'ping').length >= 8, 'pings', 4000);
      expect(u2.since(m).filter((f) => f._id === 'kill-1')).toEqual([]);
      await u2.close();
    } finally {
      await node.close().catch(() => undefined);
    }
  }, 60_000);
});
