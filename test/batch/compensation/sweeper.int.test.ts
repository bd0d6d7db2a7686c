import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCompensationQueue,
  enqueueCompensations,
  startCompensationWorker,
  sweepCompensations,
  waitForCompensations,
  type CompensationQueue,
} from '../../../batch/index.js';
import { createProducer, type Producer } from '../../../streaming/index.js';
import { createTestEnv, deleteRedisKeys, type TestEnv } from '../../helpers/env.js';
import { effects, insertUsers, record, statuses, streamGrant } from '../../helpers/compensation-fixtures.js';

describe('the sweeper keeps Redis in line with the recon DB', () => {
  let env: TestEnv;
  let producer: Producer;
  let queue: CompensationQueue;

  beforeAll(async () => {
    env = await createTestEnv({ roles: true, pool: { max: 6 } });
    producer = createProducer(env.kafka);
    await producer.connect();
    queue = createCompensationQueue(env.config);
  });
  afterAll(async () => {
    await queue?.close();
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('Redis flushed between detection and compensation: the sweeper re-queues and everything resolves once', async () => {
    const { ids, createdAt } = await insertUsers(env.dbs, 25);
    const orphans = [crypto.randomUUID(), crypto.randomUUID()];
    await streamGrant(env.dbs, env.topics.pointGranted, orphans, createdAt);
    const queued = await record(env.dbs, [
      ...ids.slice(0, 20).map((u) => ({ kind: 'missing_grant' as const, entityId: u })),
      ...orphans.map((u) => ({ kind: 'orphan_grant' as const, entityId: u })),
    ]);
    const enqueueDeps = { db: env.dbs.recon, queue, config: { compensation: { ...env.config.compensation, batchSize: 5 } } };
    expect(await enqueueCompensations(enqueueDeps, queued)).toMatchObject({ queued: 22 });
    // Recorded by a run that had no queue: never queued at all.
    const detectedOnly = await record(
      env.dbs,
      ids.slice(20).map((u) => ({ kind: 'missing_grant' as const, entityId: u })),
    );
    expect(await queue.getJobCounts('waiting')).toMatchObject({ waiting: 5 });

    // Redis keeps nothing on disk: a restart loses every job of this namespace.
    expect(await deleteRedisKeys(env.redis, `${env.config.namespace}*`)).toBeGreaterThan(0);
    expect(await queue.getJobCounts('waiting')).toMatchObject({ waiting: 0 });

    const all = [...queued, ...detectedOnly].map((f) => f.id);
    const running = await startCompensationWorker({ config: env.config, dbs: env.app, producer }, { concurrency: 2, sweepIntervalSeconds: 1, staleSeconds: 0 });
    try {
      const done = await waitForCompensations({ db: env.dbs.recon }, all, { timeoutMs: 60_000, intervalMs: 200 });
      expect(done).toMatchObject({ settled: true, counts: { resolved: 27, failed: 0 } });
    } finally {
      await running.close();
    }
    // The invariants, by SQL on the ledger: B for each user, 0 for each orphan, one grant row per user.
    const e = await effects(env.dbs, [...ids, ...orphans]);
    for (const u of ids) expect(e.nets.get(u)).toBe(1000);
    for (const u of orphans) expect(e.nets.get(u)).toBe(0);
    expect(e.entries).toBe(ids.length + orphans.length * 2);
  });

  it('waiting ignores reported-only kinds, which are never queued', async () => {
    const found = await record(env.dbs, [
      { kind: 'phantom_event' as const, entityId: `users:g:${crypto.randomUUID()}` },
      { kind: 'missing_grant' as const, entityId: crypto.randomUUID() },
    ]);
    const deps = { db: env.dbs.recon, queue, config: env.config };
    // The sweeper leaves the phantom alone; the missing grant of a user that does not exist fails.
    expect(await sweepCompensations(deps, { staleSeconds: 3600 })).toMatchObject({ detected: 1, jobs: 1 });
    const running = await startCompensationWorker({ config: env.config, dbs: env.app, producer }, { concurrency: 1, sweepIntervalSeconds: 0 });
    try {
      const done = await waitForCompensations(
        { db: env.dbs.recon },
        found.map((f) => f.id),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      expect(done).toEqual({ settled: true, counts: { detected: 0, queued: 0, resolved: 0, failed: 1, held: 0, dismissed: 0 } });
    } finally {
      await running.close();
    }
    expect((await statuses(env.dbs, [found[0]!.id])).get(found[0]!.id)?.status).toBe('detected');
  });

  it('a queued discrepancy whose retained job completed without settling it is queued again under a new job id', async () => {
    const { ids } = await insertUsers(env.dbs, 4);
    const found = await record(
      env.dbs,
      ids.map((u) => ({ kind: 'missing_grant' as const, entityId: u })),
    );
    const running = await startCompensationWorker({ config: env.config, dbs: env.app, producer }, { concurrency: 1, sweepIntervalSeconds: 0 });
    try {
      const deps = { db: env.dbs.recon, queue, config: env.config };
      await enqueueCompensations(deps, found);
      await waitForCompensations(
        { db: env.dbs.recon },
        found.map((f) => f.id),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      // A crash after the effect and before the status update leaves it `queued` with a completed job.
      const [{ job_id: jobId }] = await env.dbs.recon('discrepancies').select('job_id').where({ id: found[0]!.id });
      expect(await queue.getJobState(jobId)).toBe('completed');
      await env.dbs
        .recon('discrepancies')
        .whereIn(
          'id',
          found.map((f) => f.id),
        )
        .update({ status: 'queued', resolved_at: null });

      // A job still waiting or active is left alone; a finished one is replaced.
      expect(await sweepCompensations(deps, { staleSeconds: 3600 })).toMatchObject({ requeued: 0 });
      expect(await sweepCompensations(deps, { staleSeconds: 0 })).toMatchObject({ requeued: 4, jobs: 1 });
      const done = await waitForCompensations(
        { db: env.dbs.recon },
        found.map((f) => f.id),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      expect(done.counts.resolved).toBe(4);
      const [{ job_id: newJobId }] = await env.dbs.recon('discrepancies').select('job_id').where({ id: found[0]!.id });
      expect(newJobId).not.toBe(jobId);
    } finally {
      await running.close();
    }
    const e = await effects(env.dbs, ids);
    expect(e.entries).toBe(4);
    expect(e.events).toBe(4);
    expect(
      [
        ...(
          await statuses(
            env.dbs,
            found.map((f) => f.id),
          )
        ).values(),
      ].every((s) => s.status === 'resolved'),
    ).toBe(true);
  });
});
