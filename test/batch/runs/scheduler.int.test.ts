import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRunQueue,
  createRunWorker,
  cronJobId,
  startScheduler,
  type ExecuteRun,
  type QueuedRun,
  type RunOptions,
  type RunQueue,
  type RunningScheduler,
} from '../../../batch/index.js';
import { silentLogger } from '../../../core/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';

describe('scheduler through the real Redis run queue', () => {
  let env: TestEnv;
  // Two schedulers as two processes would have them: each its own queue connection.
  let queueA: RunQueue;
  let queueB: RunQueue;

  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true, env: { RECON_CRON: '* * * * * *', RECON_TZ: 'UTC', REPORT_POLICY: 'never' } });
    queueA = createRunQueue(env.config);
    queueB = createRunQueue(env.config);
  });

  afterAll(async () => {
    await queueA?.close();
    await queueB?.close();
    await env?.cleanup();
  });

  it('two schedulers on the same cron queue one run per tick; the second is told it did not start', async () => {
    const executed: RunOptions[] = [];
    const executeRun: ExecuteRun = async (_deps, options) => {
      executed.push(options);
      const now = new Date();
      return {
        runId: options.runId!,
        status: 'completed',
        trigger: options.trigger,
        checks: options.checks,
        dryRun: false,
        windows: 0,
        counts: {},
        queued: [],
        startedAt: now,
        finishedAt: now,
      };
    };
    const worker = createRunWorker({ config: env.config, dbs: env.app, log: silentLogger, executeRun });
    const seen: Record<'A' | 'B', Map<string, QueuedRun>> = { A: new Map(), B: new Map() };
    const schedulers: RunningScheduler[] = [];
    try {
      for (const [name, runQueue] of [
        ['A', queueA],
        ['B', queueB],
      ] as const) {
        schedulers.push(
          await startScheduler(
            { config: env.config, dbs: env.app, log: silentLogger, runQueue },
            { catchUp: false, onQueued: (tick, queued) => void seen[name].set(tick.toISOString(), queued) },
          ),
        );
      }
      const both = () => [...seen.A.keys()].filter((t) => seen.B.has(t));
      await waitFor('three ticks seen by both schedulers', () => both().length >= 3, { timeoutMs: 20_000 });
      await Promise.all(schedulers.map((s) => s.stop()));

      for (const tick of both()) {
        const a = seen.A.get(tick)!;
        const b = seen.B.get(tick)!;
        expect([a.created, b.created].filter(Boolean), tick).toHaveLength(1);
        expect(a.runId).toBe(b.runId);
        expect(a.jobId).toBe(cronJobId(new Date(tick)));
      }
      const ticks = new Set([...seen.A.keys(), ...seen.B.keys()]);
      await waitFor(
        'every queued run to be executed',
        async () => executed.length >= ticks.size && (await queueA.getJobCountByTypes('waiting', 'active')) === 0,
      );
      expect(executed).toHaveLength(ticks.size);
      expect(new Set(executed.map((o) => o.runId)).size).toBe(ticks.size);
      expect(executed.every((o) => o.trigger === 'cron')).toBe(true);
    } finally {
      await Promise.all(schedulers.map((s) => s.stop()));
      await worker.close();
    }
  });

  it('catches up once on start when the last scheduled run is older than a period, even with two schedulers starting', async () => {
    const daily = { ...env.config, cron: '0 3 * * *' };
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    await env.dbs
      .recon('runs')
      .insert({ id: randomUUID(), trigger: 'cron', checks: ['users-vs-points'], status: 'completed', started_at: twoDaysAgo, finished_at: twoDaysAgo });

    const first = await startScheduler({ config: daily, dbs: env.app, log: silentLogger, runQueue: queueA });
    const queued: QueuedRun[] = [];
    const second = await startScheduler({ config: daily, dbs: env.app, log: silentLogger, runQueue: queueB }, { onQueued: (_t, q) => void queued.push(q) });
    await first.stop();
    await second.stop();

    expect(first.caughtUp).toBeDefined();
    expect(second.caughtUp).toEqual(first.caughtUp);
    expect(first.caughtUp!.getTime()).toBeGreaterThan(twoDaysAgo.getTime());
    expect(first.caughtUp!.toISOString()).toMatch(/T03:00:00\.000Z$/);
    expect(queued).toEqual([expect.objectContaining({ created: false, jobId: cronJobId(first.caughtUp!) })]);
    const job = await queueA.getJob(cronJobId(first.caughtUp!));
    expect(job?.data).toMatchObject({ trigger: 'cron', tick: first.caughtUp!.toISOString() });

    // A scheduled run that started after the latest tick: nothing to catch up.
    await env.dbs.recon('runs').insert({ id: randomUUID(), trigger: 'cron', checks: ['users-vs-points'], status: 'running', started_at: new Date() });
    const third = await startScheduler({ config: daily, dbs: env.app, log: silentLogger, runQueue: queueA });
    await third.stop();
    expect(third.caughtUp).toBeUndefined();
  });
});
