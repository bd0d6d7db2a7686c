/**
 * Helpers of the console's browser tests: pages that record CSP violations
 * and script errors, screenshots kept under `test-artifacts/console/`, and
 * the form fields of a page.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';

/** Where the screenshots go (git-ignored). */
export const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts', 'console');

export interface Watched {
  page: Page;
  /** `securitypolicyviolation` events and console lines about the policy. */
  violations: string[];
  /** Uncaught script errors. */
  errors: string[];
}

/** A page that records every CSP violation from its first byte (the listener is installed before any document). */
export async function watchedPage(browser: BrowserContext): Promise<Watched> {
  const page = await browser.newPage();
  const w: Watched = { page, violations: [], errors: [] };
  await page.exposeFunction('__reportViolation', (v: string) => void w.violations.push(v));
  // Browser code as text: the project compiles without the DOM's types.
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) =>
      window.__reportViolation(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')'));`,
  });
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) w.violations.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (err) => w.errors.push(err.message));
  return w;
}

/** Save a full-page screenshot as `test-artifacts/console/<name>.png`; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Whether a script planted in the data ran: it would set `window.__pwned`. */
export async function pwned(page: Page): Promise<unknown> {
  return page.evaluate('window.__pwned');
}
