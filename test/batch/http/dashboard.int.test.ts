import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer, createRunQueue, type RunQueue } from '../../../batch/index.js';
import { silentLogger } from '../../../core/index.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';
import { findChromium, launchChromium } from '../../helpers/browser.js';
import { SIX_DISCREPANCIES, insertRunFixture, type FixtureRun } from '../../helpers/report-fixtures.js';

const TOKEN = 'dashboard-test-token-0123456789';
const ARTIFACTS = resolve('test-artifacts');

describe('dashboard in headless Chromium', () => {
  let env: TestEnv;
  let queue: RunQueue;
  let app: FastifyInstance;
  let base: string;
  let browser: BrowserContext | undefined;
  let profile: string;
  let run: FixtureRun;

  beforeAll(async () => {
    // Fail, do not skip: a dashboard nobody looked at is not tested.
    await findChromium();
    env = await createTestEnv({ topics: false, roles: true, env: { RECON_API_TOKEN: TOKEN } });
    ({ run } = await insertRunFixture(env.dbs, { discrepancies: SIX_DISCREPANCIES }));
    queue = createRunQueue(env.config);
    app = await createApiServer({ config: env.config, dbs: env.app, log: silentLogger, runQueue: queue });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    profile = await mkdtemp(join(tmpdir(), 'recon-chromium-'));
    browser = await launchChromium(profile, { viewport: { width: 1280, height: 900 } });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await queue?.close();
    await env?.cleanup();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('shows the recent runs, the drift chart and discrepancies by kind; saves a screenshot', async () => {
    const page = await browser!.newPage();
    // The token in the URL once: the server sets its cookie and redirects to a clean URL.
    const response = await page.goto(`${base}/?token=${TOKEN}`);
    expect(response?.status()).toBe(200);
    expect(new URL(page.url()).search).toBe('');
    await expect(page.title()).resolves.toBe('recon dashboard');

    const runRows = page.locator('#runs tr.run');
    expect(await runRows.count()).toBe(14);
    expect(await runRows.first().getAttribute('data-run')).toBe(run.id);
    expect(await runRows.first().locator('td').nth(6).innerText()).toBe('6');

    const bars = page.locator('#drift-chart g.bar');
    expect(await bars.count()).toBe(14);
    expect(await bars.last().getAttribute('data-value')).toBe('6');
    // Bars are drawn to scale: the oldest run found 0, the 13th 12, the latest 6.
    const height = async (i: number) => (await bars.nth(i).locator('rect').boundingBox())!.height;
    expect(await bars.nth(12).getAttribute('data-value')).toBe('12');
    expect(await height(0)).toBeLessThanOrEqual(1.5);
    expect(await height(12)).toBeGreaterThan(100);
    expect(Math.abs((await height(12)) - 2 * (await height(13)))).toBeLessThan(2);

    const kinds = await page
      .locator('#open tr.kind')
      .evaluateAll((rows) =>
        rows.map((r) => [
          r.getAttribute('data-kind'),
          ...Array.from(r.querySelectorAll('td.n'), (td: { textContent: string | null }) => Number(td.textContent)),
        ]),
      );
    // detected, queued, failed, resolved, held, dismissed
    expect(kinds).toEqual([
      ['missing_grant', 0, 0, 1, 2, 0, 0],
      ['orphan_grant', 0, 1, 0, 0, 0, 0],
      ['unpublished_event', 1, 1, 0, 0, 0, 0],
    ]);
    expect(await page.locator('a[href="/admin/queues"]').count()).toBe(1);

    await mkdir(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);

    // bull-board (a script app) loads behind the same cookie and lists the run queue.
    await page.goto(`${base}/admin/queues`);
    await page.getByText('recon-runs').first().waitFor({ timeout: 20_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'bull-board.png') });
    await page.close();
  });
});
