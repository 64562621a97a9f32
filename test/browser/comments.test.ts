/**
 * examples/comments in Chromium, run as its README says (`node examples/comments/server.mjs`), with two browser
 * contexts (two users, two cookie jars): A posts and B sees it without a reload; A edits and deletes and B sees
 * both; B cannot edit A's comment (the page offers no button, and the server refuses a forged PUT); markup in a
 * comment is text; and the server is killed (SIGKILL) and restarted while A keeps posting: A's queued comments
 * arrive exactly once, and B catches up with everything, in order.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyExamples, startExample, type RunningExample } from '../support/examples.js';
import { chromiumPresent, launchChromium, screenshot, watchedPage, type WatchedPage } from './chromium.js';

const SCRIPT = 'examples/comments/server.mjs';
/** In page functions (page.evaluate): the page's own location. */
declare const location: { href: string };
const T = { timeout: 15_000 };

/** The comment bodies on a page, top (newest) first. */
const bodies = (page: Page): Promise<string[]> => page.locator('#comments .comment .body').allTextContents();
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

describe('examples/comments in Chromium: two users', () => {
  const present = chromiumPresent();
  let dir: string;
  let server: RunningExample;
  let browser: Browser;
  let a: WatchedPage;
  let b: WatchedPage;

  beforeAll(async () => {
    if (!present) return;
    dir = copyExamples();
    server = await startExample(dir, SCRIPT);
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

  it.runIf(present)('A posts; B sees it without a reload, with A as its author', async () => {
    await post(a.page, 'Hello from Alice');
    for (const { page } of [a, b]) {
      const c = comment(page, 'Hello from Alice');
      await c.waitFor(T);
      expect(await c.locator('.author').textContent()).toBe('alice');
    }
    expect(await a.page.evaluate<number>("performance.getEntriesByType('navigation').length")).toBe(1);
    expect(await b.page.evaluate<number>("performance.getEntriesByType('navigation').length")).toBe(1);
  });

  it.runIf(present)('A edits and deletes; B sees both', async () => {
    const mine = comment(a.page, 'Hello from Alice');
    await mine.locator('.edit').click();
    await mine.locator('.editor textarea').fill('Hello, edited');
    await mine.locator('.editor .save').click();
    await comment(b.page, 'Hello, edited').waitFor(T);
    expect(await comment(b.page, 'Hello from Alice').count()).toBe(0);
    await comment(a.page, 'Hello, edited').locator('.delete').click();
    for (const { page } of [a, b]) await comment(page, 'Hello, edited').waitFor({ state: 'detached', ...T });
  });

  it.runIf(present)("B cannot edit or delete A's comment: no button, and the server refuses a forged PUT", async () => {
    await post(a.page, "Alice's own words");
    const inB = comment(b.page, "Alice's own words");
    await inB.waitFor(T);
    expect(await inB.locator('.edit').isVisible()).toBe(false);
    expect(await inB.locator('.delete').isVisible()).toBe(false);
    expect(await comment(a.page, "Alice's own words").locator('.edit').isVisible()).toBe(true);

    // B's browser speaks to the server directly, with B's cookie: the ownership rule is the server's.
    const id = await inB.getAttribute('data-id');
    const answers = await b.page.evaluate(async (target) => {
      const url = new URL('messages', location.href);
      url.protocol = 'ws:';
      const ws = new WebSocket(url);
      const got: Record<number, unknown> = {};
      await new Promise<void>((resolve, reject) => {
        setTimeout(() => reject(new Error('no answer in 5 s')), 5000);
        ws.onmessage = (e) => {
          const f = JSON.parse(e.data as string) as { _ref?: number };
          if (typeof f._ref === 'number') got[f._ref] = f;
          if (got[1] && got[2]) resolve();
        };
        ws.onopen = () => {
          ws.send(JSON.stringify({ _method: 'PUT', id: target, body: 'hijacked', _ref: 1 }));
          ws.send(JSON.stringify({ _method: 'DELETE', id: target, _ref: 2 }));
        };
      });
      ws.close();
      return got;
    }, id);
    expect(answers[1]).toMatchObject({ _error: { code: 'MH_ERR_MSG_FORBIDDEN' } });
    expect(answers[2]).toMatchObject({ _error: { code: 'MH_ERR_MSG_FORBIDDEN' } });
    // Nothing changed anywhere: both pages and the stored history still have A's words.
    const history = (await (await fetch(`${server.url}/messages`)).json()) as { id: string; body: string; user: string }[];
    expect(history.find((r) => r.id === id)).toMatchObject({ body: "Alice's own words", user: 'alice' });
    for (const { page } of [a, b]) expect(await comment(page, "Alice's own words").count()).toBe(1);
  });

  it.runIf(present)('shows markup in a comment as text and runs none of it', async () => {
    const evil = '<img src=x onerror=alert(1)>';
    await post(a.page, evil);
    for (const { page } of [a, b]) {
      const c = comment(page, evil);
      await c.waitFor(T);
      expect(await c.locator('.body').textContent()).toBe(evil);
      expect(await page.locator('#comments img').count()).toBe(0);
    }
    expect([...a.dialogs, ...b.dialogs]).toEqual([]);
  });

  it.runIf(present)('clears an error line once a later send succeeds', async () => {
    // The textarea's maxlength stops typing, not a script: the server's own limit answers.
    await a.page.locator('#body').evaluate((el) => ((el as unknown as { value: string }).value = 'x'.repeat(2001)));
    await a.page.click('#new-comment button[type=submit]');
    await a.page.locator('#status.error', { hasText: 'Comments are limited to 2000 characters' }).waitFor(T);
    await post(a.page, 'a fine comment');
    await comment(a.page, 'a fine comment').waitFor(T);
    await a.page.locator('#status:not(.error)', { hasText: 'Connected' }).waitFor(T);
  });

  it.runIf(present)('survives a server crash while A keeps posting: each queued comment once, B in order', async () => {
    const before = await bodies(b.page);
    await server.kill();
    await a.page.locator('#status', { hasText: 'reconnecting' }).waitFor(T);
    await b.page.locator('#status', { hasText: 'reconnecting' }).waitFor(T);
    const typed = ['offline one', 'offline two', 'offline three', 'offline four', 'offline five'];
    for (const text of typed) await post(a.page, text);

    server = await startExample(dir, SCRIPT, ['--port', String(server.port)]);
    const expected = [...typed].reverse().concat(before);
    for (const { page } of [a, b]) {
      await page.waitForFunction(`document.querySelectorAll('#comments .comment').length >= ${expected.length}`, undefined, T);
      await page.locator('#status', { hasText: 'Connected' }).waitFor(T);
    }
    // Exactly once in each page and in the database, newest first, nothing lost of what B had.
    expect(await bodies(b.page)).toEqual(expected);
    expect(await bodies(a.page)).toEqual(expected);
    const history = (await (await fetch(`${server.url}/messages`)).json()) as { body: string; user: string }[];
    for (const text of typed) expect(history.filter((r) => r.body === text)).toEqual([expect.objectContaining({ user: 'alice' })]);
    await screenshot(b.page, 'comments', true);
  });

  it.runIf(present)('asked for nothing that is missing (no /favicon.ico 404) and threw nothing', async () => {
    expect([...a.notFound, ...b.notFound]).toEqual([]);
    expect([...a.pageErrors, ...b.pageErrors]).toEqual([]);
  });
});
