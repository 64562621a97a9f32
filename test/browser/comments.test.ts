/**
 * The example comment widget in a real browser (Debian's Chromium driven by playwright-core): two tabs see each
 * other's comments, edits and deletions live, and user text is rendered as text, never as HTML.
 */
import { cpSync, existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startCli, type Mounted } from '../support/mounts.js';
import { tempDir } from '../support/tmp.js';

const CHROMIUM = '/usr/bin/chromium';

/** Chromium is installed by .ci/run; elsewhere the suite says why it does not run (and fails in CI). */
function chromiumPresent(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.MSGHUB_REQUIRE_SERVICES === '1') throw new Error(`${CHROMIUM} is missing (MSGHUB_REQUIRE_SERVICES=1)`);
  console.warn(`SKIPPED: ${CHROMIUM} is not installed (apt-get install -y chromium) — browser tests do not run`);
  return false;
}

describe('the live comment widget in Chromium', () => {
  const present = chromiumPresent();
  let server: Mounted;
  let browser: Browser;
  let a: Page;
  let b: Page;

  beforeAll(async () => {
    if (!present) return;
    const dir = tempDir();
    cpSync(path.join(ROOT, 'gramex.yaml'), path.join(dir, 'gramex.yaml'));
    cpSync(path.join(ROOT, 'examples'), path.join(dir, 'examples'), { recursive: true, filter: (src) => !/\.db(-wal|-shm)?$/.test(src) });
    server = await startCli(path.join(dir, 'gramex.yaml'));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    a = await browser.newPage();
    b = await browser.newPage();
    for (const page of [a, b]) {
      await page.goto(`${server.http}/`);
      await page.locator('#status', { hasText: 'Connected' }).waitFor({ timeout: 10_000 });
    }
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it.runIf(present)('shows a comment posted in one tab in the other, as text', async () => {
    const evil = '<img src=x onerror="document.title=\'pwned\'"> hello';
    await a.fill('#body', evil);
    await a.click('button[type=submit]');
    for (const page of [a, b]) {
      const body = page.locator('#comments .comment .body').first();
      await expect.poll(() => body.textContent(), { timeout: 5000 }).toBe(evil);
      expect(await page.locator('#comments img').count()).toBe(0);
      expect(await page.title()).not.toBe('pwned');
    }
    await b.screenshot({ path: path.join(tempDir(), 'comments.png') });
  });

  it.runIf(present)('updates the other tab on edit and delete', async () => {
    await b.locator('#comments .comment .edit').first().click();
    await b.locator('#comments .comment textarea').fill('edited in tab B');
    await b.locator('#comments .comment button', { hasText: 'Save' }).click();
    await expect.poll(() => a.locator('#comments .comment .body').first().textContent(), { timeout: 5000 }).toBe('edited in tab B');
    await a.locator('#comments .comment .delete').first().click();
    for (const page of [a, b]) await expect.poll(() => page.locator('#comments .comment').count(), { timeout: 5000 }).toBe(0);
  });
});
