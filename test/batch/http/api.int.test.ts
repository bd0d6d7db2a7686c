import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer, createRunQueue, type ExecuteRun, type RunQueue, type RunSummary } from '../../../batch/index.js';
import { discrepancyId, silentLogger, type CheckName } from '../../../core/index.js';
import { recordDiscrepancies } from '../../../db/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';

const TOKEN = 'test-token-0123456789abcdef';

/**
 * A stand-in for the run orchestration: records a run with five
 * missing grants (the same entities every time) the way `executeRun` does.
 */
const fakeExecuteRun: ExecuteRun = async ({ dbs }, options) => {
  const runId = options.runId ?? randomUUID();
  const startedAt = new Date();
  await dbs.recon('runs').insert({ id: runId, trigger: options.trigger, checks: options.checks, dry_run: options.dryRun ?? false });
  const check: CheckName = 'users-vs-points';
  const windowStart = new Date('2026-01-01T00:00:00Z');
  const windowEnd = new Date('2026-01-01T01:00:00Z');
  const found = Array.from({ length: 5 }, (_, i) => {
    const user = `00000000-0000-4000-8000-00000000000${i}`;
    return {
      id: discrepancyId(check, 'missing_grant', user),
      check_name: check,
      kind: 'missing_grant' as const,
      entity_type: 'user',
      entity_id: user,
      window_start: windowStart,
      window_end: windowEnd,
      details: { userId: user },
    };
  });
  await recordDiscrepancies(dbs.recon, runId, found);
  await dbs
    .recon('run_windows')
    .insert({ run_id: runId, check_name: check, window_start: windowStart, window_end: windowEnd, counts: JSON.stringify({ missing_grant: 5 }) });
  await dbs.recon('watermarks').insert({ check_name: check, watermark: windowEnd, last_run_id: runId }).onConflict('check_name').merge();
  const counts = { [check]: { missing_grant: 5 } };
  await dbs
    .recon('runs')
    .where({ id: runId })
    .update({ status: 'completed', finished_at: new Date(), windows: 1, counts: JSON.stringify(counts) });
  const summary: RunSummary = {
    runId,
    status: 'completed',
    trigger: options.trigger,
    checks: options.checks,
    dryRun: false,
    windows: 1,
    counts,
    queued: [],
    startedAt,
    finishedAt: new Date(),
  };
  return summary;
};

describe('HTTP API over real HTTP (injected executeRun)', () => {
  let env: TestEnv;
  let queue: RunQueue;
  let app: FastifyInstance;
  let base: string;
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    env = await createTestEnv({ roles: true, env: { RECON_API_TOKEN: TOKEN, REPORT_POLICY: 'never' } });
    queue = createRunQueue(env.config);
    app = await createApiServer({ config: env.config, dbs: env.app, log: silentLogger, runQueue: queue, admin: env.admin, executeRun: fakeExecuteRun });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
    await queue?.close();
    await env?.cleanup();
  });

  it('requires the bearer token everywhere but /healthz; a browser gets a cookie from ?token=', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    for (const path of ['/api/runs', '/api/discrepancies', '/metrics', '/', '/admin/queues']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect((await fetch(`${base}/api/runs`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await fetch(`${base}/api/runs`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${base}/admin/queues`, { headers: auth })).status).toBe(200);

    const login = await fetch(`${base}/?token=${TOKEN}`, { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/');
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^recon_session=[\w-]{43}; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(TOKEN);
    const page = await fetch(`${base}/`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<title>recon dashboard<\/title>/);
  });

  it('answers a bad request with 400 naming the field', async () => {
    const post = async (body: string) => {
      const res = await fetch(`${base}/api/runs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
      return { status: res.status, body: (await res.json()) as { error: string; field: string; message: string } };
    };
    expect(await post(JSON.stringify({ from: 'yesterday', to: '2026-01-02T00:00:00Z' }))).toEqual({
      status: 400,
      body: { error: 'bad request', field: 'from', message: 'must be an ISO-8601 timestamp such as 2026-11-21T00:00:00Z' },
    });
    expect((await post(JSON.stringify({ from: '2026-01-01T00:00:00Z' }))).body.field).toBe('to');
    expect((await post(JSON.stringify({ from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' }))).body).toMatchObject({
      field: 'to',
      message: 'must be after from',
    });
    expect((await post(JSON.stringify({ from: '2026-02-30T00:00:00Z', to: '2026-03-02T00:00:00Z' }))).body.field).toBe('from');
    expect(await post(JSON.stringify({ from: '0001-01-01T00:00:00Z', to: '9999-12-31T00:00:00Z', dryRun: true }))).toMatchObject({
      status: 400,
      body: { field: 'from', message: expect.stringMatching(/windows of 3600 s; at most 100000 per run/) },
    });
    expect((await post(JSON.stringify({ checks: ['users-vs-nothing'] }))).body.field).toBe('checks');
    expect((await post(JSON.stringify({ dryRun: 'yes' }))).body).toMatchObject({ field: 'dryRun', message: 'must be true or false' });
    expect((await post(JSON.stringify({ window: 3 }))).body).toMatchObject({ field: 'window', message: 'is not a known field' });
    expect(await post('{"checks":')).toMatchObject({ status: 400, body: { field: 'body' } });

    const get = async (path: string) => {
      const res = await fetch(`${base}${path}`, { headers: auth });
      return { status: res.status, body: (await res.json()) as { field: string } };
    };
    expect(await get('/api/discrepancies?kind=lost_sock')).toMatchObject({ status: 400, body: { field: 'kind' } });
    expect(await get('/api/discrepancies?run=42')).toMatchObject({ status: 400, body: { field: 'run' } });
    expect(await get('/api/runs?limit=0')).toMatchObject({ status: 400, body: { field: 'limit' } });
    expect(await get('/api/runs?cursor=garbage')).toMatchObject({ status: 400, body: { field: 'cursor' } });
    expect(await get('/api/runs/not-a-uuid')).toMatchObject({ status: 400, body: { field: 'id' } });
    expect((await fetch(`${base}/api/runs/${randomUUID()}`, { headers: auth })).status).toBe(404);
  });

  it('starts a run with POST (202 + id), serves its counts, pages its discrepancies and exports metrics', async () => {
    const res = await fetch(`${base}/api/runs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ checks: ['users-vs-points'] }),
    });
    expect(res.status).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    expect(res.headers.get('location')).toBe(`/api/runs/${runId}`);

    type RunView = { status: string; countsByKind: Record<string, number>; windows: unknown[]; compensation: { pending: number }; trigger: string };
    const run = await waitFor('the run to complete', async () => {
      const r = (await (await fetch(`${base}/api/runs/${runId}`, { headers: auth })).json()) as RunView;
      return r.status === 'completed' ? r : undefined;
    });
    expect(run.trigger).toBe('api');
    expect(run.countsByKind).toEqual({ missing_grant: 5 });
    expect(run.windows).toHaveLength(1);
    expect(run.compensation.pending).toBe(5);

    const listed = (await (await fetch(`${base}/api/runs`, { headers: auth })).json()) as { items: { id: string; total: number }[] };
    expect(listed.items.map((r) => [r.id, r.total])).toContainEqual([runId, 5]);

    // Cursor pagination: 2 + 2 + 1, no overlap, then no cursor.
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = (await (
        await fetch(`${base}/api/discrepancies?run=${runId}&kind=missing_grant&status=detected&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { headers: auth })
      ).json()) as { items: { id: string; kind: string }[]; nextCursor?: string };
      seen.push(...page.items.map((d) => d.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(5);

    const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
    expect(metrics).toMatch(/^recon_discrepancies\{kind="missing_grant",status="detected"\} 5$/m);
    expect(metrics).toMatch(/^# TYPE recon_compensations gauge$/m);
    expect(metrics).toMatch(/^recon_compensations\{outcome="pending"\} 0$/m);
    expect(metrics).toMatch(/^recon_run_duration_seconds_count\{trigger="api",status="completed"\} 1$/m);
    expect(metrics).toMatch(/^recon_watermark_lag_seconds\{check="users-vs-points"\} \d+/m);
    expect(metrics).toMatch(
      new RegExp(`^recon_consumer_lag\\{group="${env.config.namespace}.point-service",topic="${env.config.namespace}.user.created"\\} 0$`, 'm'),
    );

    const dashboard = await (await fetch(`${base}/`, { headers: auth })).text();
    expect(dashboard).toContain(`data-run="${runId}"`);
    expect(dashboard).toContain('href="/admin/queues"');
  });
});
