/**
 * examples/embed-express and examples/embed-fastify in Chromium, each run as its README says
 * (`node examples/embed-<host>/app.js`): msghub beside the app's own routes, JSON body parser and sign-in. Two
 * browser contexts (two users): A posts and B sees it without a reload; A edits and deletes and B sees both; B
 * cannot change A's comment; markup is text; and the app's own routes still answer, with the app's user.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyExamples, startExample, type RunningExample } from '../support/examples.js';
import { chromiumPresent, launchChromium, screenshot, watchedPage, type WatchedPage } from './chromium.js';

/** In page functions (page.evaluate): the page's own location. */
declare const location: { href: string };
const T = { timeout: 15_000 };
const comment = (page: Page, text: string) => page.locator('#comments .comment').filter({ has: page.locator('.body').getByText(text, { exact: true }) });

async function signIn(page: Page, url: string, name: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.locator('#sign-in').waitFor(T);
  await page.fill('#name', name);
  await page.click('#sign-in button[type=submit]');
  await page.locator('#me', { hasText: name }).waitFor(T);
  await page.locator('#status', { hasText: 'Connected' }).waitFor(T);
}

async function post(page: Page, text: string): Promise<void> {
  await page.fill('#body', text);
  await page.click('#new-comment button[type=submit]');
}

/** Sends one frame on a new WebSocket from the page (with its cookies) and returns the answer to its _ref. */
function forge(page: Page, frame: Record<string, unknown>): Promise<Record<string, unknown>> {
  return page.evaluate(async (f) => {
    const url = new URL('messages', location.href);
    url.protocol = 'ws:';
    const ws = new WebSocket(url);
    const answer = await new Promise<Record<string, unknown>>((resolve, reject) => {
      setTimeout(() => reject(new Error('no answer in 5 s')), 5000);
      ws.onmessage = (e) => {
        const got = JSON.parse(e.data as string) as Record<string, unknown>;
        if (got._ref === 'forged') resolve(got);
      };
      ws.onopen = () => ws.send(JSON.stringify({ ...f, _ref: 'forged' }));
    });
    ws.close();
    return answer;
  }, frame);
}

for (const host of ['express', 'fastify'] as const) {
  describe(`examples/embed-${host} in Chromium: two users`, () => {
    const present = chromiumPresent();
    let server: RunningExample;
    let browser: Browser;
    let a: WatchedPage;
    let b: WatchedPage;

    beforeAll(async () => {
      if (!present) return;
      server = await startExample(copyExamples(), `examples/embed-${host}/app.js`);
      browser = await launchChromium();
      a = await watchedPage(browser);
      b = await watchedPage(browser);
      await signIn(a.page, server.url, 'alice');
      await signIn(b.page, server.url, 'bob');
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it.runIf(present)('A posts, edits and deletes; B sees each without a reload', async () => {
      await post(a.page, `hello from ${host}`);
      const inB = comment(b.page, `hello from ${host}`);
      await inB.waitFor(T);
      expect(await inB.locator('.author').textContent()).toBe('alice');
      const mine = comment(a.page, `hello from ${host}`);
      await mine.locator('.edit').click();
      await mine.locator('.editor textarea').fill(`edited on ${host}`);
      await mine.locator('.editor .save').click();
      await comment(b.page, `edited on ${host}`).waitFor(T);
      await comment(a.page, `edited on ${host}`).locator('.delete').click();
      await comment(b.page, `edited on ${host}`).waitFor({ state: 'detached', ...T });
    });

    it.runIf(present)("B cannot change A's comment, and markup is text", async () => {
      const evil = '<img src=x onerror=alert(1)>';
      await post(a.page, evil);
      const inB = comment(b.page, evil);
      await inB.waitFor(T);
      expect(await inB.locator('.body').textContent()).toBe(evil);
      expect(await b.page.locator('#comments img').count()).toBe(0);
      expect(await inB.locator('.edit').isVisible()).toBe(false);
      const id = await inB.getAttribute('data-id');
      expect(await forge(b.page, { _method: 'PUT', id, body: 'hijacked' })).toMatchObject({ _error: { code: 'MH_ERR_MSG_FORBIDDEN' } });
      expect(await forge(b.page, { _method: 'DELETE', id })).toMatchObject({ _error: { code: 'MH_ERR_MSG_FORBIDDEN' } });
      expect(await comment(a.page, evil).count()).toBe(1);
      expect([...a.dialogs, ...b.dialogs]).toEqual([]);
      await post(b.page, `Bob was here (${host})`);
      await comment(a.page, `Bob was here (${host})`).waitFor(T);
      await screenshot(a.page, `embed-${host}`, true);
    });

    it.runIf(present)("keeps the app's own routes, body parser and user beside msghub", async () => {
      const answers = await b.page.evaluate(async () => {
        const hello = await (await fetch('/api/hello')).json();
        const echo = await (await fetch('/api/echo', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"n":[1,2]}' })).json();
        const missing = (await fetch('/api/nothing')).status;
        return { hello, echo, missing };
      });
      expect(answers).toEqual({ hello: { hello: 'bob' }, echo: { youSent: { n: [1, 2] } }, missing: 404 });
      // An anonymous client may read but not post: msghub got "no user" from the app's own sign-in.
      const res = await fetch(`${server.url}/messages`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"body":"anon"}' });
      expect(await res.json()).toMatchObject({ _error: { code: 'MH_ERR_MSG_REJECTED', message: 'Sign in to comment' } });
      expect([...a.notFound, ...b.notFound].filter((u) => !u.endsWith('/api/nothing'))).toEqual([]);
      expect([...a.pageErrors, ...b.pageErrors]).toEqual([]);
    });
  });
}
