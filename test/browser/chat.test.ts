/**
 * examples/chat in Chromium, run as its README says (`node examples/chat/server.mjs`), with two browser contexts
 * (alice and bob): a message to bob while he is away is mailed (stub mail service: mail.jsonl) and waits as
 * unread; bob sees the count, reads it, and alice's next message arrives live without a reload and is not mailed;
 * `open` pins each user to their own messages whatever the query string asks; text is text.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyExamples, startExample, type RunningExample } from '../support/examples.js';
import { chromiumPresent, launchChromium, screenshot, watchedPage, type WatchedPage } from './chromium.js';

/** In page functions (page.evaluate): the page's own location. */
declare const location: { href: string };
const T = { timeout: 15_000 };

async function signIn(page: Page, url: string, name: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.locator('#sign-in-users button', { hasText: name }).click(T);
  await page.locator('#me', { hasText: name }).waitFor(T);
  await page.locator('#status', { hasText: 'Connected' }).waitFor(T);
}

async function write(page: Page, to: string, text: string): Promise<void> {
  await page.locator('#contacts button', { hasText: to }).click();
  await page.fill('#body', text);
  await page.click('#compose button[type=submit]');
  await page.locator('#messages .msg.mine', { hasText: text }).waitFor(T);
}

const badge = (page: Page, user: string) => page.locator(`#contacts button[data-user="${user}"] .unread`);

describe('examples/chat in Chromium: alice and bob', () => {
  const present = chromiumPresent();
  let dir: string;
  let server: RunningExample;
  let browser: Browser;
  let a: WatchedPage;
  let b: WatchedPage;
  const mails = (): { to: string[]; subject: string; text: string }[] => {
    const file = path.join(dir, 'examples/chat/mail.jsonl');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  };

  beforeAll(async () => {
    if (!present) return;
    dir = copyExamples();
    server = await startExample(dir, 'examples/chat/server.mjs');
    browser = await launchChromium();
    a = await watchedPage(browser);
    b = await watchedPage(browser);
    await signIn(a.page, server.url, 'alice');
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it.runIf(present)('mails a message to a recipient who is away (stub mail service)', async () => {
    await write(a.page, 'bob', 'Lunch at noon?');
    await write(a.page, 'bob', '<img src=x onerror=alert(1)>');
    await expect.poll(() => mails().length, T).toBe(2);
    expect(mails()[0]).toMatchObject({ to: ['bob@example.com'], subject: 'alice sent you a message' });
    expect(mails()[0]!.text).toContain('Lunch at noon?');
  });

  it.runIf(present)('shows bob his unread count; reading the conversation clears it', async () => {
    await signIn(b.page, server.url, 'bob');
    await badge(b.page, 'alice').filter({ hasText: '2' }).waitFor(T);
    expect(await badge(b.page, 'carol').count()).toBe(0);
    await b.page.locator('#contacts button', { hasText: 'alice' }).click();
    await b.page.locator('#messages .msg', { hasText: 'Lunch at noon?' }).waitFor(T);
    // Markup is text, and ran nothing.
    expect(await b.page.locator('#messages .msg').allTextContents()).toEqual(['Lunch at noon?', '<img src=x onerror=alert(1)>']);
    expect(await b.page.locator('#messages img').count()).toBe(0);
    expect([...a.dialogs, ...b.dialogs]).toEqual([]);
    await badge(b.page, 'alice').waitFor({ state: 'detached', ...T });
  });

  it.runIf(present)('keeps what bob read across a reload (his acknowledged position is on the server)', async () => {
    await b.page.reload();
    await b.page.locator('#status', { hasText: 'Connected' }).waitFor(T);
    await b.page.locator('#contacts button', { hasText: 'alice' }).waitFor(T);
    expect(await badge(b.page, 'alice').count()).toBe(0);
  });

  it.runIf(present)('delivers live to bob while he is here, and mails nothing then', async () => {
    await b.page.locator('#contacts button', { hasText: 'alice' }).click();
    await write(a.page, 'bob', 'Are you there?');
    await b.page.locator('#messages .msg', { hasText: 'Are you there?' }).waitFor(T);
    expect(await b.page.evaluate<number>("performance.getEntriesByType('navigation').length")).toBe(1);
    await write(b.page, 'alice', 'Yes! Noon works.');
    await a.page.locator('#contacts button', { hasText: 'bob' }).click();
    await a.page.locator('#messages .msg', { hasText: 'Yes! Noon works.' }).waitFor(T);
    await screenshot(b.page, 'chat', true);
    // Bob leaves; the next message is mailed. Mails go out in order, so once it is there the one before would be.
    await b.context.close();
    await write(a.page, 'bob', 'See you there');
    await expect.poll(() => mails().map((m) => m.text), T).toEqual([
      expect.stringContaining('Lunch at noon?'),
      expect.stringContaining('<img src=x onerror=alert(1)>'),
      expect.stringContaining('See you there'),
    ]);
  });

  it.runIf(present)('pins every user to their own messages, whatever the query string asks', async () => {
    const seen = await a.page.evaluate(async () => {
      const asked = await (await fetch('messages?recipient=bob')).json();
      return (asked as { recipient: string }[]).map((r) => r.recipient);
    });
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set(['alice']));
    expect([...a.notFound]).toEqual([]);
    expect([...a.pageErrors]).toEqual([]);
  });
});
