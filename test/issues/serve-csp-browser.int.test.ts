// Root cause: recon serve sent no Content-Security-Policy and no framing rules; this checks in a real browser that the policy it now sends lets the dashboard and bull-board work without a single violation, and that what a browser does cross-site (framing, a no-cors POST) is refused.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueRun } from '../../batch/index.js';
import { launchChromium } from '../helpers/browser.js';
import { SIX_DISCREPANCIES, insertRunFixture } from '../helpers/report-fixtures.js';
import { serve, TOKEN, type Served } from './serve-helpers.js';

interface Watched {
  page: Page;
  /** `securitypolicyviolation` events and console lines about the policy. */
  violations: string[];
  errors: string[];
}

/** A page that records every CSP violation (from the first byte: the listener is installed before any document). */
async function watchedPage(browser: BrowserContext): Promise<Watched> {
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

/** A page of another origin: serves `html` at `/` on its own loopback port. */
async function otherOrigin(html: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // localhost, not 127.0.0.1: another host name is another site, as an attacker's page would be.
  return { url: `http://localhost:${(server.address() as { port: number }).port}/`, server };
}

describe('issue 11.6: the dashboard and bull-board work under their CSP in Chromium', () => {
  let s: Served;
  let browser: BrowserContext;
  let profile: string;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN } });
    await insertRunFixture(s.env.dbs, { discrepancies: SIX_DISCREPANCIES });
    await queueRun(s.queue, { trigger: 'api', checks: ['users-vs-points'], dryRun: true });
    profile = await mkdtemp(join(tmpdir(), 'recon-csp-'));
    browser = await launchChromium(profile, { viewport: { width: 1280, height: 900 } });
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('renders the dashboard with no violation', async () => {
    const w = await watchedPage(browser);
    const res = await w.page.goto(`${s.base}/?token=${TOKEN}`, { waitUntil: 'load' });
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toMatch(/style-src 'self' 'sha256-/);
    await expect(w.page.title()).resolves.toBe('recon dashboard');
    expect(w.violations).toEqual([]);
    // The inline <style> applied: the header has its dark background.
    expect(await w.page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")).toBe('rgb(38, 50, 56)');
    expect(await w.page.locator('#drift-chart g.bar').count()).toBeGreaterThan(0);
    expect(w.violations).toEqual([]);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });

  it('renders bull-board, its queue page and a job, with no violation', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(`${s.base}/?token=${TOKEN}`);
    const res = await w.page.goto(`${s.base}/admin/queues`, { waitUntil: 'load' });
    expect(res?.headers()['content-security-policy']).toMatch(/script-src 'self';.*base-uri 'self'/);
    await w.page.getByText('recon-runs').first().waitFor({ timeout: 20_000 });
    // Its stylesheet applied (the loading placeholder is replaced by the styled app).
    expect(await w.page.locator('#root').evaluate((r) => r.children.length)).toBeGreaterThan(0);
    await w.page.goto(`${s.base}/admin/queues/queue/recon-runs?status=waiting`, { waitUntil: 'load' });
    await w.page.getByText('recon-runs').first().waitFor({ timeout: 20_000 });
    await w.page.waitForLoadState('networkidle');
    expect(w.violations).toEqual([]);
    expect(w.errors).toEqual([]);
    await w.page.close();
  });
});

/** A TCP relay to `port` that counts the requests it forwards whose first line matches `line`: proof that they reached the server. */
async function countingRelay(port: number, line: RegExp): Promise<{ port: number; count: () => number; server: TcpServer }> {
  let count = 0;
  const server = createTcpServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    client.on('data', (chunk) => (count += chunk.toString('latin1').match(new RegExp(line.source, 'gm'))?.length ?? 0));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, count: () => count, server };
}

describe('issues 11.1 and 11.6: what a page of another site can do to a server without a token', () => {
  let s: Served;
  let browser: BrowserContext;
  let profile: string;
  beforeAll(async () => {
    // Without a token nothing else stands in the way: no cookie a cross-site frame would lack.
    s = await serve();
    profile = await mkdtemp(join(tmpdir(), 'recon-csrf-'));
    browser = await launchChromium(profile);
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('cannot frame the dashboard', async () => {
    const attacker = await otherOrigin(`<!DOCTYPE html><iframe id="f" src="${s.base}/" width="800" height="600"></iframe>`);
    try {
      const w = await watchedPage(browser);
      await w.page.goto(attacker.url, { waitUntil: 'load' });
      const frame = await (await w.page.$('#f'))!.contentFrame();
      // The framed document is Chromium's error page, never the dashboard.
      expect(await frame?.title().catch(() => '')).not.toBe('recon dashboard');
      await w.page.close();
    } finally {
      attacker.server.close();
    }
  });

  it('cannot queue a run with a no-cors POST, with or without a body', async () => {
    const relay = await countingRelay(s.port, /^POST \/api\/runs HTTP/);
    const target = `http://127.0.0.1:${relay.port}/api/runs`;
    const attacker = await otherOrigin(
      `<!DOCTYPE html><script>
        const post = (init) => fetch('${target}', { method: 'POST', mode: 'no-cors', ...init }).then(() => 'answered', () => 'blocked');
        Promise.all([post({}), post({ body: '{"dryRun":false}' }), post({ headers: { 'content-type': 'text/plain' }, body: '{}' })])
          .then((r) => { document.title = r.join(','); });
      </script>`,
    );
    try {
      const page = await browser.newPage();
      await page.goto(attacker.url);
      await page.waitForFunction("document.title !== ''", undefined, { timeout: 10_000 });
      // All three reached the server (the browser then hides the answers: Cross-Origin-Resource-Policy).
      expect(relay.count()).toBe(3);
      expect(Object.values(await s.queue.getJobCounts()).reduce((a, b) => a + b, 0)).toBe(0);
      await page.close();
    } finally {
      attacker.server.close();
      relay.server.close();
    }
  });
});
