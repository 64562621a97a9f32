/**
 * The example app exactly as `npm start` serves it (examples/comments/server.mjs with the root gramex.yaml), run
 * from a copy so the test never writes into the checkout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyExamples, startExample, type RunningExample } from '../support/examples.js';
import { TestClient } from '../support/ws-client.js';

describe('the example app (root gramex.yaml)', () => {
  let server: RunningExample & { http: string; ws: string };
  let client: TestClient | undefined;

  beforeAll(async () => {
    const running = await startExample(copyExamples(), 'examples/comments/server.mjs', ['gramex.yaml']);
    server = { ...running, http: running.url, ws: running.url.replace(/^http/, 'ws') };
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
    for (const p of ['/comments.db', '/comments.yaml', '/server.mjs', '/.comments-secret', '/gramex.yaml']) expect((await fetch(`${server.http}${p}`)).status).toBeGreaterThanOrEqual(400);
  });

  it('refuses a comment from someone who has not signed in', async () => {
    const res = await fetch(`${server.http}/messages`, { method: 'POST', body: '{"body":"anonymous"}' });
    expect(await res.json()).toMatchObject({ _error: { code: 'MH_ERR_MSG_REJECTED', message: 'Sign in to comment' } });
  });

  it('stores and broadcasts a comment on /messages, with its length computed by prepare', async () => {
    const login = await fetch(`${server.http}/login`, { method: 'POST', body: '{"name":"tester"}' });
    const cookie = /comments_token=[^;]+/.exec(login.headers.get('set-cookie') ?? '')![0];
    client = await TestClient.connect(`${server.ws}/messages`, { cookie });
    client.send({ body: 'hello from the test' });
    const f = await client.next((x) => x.body === 'hello from the test');
    expect(f).toMatchObject({ _method: 'POST', topic: 'general', length: 19, user: 'tester' });
    const err = await client.request({ body: 'x'.repeat(2001) });
    expect(err._error).toMatchObject({ code: 'MH_ERR_MSG_REJECTED', message: 'Comments are limited to 2000 characters' });
  });
});
