import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger, type Config } from '../../../core/index.js';
import {
  commitDistributedWindow,
  createApiServer,
  createRunQueue,
  createWindowQueue,
  executeRun,
  queueRun,
  type RunQueue,
  type WindowQueue,
} from '../../../batch/index.js';
import { carryOverCompletedWindows, insertPendingRunWindows, insertRun, openCheckLocks } from '../../../db/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';
import { insertGrants, insertUsers, spread } from '../../helpers/drift.js';
import { exited, runCli, spawnCli } from '../../helpers/cli.js';

/**
 * Distributed runs on real `recon worker` processes: windows of a minute,
 * each made slow by the test-only RECON_WINDOW_DELAY_MS so that three
 * workers share them and one can be killed in the middle of one.
 */
const WINDOW_MS = 60_000;
const WORKER_ENV = {
  RECON_RUN_MODE: 'workers',
  RECON_RUN_WINDOWS_PER_JOB: '1',
  RECON_WINDOW_DELAY_MS: '250',
  // A killed worker's job goes to another one after about this long.
  RECON_JOB_LOCK_MS: '4000',
  RECON_SWEEP_SECONDS: '3600',
};

describe('distributed runs', () => {
  let env: TestEnv;
  let windowQueue: WindowQueue;
  let runQueue: RunQueue;
  let workers: (ChildProcess & { output: () => string })[] = [];
  // 48 windows of history ending a few minutes ago, with drift in each. The guard holds every compensation
  // (RECON_AUTO_COMPENSATE_LIMIT=0), so the workers repair nothing and every run finds the same drift.
  const start = new Date(Math.floor((Date.now() - 60 * WINDOW_MS) / WINDOW_MS) * WINDOW_MS);
  const end = new Date(start.getTime() + 48 * WINDOW_MS);
  const injected = { missing: 0, orphan: 0 };
  let config: Config;

  beforeAll(async () => {
    env = await createTestEnv({
      topics: false,
      roles: true,
      env: { RECON_WINDOW_SECONDS: '60', RECON_GRACE_SECONDS: '60', RECON_AUTO_COMPENSATE_LIMIT: '0', RECON_START: start.toISOString(), ...WORKER_ENV },
    });
    config = env.config;
    const users = await insertUsers(env.dbs.users, spread(start, 48 * WINDOW_MS, 480));
    const granted = users.filter((_, i) => i % 7 !== 0);
    await insertGrants(env.dbs.points, granted, config.signupBonusPoints);
    const orphans = spread(new Date(start.getTime() + 5), 48 * WINDOW_MS, 24).map((createdAt) => ({ id: crypto.randomUUID(), createdAt }));
    await insertGrants(env.dbs.points, orphans, config.signupBonusPoints);
    injected.missing = users.length - granted.length;
    injected.orphan = orphans.length;
    windowQueue = createWindowQueue(config);
    runQueue = createRunQueue(config);
    workers = [0, 1, 2].map(() => spawnCli(config, ['worker', '--progress-interval', '0']));
    await waitFor('three workers serving the window queue', async () => (await windowQueue.getWorkersCount()) >= 3, { timeoutMs: 90_000, intervalMs: 250 });
  });
  afterAll(async () => {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => exited(w)));
    await windowQueue?.close();
    await runQueue?.close();
    await env?.cleanup();
  });

  const discrepancyRows = async () =>
    (await env.dbs.recon('discrepancies').select('id', 'kind', 'entity_id')) as { id: string; kind: string; entity_id: string }[];

  it('recon run --mode workers spreads 48 windows over three workers and moves the watermark to the end', async () => {
    const dry = await runCli(config, ['run', '--check', 'users-vs-points', '--from', start.toISOString(), '--to', end.toISOString(), '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    // A dry run compares in its own process and records nothing, as before.
    expect(JSON.parse(dry.stdout).counts['users-vs-points']).toEqual({ missing_grant: injected.missing, orphan_grant: injected.orphan });
    expect(await env.dbs.recon('runs').count({ n: '*' })).toEqual([{ n: 0 }]);

    const res = await runCli(config, ['run', '--check', 'users-vs-points', '--mode', 'workers', '--json', '--no-report'], { RECON_START: start.toISOString() });
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout);
    expect(summary.status).toBe('completed');
    const windows = await env.dbs.recon('run_windows').where({ run_id: summary.runId }).orderBy('window_start');
    expect(windows.length).toBeGreaterThanOrEqual(48);
    expect(summary.windows).toBe(windows.length);
    expect(windows.every((w) => w.status === 'completed')).toBe(true);
    // Every worker took some; none of them is the coordinating `recon run`.
    const pids = new Set(windows.map((w) => w.worker_pid));
    expect([...pids].sort()).toEqual(workers.map((w) => w.pid).sort());
    expect(windows.every((w) => typeof w.worker_host === 'string' && w.duration_ms >= 0)).toBe(true);
    expect(summary.counts['users-vs-points']).toEqual({ missing_grant: injected.missing, orphan_grant: injected.orphan });
    expect(await discrepancyRows()).toHaveLength(injected.missing + injected.orphan);
    // The watermark passed every window (contiguous prefix of all of them).
    const wm = await env.dbs.recon('watermarks').where({ check_name: 'users-vs-points' }).first('watermark', 'last_run_id');
    expect(wm.watermark).toEqual(windows.at(-1).window_end);
    const [run] = await env.dbs.recon('runs').where({ id: summary.runId });
    expect(run).toMatchObject({ mode: 'workers', status: 'completed', windows: windows.length });

    // The run's API answer and page say who compared each window, and how long it took.
    const app = await createApiServer({ config, dbs: env.app, log: silentLogger, runQueue });
    try {
      const answer = await app.inject({ method: 'GET', url: `/api/runs/${summary.runId}` });
      expect(answer.statusCode).toBe(200);
      const body = answer.json();
      expect(body.mode).toBe('workers');
      expect(body.windows).toHaveLength(windows.length);
      expect(new Set(body.windows.map((w: { worker: { pid: number } }) => w.worker.pid))).toEqual(pids);
      expect(body.windows[0]).toMatchObject({ status: 'completed', attempts: 1, worker: { host: windows[0].worker_host } });
      expect(typeof body.windows[0].durationMs).toBe('number');
      const page = await app.inject({ method: 'GET', url: `/runs/${summary.runId}` });
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain('compared by');
      expect(page.body).toContain(`${windows[0].worker_host}:${windows[0].worker_pid}`);
    } finally {
      await app.close();
    }
  });

  it('two runs queued at once for the same check on different workers: one works its windows, the other is skipped', async () => {
    const a = await queueRun(runQueue, { checks: ['users-vs-points'], trigger: 'api', from: start, to: end });
    const b = await queueRun(runQueue, { checks: ['users-vs-points'], trigger: 'api', from: start, to: end });
    const finished = await waitFor(
      'both runs to finish',
      async () => {
        const rows = await env.dbs.recon('runs').whereIn('id', [a.runId, b.runId]).select('id', 'status', 'error', 'started_at', 'finished_at');
        return rows.length === 2 && rows.every((r) => r.status !== 'running') ? rows : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    // Each run job was taken by a different worker (each runs one run at a time, and the first holds its job until its windows are in).
    // Both jobs end too (a run's record ends before its job does: the report comes in between).
    await waitFor(
      'both run jobs to finish',
      async () => (await Promise.all([runQueue.getJob(a.jobId), runQueue.getJob(b.jobId)])).every((j) => j?.finishedOn),
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    const statuses = finished.map((r) => r.status).sort();
    expect(statuses).toEqual(['completed', 'skipped']);
    const skipped = finished.find((r) => r.status === 'skipped')!;
    const done = finished.find((r) => r.status === 'completed')!;
    expect(skipped.error).toMatch(/users-vs-points already running/);
    // They overlapped: the skipped one was taken while the other was still working (by another worker: each takes one run at a time).
    expect(skipped.started_at.getTime()).toBeLessThan(done.finished_at.getTime());
    expect(await env.dbs.recon('run_windows').where({ run_id: skipped.id }).count({ n: '*' })).toEqual([{ n: 0 }]);
    const windows = await env.dbs.recon('run_windows').where({ run_id: done.id });
    expect(windows).toHaveLength(48);
    expect(windows.every((w) => w.status === 'completed')).toBe(true);
  });

  it('a worker SIGKILLed mid-window: another compares its window again and the run completes with each window in once', async () => {
    const log = createLogger(config);
    const runId = crypto.randomUUID();
    const run = executeRun(
      { config, dbs: env.app, log, windows: { queue: windowQueue, windowsPerJob: 2 } },
      { runId, checks: ['users-vs-points'], trigger: 'test', from: start, to: end },
    );
    const victim = workers[0]!;
    // Kill the first worker while it is in the middle of a window (started, not committed).
    const started = await waitFor(
      'the first worker to start a window',
      async () =>
        (await env.dbs.recon('run_windows').where({ run_id: runId, worker_pid: victim.pid, status: 'pending' }).whereNotNull('started_at').first()) as
          { window_start: Date } | undefined,
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    victim.kill('SIGKILL');
    await exited(victim);
    const summary = await run;
    expect(summary.status).toBe('completed');
    expect(summary.windows).toBe(48);
    expect(summary.counts['users-vs-points']).toEqual({ missing_grant: injected.missing, orphan_grant: injected.orphan });
    const windows = await env.dbs.recon('run_windows').where({ run_id: runId }).orderBy('window_start');
    expect(windows).toHaveLength(48);
    expect(windows.every((w) => w.status === 'completed')).toBe(true);
    // The killed worker's window was taken over: compared again elsewhere, a second attempt.
    const retaken = windows.find((w) => w.window_start.getTime() === started.window_start.getTime())!;
    expect(retaken.worker_pid).not.toBe(victim.pid);
    expect(retaken.attempts).toBeGreaterThanOrEqual(2);
    // Counted once: the run's totals are the windows', and no discrepancy is doubled.
    const [row] = await env.dbs.recon('runs').where({ id: runId });
    expect(row.windows).toBe(48);
    const rows = await discrepancyRows();
    expect(rows).toHaveLength(injected.missing + injected.orphan);
    expect(new Set(rows.map((r) => `${r.kind}:${r.entity_id}`)).size).toBe(rows.length);
  });

  it('a bad mode is a usage error naming the flag or the variable, and records nothing', async () => {
    const flag = await runCli(config, ['run', '--check', 'users-vs-points', '--mode', 'sideways']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--mode/);
    const variable = await runCli(config, ['run', '--check', 'users-vs-points'], { RECON_RUN_MODE: 'sideways' });
    expect(variable.code).toBe(2);
    expect(variable.stderr).toMatch(/RECON_RUN_MODE/);
    expect(await env.dbs.recon('runs').where({ trigger: 'cli' }).count({ n: '*' })).toEqual([{ n: 1 }]);
  });

  it('a run after a dead coordinator keeps the windows it completed beyond the watermark, and compares only the rest', async () => {
    // A dead run's forward walk: windows 0-1 in the watermark's prefix, 2 still pending (its worker died with it), 3-4 completed.
    const dead = crypto.randomUUID();
    const base = new Date(start.getTime() - 10 * WINDOW_MS);
    const w = (i: number) => ({ start: new Date(base.getTime() + i * WINDOW_MS), end: new Date(base.getTime() + (i + 1) * WINDOW_MS), advance: true });
    await insertRun(env.app.recon, { id: dead, trigger: 'test', checks: ['outbox-vs-consumed'], mode: 'workers' });
    await insertPendingRunWindows(env.app.recon, dead, 'outbox-vs-consumed', [0, 1, 2, 3, 4].map(w));
    await env.dbs
      .recon('run_windows')
      .where({ run_id: dead })
      .whereNot({ window_start: w(2).start })
      .update({ status: 'completed', counts: JSON.stringify({ phantom_event: 1 }), held: false });
    // Window 4 was held (rows committed less than the grace ago): it is compared again.
    await env.dbs
      .recon('run_windows')
      .where({ run_id: dead, window_start: w(4).start })
      .update({ held: true });
    await env.dbs.recon('runs').where({ id: dead }).update({ status: 'failed', error: 'interrupted' });
    const next = crypto.randomUUID();
    await insertRun(env.app.recon, { id: next, trigger: 'test', checks: ['outbox-vs-consumed'], mode: 'workers' });
    // The next run plans from the watermark (the end of window 1) on.
    const carried = await carryOverCompletedWindows(env.app.recon, next, 'outbox-vs-consumed', [2, 3, 4, 5].map(w));
    expect(carried.map((c) => c.window_start)).toEqual([w(3).start]);
    const rows = await env.dbs.recon('run_windows').where({ run_id: next });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'completed', advance: true, counts: { phantom_event: 1 } });
    // A re-check range (no forward walk) carries nothing.
    expect(
      await carryOverCompletedWindows(
        env.app.recon,
        crypto.randomUUID(),
        'outbox-vs-consumed',
        [3].map((i) => ({ ...w(i), advance: false })),
      ),
    ).toEqual([]);
  });

  it('a window of a run whose coordinator no longer holds the check never commits', async () => {
    const runId = crypto.randomUUID();
    const locks = await openCheckLocks(config.databases.recon);
    try {
      // The coordinator recorded its session but does not hold the lock (it lost it, another run took the check).
      await insertRun(env.app.recon, { id: runId, trigger: 'test', checks: ['users-vs-points'], mode: 'workers', lockPid: await locks.backendPid() });
      const window = { start: new Date(start.getTime() - WINDOW_MS), end: start };
      await insertPendingRunWindows(env.app.recon, runId, 'users-vs-points', [{ ...window, advance: true }]);
      const commit = () =>
        commitDistributedWindow(
          { dbs: env.app, log: createLogger(config) },
          {
            runId,
            check: 'users-vs-points',
            window,
            advance: true,
            held: false,
            found: [],
            reportOnly: new Set(),
            supersedes: [],
            rowsCompared: 0,
            segmentsCompared: 0,
            durationMs: 1,
          },
        );
      expect(await commit()).toBe('fenced');
      expect(await env.dbs.recon('run_windows').where({ run_id: runId }).first('status')).toEqual({ status: 'pending' });
      // Holding it, the same commit goes through, once.
      expect(await locks.tryLock('users-vs-points')).toBe(true);
      expect(await commit()).toBe('committed');
      expect(await commit()).toBe('done');
      expect(await env.dbs.recon('runs').where({ id: runId }).first('windows')).toEqual({ windows: 1 });
    } finally {
      await locks.release();
    }
  });
});
