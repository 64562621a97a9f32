/**
 * The example app exactly as `npm start` serves it (root gramex.yaml + examples/comments), run from a copy so
 * the test never writes into the checkout.
 */
import { cpSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startCli, type Mounted } from '../support/mounts.js';
import { tempDir } from '../support/tmp.js';
import { TestClient } from '../support/ws-client.js';

describe('the example app (root gramex.yaml)', () => {
  let server: Mounted;
  let client: TestClient | undefined;

  beforeAll(async () => {
    const dir = tempDir();
    cpSync(path.join(ROOT, 'gramex.yaml'), path.join(dir, 'gramex.yaml'));
    cpSync(path.join(ROOT, 'examples'), path.join(dir, 'examples'), { recursive: true, filter: (src) => !/\.db(-wal|-shm)?$/.test(src) });
    server = await startCli(path.join(dir, 'gramex.yaml'));
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  it('serves the comment page at / and its script with a JavaScript content type', async () => {
    const page = await fetch(`${server.http}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Live comments');
    const js = await fetch(`${server.http}/comments.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(await js.text()).toContain('textContent');
  });

  it('never serves the message database or the config', async () => {
    for (const p of ['/comments.db', '/gramex.yaml']) expect((await fetch(`${server.http}${p}`)).status).toBeGreaterThanOrEqual(400);
  });

  it('stores and broadcasts a comment on /messages, with its length computed by prepare', async () => {
    client = await TestClient.connect(`${server.ws}/messages`);
    client.send({ body: 'hello from the test' });
    const f = await client.next((x) => x.body === 'hello from the test');
    expect(f).toMatchObject({ _method: 'POST', topic: 'general', length: 19 });
    const err = await client.request({ body: 'x'.repeat(2001) });
    expect(err._error).toMatchObject({ code: 'MH_ERR_MSG_REJECTED', message: 'Comments are limited to 2000 characters' });
  });
});
