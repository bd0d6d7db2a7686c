/**
 * The operator console clicked through in headless Chromium, over a real run
 * of drifted data (Postgres, Redis, Kafka, a compensation worker in the test):
 * the runs list and its filters, a run's page and report, discrepancies with
 * their human columns and evidence, dead letters, lag, and the actions
 * (a dry run, retrying failed compensations, replaying a dead letter), each
 * behind its confirmation; then the viewer token, which sees every page and
 * no working button, and forged POSTs, which change nothing. `<script>` in a
 * user's e-mail and in a dead letter's topic stays text. Every page is
 * checked for CSP violations and saved under test-artifacts/console/.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compensationEnqueuer,
  createCompensationQueue,
  executeRun,
  startCompensationWorker,
  waitForCompensations,
  type CompensationQueue,
  type RunningCompensationWorker,
} from '../../../batch/index.js';
import { CONSUMER_GROUPS, namespaced, silentLogger } from '../../../core/index.js';
import { createProducer, type Producer } from '../../../streaming/index.js';
import { launchChromium } from '../../helpers/browser.js';
import { pwned, screenshot, watchedPage, type Watched } from '../../helpers/console.js';
import { hoursAgo, insertDeadLetters, insertGrants, insertUsers, spread } from '../../helpers/drift.js';
import { waitFor } from '../../helpers/env.js';
import { cookiePair, raw, serve, TOKEN, type Served } from '../../issues/serve-helpers.js';

const READ_TOKEN = 'viewer-token-0123456789abcdef';
const SCRIPT_EMAIL = `<script>window.__pwned=1</script>@example.test`;
const SCRIPT_TOPIC = `<script>window.__pwned=2</script>`;

describe('the operator console in Chromium', () => {
  let s: Served;
  let browser: BrowserContext;
  let profile: string;
  let queue: CompensationQueue;
  let producer: Producer;
  let worker: RunningCompensationWorker | undefined;
  let runId: string;
  let heldRunId: string;
  let missingUser: string;
  let heldMissing: string[];
  const shots: string[] = [];

  /** Open `path` as the current session, check it rendered without a violation, and keep a screenshot. */
  async function open(w: Watched, path: string, shot: string) {
    const res = await w.page.goto(`${s.base}${path}`, { waitUntil: 'load' });
    expect(res?.status(), path).toBe(200);
    shots.push(await screenshot(w.page, shot));
    expect(w.violations, path).toEqual([]);
    expect(w.errors, path).toEqual([]);
    expect(await pwned(w.page), path).toBeUndefined();
    return res!;
  }

  beforeAll(async () => {
    s = await serve({
      env: { RECON_API_TOKEN: TOKEN, RECON_API_READ_TOKEN: READ_TOKEN },
      deps: (env) => {
        queue = createCompensationQueue(env.config);
        return {
          compensationQueue: queue,
          kafka: env.kafka,
          admin: env.admin,
          executeRun,
          enqueue: compensationEnqueuer({ db: env.dbs.recon, queue, config: env.config }),
        };
      },
    });
    const env = s.env;
    producer = createProducer(env.kafka);
    await producer.connect();

    // Drift in a past window: a user without a grant (its e-mail carries a script), two orphan grants,
    // a clean user, and a dead letter whose topic name carries a script.
    const from = hoursAgo(3);
    const at = spread(new Date(from.getTime() + 60_000), 3000_000, 5);
    const users = await insertUsers(env.dbs.users, at.slice(0, 2));
    missingUser = users[0]!.id;
    await env.dbs.users('users').where({ id: missingUser }).update({ email: SCRIPT_EMAIL });
    await insertGrants(env.dbs.points, [users[1]!], 1000);
    const orphans = at.slice(2, 4).map((createdAt) => ({ id: randomUUID(), createdAt }));
    await insertGrants(env.dbs.points, orphans, 1000);
    await insertDeadLetters(env.dbs.points, namespaced(env.config, CONSUMER_GROUPS.pointService), SCRIPT_TOPIC, [null], new Date(at[4]!));

    const summary = await executeRun(
      { config: env.config, dbs: env.dbs, log: silentLogger, enqueue: compensationEnqueuer({ db: env.dbs.recon, queue, config: env.config }) },
      { checks: ['users-vs-points', 'outbox-vs-consumed'], trigger: 'test', from, to: new Date(from.getTime() + 3600_000) },
    );
    expect(summary.status).toBe('completed');
    runId = summary.runId;
    worker = await startCompensationWorker({ config: env.config, dbs: env.dbs, producer }, { concurrency: 2, sweepIntervalSeconds: 0 });
    await waitForCompensations({ db: env.dbs.recon }, summary.queued, { timeoutMs: 60_000, intervalMs: 200 });

    // Another window, more findings than the guard lets through (RECON_AUTO_COMPENSATE_LIMIT=2):
    // two users without grants and two orphan grants, all held by the guard's code path.
    const heldFrom = hoursAgo(6);
    const heldAt = spread(new Date(heldFrom.getTime() + 60_000), 3000_000, 4);
    heldMissing = (await insertUsers(env.dbs.users, heldAt.slice(0, 2))).map((u) => u.id);
    await insertGrants(
      env.dbs.points,
      heldAt.slice(2).map((createdAt) => ({ id: randomUUID(), createdAt })),
      1000,
    );
    const guarded = { ...env.config, compensation: { ...env.config.compensation, guard: { ...env.config.compensation.guard, limit: 2 } } };
    const heldRun = await executeRun(
      { config: guarded, dbs: env.dbs, log: silentLogger, enqueue: compensationEnqueuer({ db: env.dbs.recon, queue, config: env.config }) },
      { checks: ['users-vs-points'], trigger: 'test', from: heldFrom, to: new Date(heldFrom.getTime() + 3600_000) },
    );
    expect(heldRun.queued).toEqual([]);
    expect(heldRun.held?.['users-vs-points']?.compensable).toBe(4);
    heldRunId = heldRun.runId;

    profile = await mkdtemp(join(tmpdir(), 'recon-console-'));
    browser = await launchChromium(profile, { viewport: { width: 1360, height: 900 } });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await worker?.close();
    await producer?.disconnect();
    await queue?.close();
    await s?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    // The closing note lists these.
    if (shots.length) process.stdout.write(`console screenshots:\n${shots.map((p) => `  ${p}`).join('\n')}\n`);
  });

  it('lists runs, filters them by trigger, status and date, and opens a run with its windows, counts and report', async () => {
    const w = await watchedPage(browser);
    await w.page.goto(`${s.base}/?token=${TOKEN}`);
    await open(w, '/', 'home');
    await w.page.getByRole('link', { name: 'runs', exact: true }).first().click();
    await w.page.waitForURL(/\/runs$/);
    expect(await w.page.locator('#runs tbody tr').count()).toBe(2);
    // Filter to a trigger the run does not have, then to its own.
    await w.page.selectOption('#run-filters select[name=trigger]', 'cron');
    await w.page.click('#run-filters button');
    expect(await w.page.locator('#runs tbody tr').count()).toBe(0);
    await w.page.selectOption('#run-filters select[name=trigger]', 'test');
    await w.page.selectOption('#run-filters select[name=status]', 'completed');
    await w.page.fill('#run-filters input[name=from]', new Date().toISOString().slice(0, 10));
    await w.page.click('#run-filters button');
    expect(await w.page.locator('#runs tbody tr').count()).toBe(2);
    // A start date after today's runs leaves none.
    await w.page.fill('#run-filters input[name=from]', new Date(Date.now() + 86_400_000).toISOString().slice(0, 10));
    await w.page.click('#run-filters button');
    expect(await w.page.locator('#runs tbody tr').count()).toBe(0);
    await w.page.fill('#run-filters input[name=from]', new Date().toISOString().slice(0, 10));
    await w.page.click('#run-filters button');
    shots.push(await screenshot(w.page, 'runs-filtered'));
    // A bad date names its field.
    const bad = await w.page.goto(`${s.base}/runs?from=yesterday`);
    expect(bad?.status()).toBe(400);
    expect(await w.page.locator('.notice.error').innerText()).toContain('from:');

    await open(w, '/runs', 'runs');
    await w.page.locator(`#runs a[href="/runs/${runId}"]`).click();
    await w.page.waitForURL(new RegExp(`/runs/${runId}$`));
    shots.push(await screenshot(w.page, 'run'));
    expect(await w.page.locator('#windows tbody tr').count()).toBe(2);
    expect(await w.page.locator('#status-counts').innerText()).toMatch(/orphan_grant\s+0\s+0\s+2\s+0/);
    expect(await w.page.locator('#progress').innerText()).toBe('3 of 3 resolved, 0 failed, 0 pending');
    expect(await w.page.locator('#compensation').innerText()).toContain('1 report-only finding');
    expect(w.violations).toEqual([]);

    // Its report, as mailed: human columns, no script ran, the planted topic is text.
    const [report] = await Promise.all([w.page.waitForResponse(/\/report$/), w.page.click('#report-link')]);
    await w.page.waitForURL(/\/report$/);
    // Mail HTML keeps its inline styles, in a sandbox where no script runs.
    expect(report.headers()['content-security-policy']).toMatch(/script-src 'none'.*sandbox/);
    expect(await w.page.locator('table.examples[data-kind="orphan_grant"] th').first().innerText()).toBe('user id');
    expect(await w.page.title()).toMatch(/discrepancies in run/);
    expect(await w.page.locator('body').innerText()).toContain(SCRIPT_TOPIC);
    expect(await pwned(w.page)).toBeUndefined();
    expect(w.violations).toEqual([]);
    shots.push(await screenshot(w.page, 'run-report'));
    await w.page.close();
  });

  it('opens a run with held compensations, filters them, approves one kind and sees it resolve, dismisses the other with a reason, and keeps the audit trail', async () => {
    const w = await watchedPage(browser);
    await open(w, `/runs/${heldRunId}`, 'held-run');
    expect(await w.page.locator('#held h3').innerText()).toBe('4 compensations held for approval');
    expect(await w.page.locator('#held').innerText()).toContain('RECON_AUTO_COMPENSATE_LIMIT=2');
    expect(await w.page.locator('#held-groups').innerText()).toMatch(/missing_grant\s+2[\s\S]*orphan_grant\s+2/);
    // Look first: the held orphan grants, filtered.
    await w.page.locator('#held-groups a', { hasText: 'orphan_grant' }).click();
    await w.page.waitForURL(/status=held/);
    expect(await w.page.locator('#discrepancies tbody tr').count()).toBe(2);
    expect(await w.page.locator('#discrepancies tbody').innerText()).toMatch(/held/);
    shots.push(await screenshot(w.page, 'held-filtered'));

    // Its report says so first, with what to do.
    await w.page.goto(`${s.base}/runs/${heldRunId}`);
    await w.page.click('#report-link');
    await w.page.waitForURL(/\/report$/);
    const body = await w.page.locator('body').innerText();
    expect(body.indexOf('4 compensations held for approval')).toBeGreaterThan(0);
    expect(body.indexOf('4 compensations held for approval')).toBeLessThan(body.indexOf('Discrepancies per check and kind'));
    expect(body).toContain(`recon approve --run ${heldRunId}`);
    shots.push(await screenshot(w.page, 'held-run-report'));

    // Approve the missing grants only.
    await w.page.goto(`${s.base}/runs/${heldRunId}`);
    await w.page.selectOption('#approve-form select[name=kind]', 'missing_grant');
    await w.page.check('#approve-form input[name=confirm]');
    await w.page.click('#approve-form button');
    await w.page.waitForLoadState('load');
    expect(await w.page.locator('.notice.ok').innerText()).toMatch(/Approved 2 missing_grant: 2 compensations queued/);
    await waitFor(
      'the approved grants to resolve',
      async () => {
        const rows: { status: string }[] = await s.env.dbs.recon('discrepancies').where({ kind: 'missing_grant' }).whereIn('entity_id', heldMissing);
        return rows.length === 2 && rows.every((r) => r.status === 'resolved');
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const { rows: nets } = await s.env.dbs.points.raw<{ rows: { n: number }[] }>(
      'select coalesce(sum(amount), 0)::int as n from point_ledger where user_id = any(?::uuid[])',
      [heldMissing],
    );
    expect(nets[0]!.n).toBe(2000);

    // A viewer sees the held orphans, and no button to approve or dismiss them.
    await browser.clearCookies();
    await w.page.goto(`${s.base}/runs/${heldRunId}?token=${READ_TOKEN}`);
    expect(await w.page.locator('#role').innerText()).toContain('viewer');
    expect(await w.page.locator('#held h3').innerText()).toBe('2 compensations held for approval');
    expect(await w.page.locator('#held form').count()).toBe(0);
    expect(await w.page.locator('#held button').count()).toBe(0);
    expect(await w.page.locator('#held .readonly').allInnerTexts()).toEqual([
      'Approve: needs the operator token (RECON_API_TOKEN).',
      'Dismiss: needs the operator token (RECON_API_TOKEN).',
    ]);
    shots.push(await screenshot(w.page, 'viewer-held-run'));
    await browser.clearCookies();
    await w.page.goto(`${s.base}/?token=${TOKEN}`);

    // Dismiss the orphans, with a reason; the form refuses to go without one.
    await w.page.goto(`${s.base}/runs/${heldRunId}`);
    expect(await w.page.locator('#progress').innerText()).toMatch(/2 of 4 resolved, 0 failed, 0 pending, 2 held/);
    await w.page.check('#dismiss-form input[name=confirm]');
    await w.page.click('#dismiss-form button');
    expect(w.page.url()).toMatch(new RegExp(`/runs/${heldRunId}$`)); // the required reason kept the form from posting
    await w.page.selectOption('#dismiss-form select[name=kind]', 'orphan_grant');
    await w.page.fill('#dismiss-form input[name=reason]', 'test ledger of the load generator, not real users');
    await w.page.click('#dismiss-form button');
    await w.page.waitForLoadState('load');
    expect(await w.page.locator('.notice.ok').innerText()).toMatch(/Dismissed 2/);
    expect(await w.page.locator('#held').count()).toBe(0);
    const trail = await w.page.locator('#decisions tbody tr').allInnerTexts();
    expect(trail).toHaveLength(2);
    expect(trail[0]).toMatch(/approve\tconsole:operator\tmissing_grant\t\t2/);
    expect(trail[1]).toMatch(/dismiss\tconsole:operator\torphan_grant\t\t2\ttest ledger of the load generator/);
    expect(await w.page.locator('#progress').innerText()).toMatch(/2 of 4 resolved, 0 failed, 0 pending, 2 dismissed/);
    shots.push(await screenshot(w.page, 'held-run-decided'));
    expect(w.violations).toEqual([]);
    await w.page.close();
  }, 120_000);

  it('filters discrepancies by kind and searches by user id; a discrepancy shows both sides and its history, the script e-mail as text', async () => {
    const w = await watchedPage(browser);
    await open(w, `/discrepancies?run=${runId}`, 'discrepancies');
    expect(await w.page.locator('#discrepancies tbody tr').count()).toBe(4);
    await w.page.selectOption('#discrepancy-filters select[name=kind]', 'orphan_grant');
    await w.page.click('#discrepancy-filters button');
    const headers = await w.page.locator('#discrepancies thead th').allInnerTexts();
    expect(headers.slice(0, 4)).toEqual(['user id', 'expected', 'net', 'correction']);
    expect(await w.page.locator('#discrepancies tbody tr').count()).toBe(2);
    expect(await w.page.locator('#discrepancies tbody tr').first().innerText()).toMatch(/\t0\t1000\t-1000\t/);
    shots.push(await screenshot(w.page, 'discrepancies-orphans'));

    await w.page.goto(`${s.base}/discrepancies`);
    await w.page.fill('#discrepancy-filters input[name=q]', missingUser);
    await w.page.click('#discrepancy-filters button');
    expect(await w.page.locator('#discrepancies tbody tr').count()).toBe(1);
    await w.page.locator('#discrepancies tbody tr a').first().click();
    await w.page.waitForURL(/\/discrepancies\/[0-9a-f-]{36}$/);
    // Evidence from both sides: the user row (its e-mail as plain text) and the ledger entry the compensation wrote.
    expect(await w.page.locator('#user-row').innerText()).toContain(SCRIPT_EMAIL);
    expect(await w.page.locator('#ledger-entries tbody tr').count()).toBe(1);
    expect(await w.page.locator('#ledger-entries').innerText()).toContain('compensation');
    expect(await w.page.locator('#history').innerText()).toMatch(/queued[\s\S]*resolved/);
    expect(await pwned(w.page)).toBeUndefined();
    expect(w.violations).toEqual([]);
    shots.push(await screenshot(w.page, 'discrepancy'));

    // The dead letter's discrepancy: event columns, its topic as text.
    await open(w, `/discrepancies?kind=dead_lettered_event`, 'discrepancies-dead-lettered');
    expect(await w.page.locator('#discrepancies tbody').innerText()).toContain(SCRIPT_TOPIC);
    await w.page.close();
  });

  it('lists dead letters and lag, the planted topic as text', async () => {
    const w = await watchedPage(browser);
    await open(w, '/dead-letters', 'dead-letters');
    expect(await w.page.locator('#dead-letters tbody').innerText()).toContain(SCRIPT_TOPIC);
    expect(await w.page.locator('#dead-letters tbody tr').first().innerText()).toMatch(/PoisonError: cannot apply/);
    await open(w, '/lag', 'lag');
    expect(await w.page.locator('#watermark-lag tbody tr').count()).toBe(0); // a range re-check moves no watermark
    expect(await w.page.locator('#consumer-lag').count()).toBe(1);
    await w.page.close();
  });

  it('starts a dry run from the console after its confirmation, and follows it to completion', async () => {
    const w = await watchedPage(browser);
    await open(w, '/actions/run', 'action-run');
    const from = hoursAgo(3);
    await w.page.fill('#run-form input[name=from]', from.toISOString());
    await w.page.fill('#run-form input[name=to]', new Date(from.getTime() + 3600_000).toISOString());
    // Without the confirmation the browser does not send the form.
    await w.page.click('#run-form button');
    expect(w.page.url()).toMatch(/\/actions\/run$/);
    await w.page.check('#run-form input[name=confirm]');
    await w.page.click('#run-form button');
    await w.page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    const dryId = w.page.url().split('/').pop()!;
    await waitFor(
      'the dry run to complete',
      async () => {
        await w.page.reload();
        return /completed/.test(await w.page.locator('#run').innerText());
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(await w.page.locator('#run').innerText()).toMatch(/dry run\s+yes/);
    // The drift is still there for a dry run to see (compensated users net right: only the dead letter stays).
    expect(await w.page.locator('#found').innerText()).toContain('dead_lettered_event');
    shots.push(await screenshot(w.page, 'dry-run'));
    expect(await s.env.dbs.recon('runs').where({ id: dryId }).first()).toBeUndefined();
    expect(w.violations).toEqual([]);
    await w.page.close();
  });

  it('retries a failed compensation from the console and sees it resolve', async () => {
    // The orphan revocations resolved; one is marked failed as if its attempts had run out during an outage.
    const orphan: { id: string } = await s.env.dbs.recon('discrepancies').where({ kind: 'orphan_grant', status: 'resolved', first_run_id: runId }).first();
    await s.env.dbs
      .recon('discrepancies')
      .where({ id: orphan.id })
      .update({ status: 'failed', failed_at: new Date(), last_error: 'KafkaJSConnectionError: broker down', attempts: 8 });
    const w = await watchedPage(browser);
    await open(w, '/actions/retry', 'action-retry');
    expect(await w.page.locator('#failed-counts').innerText()).toMatch(/orphan_grant\s+1/);
    await w.page.check('#retry-form input[name=confirm]');
    await w.page.click('#retry-form button');
    await w.page.waitForLoadState('load');
    expect(await w.page.locator('.notice.ok').innerText()).toMatch(/queued 1 compensations/);
    shots.push(await screenshot(w.page, 'action-retry-done'));
    await waitFor(
      'the retried compensation to resolve',
      async () => (await s.env.dbs.recon('discrepancies').where({ id: orphan.id }).first()).status === 'resolved',
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
    await w.page.goto(`${s.base}/discrepancies/${orphan.id}`);
    expect(await w.page.locator('#history').innerText()).toMatch(/status now\s+resolved/);
    expect(w.violations).toEqual([]);
    await w.page.close();
  });

  it('refuses forged POSTs: no CSRF token, another session’s token, and no confirmation', async () => {
    const cookie = (await browser.cookies(s.base)).map((c) => `${c.name}=${c.value}`).join('; ');
    const form = { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: s.base };
    const before = Object.values(await s.queue.getJobCounts()).reduce((a, b) => a + b, 0);
    const noToken = await raw(s.port, { method: 'POST', path: '/actions/run', headers: form, body: 'checks=all&dryRun=yes&confirm=yes' });
    expect(noToken.status).toBe(403);
    expect(noToken.text).toContain('CSRF');
    // A token of another session (a fresh login) is not this session's.
    const other = await raw(s.port, { path: `/actions/run?token=${TOKEN}` });
    const otherCookie = cookiePair(other.headers['set-cookie']);
    const otherPage = await raw(s.port, { path: '/actions/run', headers: { cookie: otherCookie } });
    const otherToken = /name="_csrf" value="([^"]+)"/.exec(otherPage.text)![1]!;
    const forged = await raw(s.port, { method: 'POST', path: '/actions/run', headers: form, body: `_csrf=${otherToken}&checks=all&dryRun=yes&confirm=yes` });
    expect(forged.status).toBe(403);
    // The right token without the confirmation changes nothing either.
    const own = await raw(s.port, { path: '/actions/run', headers: { cookie } });
    const ownToken = /name="_csrf" value="([^"]+)"/.exec(own.text)![1]!;
    const unconfirmed = await raw(s.port, { method: 'POST', path: '/actions/run', headers: form, body: `_csrf=${ownToken}&checks=all&dryRun=yes` });
    expect(unconfirmed.status).toBe(400);
    expect(Object.values(await s.queue.getJobCounts()).reduce((a, b) => a + b, 0)).toBe(before);
  });

  it('gives the viewer token every page and no working button; its POSTs are 403 on the console and the API', async () => {
    const w = await watchedPage(browser);
    // Another person's browser: the operator's session is gone, the viewer logs in with the viewer token.
    await browser.clearCookies();
    await w.page.goto(`${s.base}/?token=${READ_TOKEN}`);
    for (const [path, shot] of [
      [`/runs/${runId}`, 'viewer-run'],
      ['/actions/run', 'viewer-action-run'],
      ['/actions/retry', 'viewer-action-retry'],
      ['/actions/replay', 'viewer-action-replay'],
    ] as const) {
      await open(w, path, shot);
      expect(await w.page.locator('#role').innerText()).toContain('viewer');
      expect(await w.page.locator('form[method=post]').count(), path).toBe(0);
      expect(await w.page.locator('button[type=submit]').count(), path).toBe(0);
    }
    expect(await w.page.locator('.readonly').count()).toBeGreaterThan(0);
    // A viewer session that forges the form (with its own valid CSRF token) is refused before any route runs.
    const cookie = (await browser.cookies(s.base)).map((c) => `${c.name}=${c.value}`).join('; ');
    const page = await raw(s.port, { path: `/runs/${runId}`, headers: { cookie } });
    expect(page.status).toBe(200);
    const before = Object.values(await s.queue.getJobCounts()).reduce((a, b) => a + b, 0);
    const headers = { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: s.base };
    for (const path of ['/actions/run', '/actions/retry', '/actions/replay', `/runs/${runId}/approve`, `/runs/${runId}/dismiss`]) {
      const r = await raw(s.port, { method: 'POST', path, headers, body: 'checks=all&dryRun=yes&confirm=yes&reason=x' });
      expect(r.status, path).toBe(403);
    }
    const api = await raw(s.port, {
      method: 'POST',
      path: '/api/runs',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${READ_TOKEN}` },
      body: '{"dryRun":true}',
    });
    expect(api.status).toBe(403);
    expect(api.json().message).toContain('RECON_API_READ_TOKEN');
    // bull-board's actions too (its own API, PUT).
    const board = await raw(s.port, {
      method: 'PUT',
      path: '/admin/queues/api/queues/recon-runs/retry/failed',
      headers: { authorization: `Bearer ${READ_TOKEN}` },
    });
    expect(board.status).toBe(403);
    // The viewer reads the API.
    expect((await raw(s.port, { path: `/api/runs/${runId}`, headers: { authorization: `Bearer ${READ_TOKEN}` } })).status).toBe(200);
    expect(Object.values(await s.queue.getJobCounts()).reduce((a, b) => a + b, 0)).toBe(before);
    await w.page.close();
  });
});
