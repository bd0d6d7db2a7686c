import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compensationEnqueuer,
  createApiServer,
  createCompensationQueue,
  createRunQueue,
  executeRun,
  reportHook,
  startCompensationWorker,
  type CompensationQueue,
  type RunQueue,
  type RunningCompensationWorker,
} from '../../../batch/index.js';
import { silentLogger } from '../../../core/index.js';
import { listReports } from '../../../db/index.js';
import { createProducer, type Producer } from '../../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';
import { hoursAgo, insertGrants, insertUsers, spread } from '../../helpers/drift.js';

const TOKEN = 'api-run-test-token-0123456789';

describe('a run started by POST /api/runs, executed by the real executeRun', () => {
  let env: TestEnv;
  let runQueue: RunQueue;
  let compensationQueue: CompensationQueue;
  let producer: Producer;
  let compensations: RunningCompensationWorker;
  let app: FastifyInstance;
  let base: string;
  let reportsDir: string;
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    reportsDir = await mkdtemp(join(tmpdir(), 'recon-api-run-'));
    env = await createTestEnv({
      roles: true,
      env: { RECON_API_TOKEN: TOKEN, RECON_WINDOW_SECONDS: '3600', RECON_GRACE_SECONDS: '60', REPORT_POLICY: 'drift', RECON_REPORTS_DIR: reportsDir },
    });
    // Two hours of users: 5 granted, 3 never granted (missing_grant), and 1 grant of a user that does not exist (orphan_grant).
    const users = await insertUsers(env.dbs.users, spread(hoursAgo(3), 2 * 3600_000, 8));
    await insertGrants(env.dbs.points, users.slice(0, 5), env.config.signupBonusPoints);
    await insertGrants(env.dbs.points, [{ id: '00000000-0000-4000-8000-0000000000aa', createdAt: users[0]!.createdAt }], env.config.signupBonusPoints);

    runQueue = createRunQueue(env.config);
    compensationQueue = createCompensationQueue(env.config);
    producer = createProducer(env.kafka);
    await producer.connect();
    compensations = await startCompensationWorker(
      { config: env.config, dbs: env.app, producer, log: silentLogger },
      { concurrency: 2, sweepIntervalSeconds: 0 },
    );
    app = await createApiServer({
      config: env.config,
      dbs: env.app,
      log: silentLogger,
      runQueue,
      queues: [compensationQueue],
      admin: env.admin,
      executeRun,
      // As `recon serve` wires it: the run layer calls the report through this hook.
      afterRun: reportHook({ config: env.config, dbs: env.app, log: silentLogger, admin: env.admin }),
      enqueue: compensationEnqueuer({ db: env.app.recon, queue: compensationQueue, config: env.config }),
    });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
    await compensations?.close();
    await producer?.disconnect();
    await runQueue?.close();
    await compensationQueue?.close();
    await env?.cleanup();
    if (reportsDir) await rm(reportsDir, { recursive: true, force: true });
  });

  it('answers 202 with the run id, the run completes, its counts and compensation progress are served, and its report is written', async () => {
    const res = await fetch(`${base}/api/runs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ checks: ['users-vs-points'] }),
    });
    expect(res.status).toBe(202);
    const { runId } = (await res.json()) as { runId: string };

    type RunView = {
      status: string;
      trigger: string;
      windowCount: number;
      windows: { check: string }[];
      counts: Record<string, Record<string, number>>;
      countsByKind: Record<string, number>;
      compensation: { resolved: number; failed: number; pending: number };
    };
    const get = async () => (await (await fetch(`${base}/api/runs/${runId}`, { headers: auth })).json()) as RunView;
    const done = await waitFor('the run to complete', async () => ((await get()).status === 'completed' ? get() : undefined), { timeoutMs: 60_000 });
    expect(done.trigger).toBe('api');
    expect(done.counts).toEqual({ 'users-vs-points': { missing_grant: 3, orphan_grant: 1 } });
    expect(done.countsByKind).toEqual({ missing_grant: 3, orphan_grant: 1 });
    expect(done.windowCount).toBeGreaterThanOrEqual(2);
    expect(done.windows.every((w) => w.check === 'users-vs-points')).toBe(true);

    // The compensations it queued are applied by the worker: progress reaches 4 resolved.
    const settled = await waitFor(
      'the compensations to resolve',
      async () => {
        const r = await get();
        return r.compensation.resolved === 4 ? r : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(settled.compensation).toMatchObject({ resolved: 4, failed: 0, pending: 0 });

    const listed = (await (await fetch(`${base}/api/discrepancies?run=${runId}&status=resolved`, { headers: auth })).json()) as { items: { kind: string }[] };
    expect(listed.items.map((d) => d.kind).sort()).toEqual(['missing_grant', 'missing_grant', 'missing_grant', 'orphan_grant']);

    // REPORT_POLICY=drift and no SMTP: the report of the run is written as files.
    const [report] = await waitFor('the report', async () => {
      const r = await listReports(env.dbs.recon, runId);
      return r.length ? r : undefined;
    });
    expect(report!.subject).toBe(`recon: 4 discrepancies in run ${runId.slice(0, 8)} (users-vs-points)`);
    expect(existsSync(join(reportsDir, `${runId}.html`))).toBe(true);
    expect(existsSync(join(reportsDir, `${runId}.eml`))).toBe(true);
  });
});
