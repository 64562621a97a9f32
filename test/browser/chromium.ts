/**
 * Debian's Chromium driven by playwright-core (never `npx playwright install`: .ci/run installs the chromium
 * package), and what every example's browser test watches on a page: dialogs (an XSS that ran) and 404s.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from '../support/mounts.js';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = path.join(ROOT, 'test/browser/screenshots');

/** Chromium is installed by .ci/run; elsewhere the suite says why it does not run (and fails in CI). */
export function chromiumPresent(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.MSGHUB_REQUIRE_SERVICES === '1') throw new Error(`${CHROMIUM} is missing (MSGHUB_REQUIRE_SERVICES=1)`);
  console.warn(`SKIPPED: ${CHROMIUM} is not installed (apt-get install -y chromium) — browser tests do not run`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page in its own browser context (its own cookies: its own user), with what it saw recorded. */
export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** Messages of every alert/confirm/prompt the page opened (dismissed at once). */
  dialogs: string[];
  /** URLs the page requested that answered 404. */
  notFound: string[];
  /** Uncaught exceptions in the page's scripts. */
  pageErrors: string[];
}

export async function watchedPage(browser: Browser): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  const watched: WatchedPage = { context, page, dialogs: [], notFound: [], pageErrors: [] };
  page.on('dialog', (d) => {
    watched.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('response', (r) => {
    if (r.status() === 404) watched.notFound.push(r.url());
  });
  page.on('pageerror', (e) => watched.pageErrors.push(e.message));
  return watched;
}

/** Saves a screenshot under test/browser/screenshots/ (gitignored); with MSGHUB_UPDATE_SCREENSHOTS=1, `readme`
 * also goes to docs/img/ (committed, shown in README.md). */
export async function screenshot(page: Page, name: string, readme = false): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  if (readme && process.env.MSGHUB_UPDATE_SCREENSHOTS === '1') {
    mkdirSync(path.join(ROOT, 'docs/img'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'docs/img', `${name}.png`), fullPage: true });
  }
}
