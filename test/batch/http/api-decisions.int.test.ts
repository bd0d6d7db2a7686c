import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import {
  compensationEnqueuer,
  createApiServer,
  createCompensationQueue,
  createRunQueue,
  executeRun,
  type CompensationQueue,
  type RunQueue,
} from '../../../batch/index.js';
import { CHECK_NAMES, silentLogger } from '../../../core/index.js';
import { hoursAgo, insertUsers, spread } from '../../helpers/drift.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';

const TOKEN = 'test-token-0123456789abcdef';
const UVP = CHECK_NAMES.usersVsPoints;

/** Approve and dismiss held compensations over real HTTP, with the operator token; a real run holds them first. */
describe('POST /api/runs/:id/approve and /dismiss', () => {
  let env: TestEnv;
  let runQueue: RunQueue;
  let compensationQueue: CompensationQueue;
  let app: FastifyInstance;
  let base: string;
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

  beforeAll(async () => {
    env = await createTestEnv({ env: { RECON_API_TOKEN: TOKEN, REPORT_POLICY: 'never', RECON_GRACE_SECONDS: '60', RECON_AUTO_COMPENSATE_LIMIT: '2' } });
    runQueue = createRunQueue(env.config);
    compensationQueue = createCompensationQueue(env.config);
    app = await createApiServer({ config: env.config, dbs: env.dbs, log: silentLogger, runQueue, compensationQueue });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
    await runQueue?.close();
    await compensationQueue?.close();
    await env?.cleanup();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = auth) =>
    fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });

  it('401 without the token; approves N of a kind and dismisses the rest, each in the audit trail of GET /api/runs/:id', async () => {
    const from = hoursAgo(8);
    const to = hoursAgo(6);
    await insertUsers(env.dbs.users, spread(new Date(from.getTime() + 60_000), 3600_000, 4));
    const summary = await executeRun(
      {
        config: env.config,
        dbs: env.dbs,
        log: silentLogger,
        enqueue: compensationEnqueuer({ db: env.dbs.recon, queue: compensationQueue, config: env.config }),
      },
      { checks: [UVP], trigger: 'test', from, to },
    );
    expect(summary.held?.[UVP]).toMatchObject({ reason: 'count', compensable: 4, kinds: { missing_grant: 4 } });
    const id = summary.runId;

    const before = (await (await fetch(`${base}/api/runs/${id}`, { headers: auth })).json()) as {
      held: { byCheck: Record<string, { reason: string; compensable: number; message: string }>; remaining: unknown[]; total: number };
      compensation: { held: number };
      decisions: unknown[];
    };
    expect(before.held.byCheck[UVP]).toMatchObject({ reason: 'count', compensable: 4 });
    expect(before.held.byCheck[UVP]?.message).toContain('RECON_AUTO_COMPENSATE_LIMIT=2');
    expect(before.held.remaining).toEqual([{ check: UVP, kind: 'missing_grant', count: 4 }]);
    expect(before.held.total).toBe(4);
    expect(before.compensation.held).toBe(4);
    expect(before.decisions).toEqual([]);

    expect((await post(`/api/runs/${id}/approve`, {}, { 'content-type': 'application/json' })).status).toBe(401);
    expect((await post(`/api/runs/${id}/dismiss`, { reason: 'x' }, { 'content-type': 'application/json' })).status).toBe(401);

    const badKind = await post(`/api/runs/${id}/approve`, { kind: 'phantom_event' });
    expect(badKind.status).toBe(400);
    expect(await badKind.json()).toMatchObject({ field: 'kind' });
    const badLimit = await post(`/api/runs/${id}/approve`, { limit: 0 });
    expect(badLimit.status).toBe(400);
    expect(await badLimit.json()).toMatchObject({ field: 'limit' });
    const noReason = await post(`/api/runs/${id}/dismiss`, {});
    expect(noReason.status).toBe(400);
    expect(await noReason.json()).toMatchObject({ field: 'reason' });
    expect((await post(`/api/runs/${randomUUID()}/approve`, {})).status).toBe(404);

    const approved = await post(`/api/runs/${id}/approve`, { kind: 'missing_grant', limit: 1 });
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ approved: 1, queued: 1, held: [{ check: UVP, kind: 'missing_grant', count: 3 }] });
    const jobs = await compensationQueue.getJobs(['waiting', 'active', 'delayed', 'prioritized']);
    expect(jobs.flatMap((j) => j.data.items)).toHaveLength(1);

    const dismissed = await post(`/api/runs/${id}/dismiss`, { reason: 'known test users' });
    expect(dismissed.status).toBe(200);
    expect(await dismissed.json()).toMatchObject({ dismissed: 3, held: [] });

    const after = (await (await fetch(`${base}/api/runs/${id}`, { headers: auth })).json()) as {
      held: { total: number };
      compensation: { queued: number; dismissed: number; held: number };
      decisions: { action: string; actor: string; kind: string | null; affected: number; requestedLimit: number | null; reason: string | null }[];
    };
    expect(after.held.total).toBe(0);
    expect(after.compensation).toMatchObject({ queued: 1, dismissed: 3, held: 0 });
    expect(
      after.decisions.map(({ action, actor, kind, affected, requestedLimit, reason }) => ({ action, actor, kind, affected, requestedLimit, reason })),
    ).toEqual([
      { action: 'approve', actor: 'api', kind: 'missing_grant', affected: 1, requestedLimit: 1, reason: null },
      { action: 'dismiss', actor: 'api', kind: null, affected: 3, requestedLimit: null, reason: 'known test users' },
    ]);
  }, 180_000);
});
