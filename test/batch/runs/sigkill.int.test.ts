import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/index.js';
import { executeRun } from '../../../batch/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';
import { hoursAgo, insertGrants, insertUsers, spread } from '../../helpers/drift.js';
import { cliEnv } from '../../helpers/cli.js';

describe('a run killed between windows', () => {
  let env: TestEnv;
  const start = hoursAgo(2);
  const injected = { missing: 0, orphan: 0 };

  beforeAll(async () => {
    // Ten-second windows over an hour of history: a few hundred windows, so the kill lands mid-run.
    // 120 compensations of 1440 rows would be held by the guard's ratio; holding is tested in test/batch/compensation/guard.
    env = await createTestEnv({
      topics: false,
      roles: true,
      env: { RECON_WINDOW_SECONDS: '10', RECON_GRACE_SECONDS: '60', RECON_AUTO_COMPENSATE_RATIO: '1' },
    });
    const users = await insertUsers(env.dbs.users, spread(start, 3600_000, 720));
    const granted = users.filter((_, i) => i % 9 !== 0);
    await insertGrants(env.dbs.points, granted, env.config.signupBonusPoints);
    const orphans = spread(new Date(start.getTime() + 5), 3600_000, 40).map((createdAt) => ({ id: crypto.randomUUID(), createdAt }));
    await insertGrants(env.dbs.points, orphans, env.config.signupBonusPoints);
    injected.missing = users.length - granted.length;
    injected.orphan = orphans.length;
  });
  afterAll(async () => env?.cleanup());

  it('then run again, completes with the same totals and no duplicates', async () => {
    const child = spawn(
      process.execPath,
      ['bin/recon.js', 'run', '--check', 'users-vs-points', '--from', start.toISOString(), '--to', new Date(start.getTime() + 3600_000).toISOString()],
      {
        env: cliEnv(env.config, { RECON_WINDOW_SECONDS: '10', RECON_GRACE_SECONDS: '60' }),
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // Kill it as soon as a few windows have committed.
      await waitFor('the child to commit a few windows', async () => Number((await env.dbs.recon('run_windows').count({ n: '*' }))[0]?.n) >= 3, {
        intervalMs: 10,
      });
      child.kill('SIGKILL');
    } finally {
      child.kill('SIGKILL');
    }
    await exited;
    await locksReleased(env);
    const [killed] = await env.dbs.recon('runs').select('*');
    expect(killed.status).toBe('running');
    const windowsBefore = Number((await env.dbs.recon('run_windows').count({ n: '*' }))[0]?.n);
    expect(windowsBefore).toBeGreaterThanOrEqual(3);
    expect(windowsBefore).toBeLessThan(360);

    // Run again (the watermark-less re-check re-walks the range; the windows already committed find only known discrepancies).
    const deps = { config: env.config, dbs: env.app, log: createLogger(env.config) };
    const again = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test', from: start, to: new Date(start.getTime() + 3600_000) });
    expect(again.status).toBe('completed');
    expect(again.counts['users-vs-points']).toEqual({ missing_grant: injected.missing, orphan_grant: injected.orphan });

    const rows: { kind: string; entity_id: string; first_run_id: string }[] = await env.dbs.recon('discrepancies').select('kind', 'entity_id', 'first_run_id');
    expect(rows).toHaveLength(injected.missing + injected.orphan);
    expect(new Set(rows.map((r) => `${r.kind}:${r.entity_id}`)).size).toBe(rows.length);
    // What the killed run committed stays its own; the second run added only the rest. The killed run died before its
    // check's guard queued anything, so the second run queues its findings too: every one, once.
    const byKilled = rows.filter((r) => r.first_run_id === killed.id).length;
    expect(byKilled).toBeGreaterThan(0);
    expect(again.queued).toHaveLength(rows.length);
    // The killed run's record no longer claims to be running: the next run holding its check closed it.
    const [after] = await env.dbs.recon('runs').where({ id: killed.id }).select('status', 'error', 'finished_at');
    expect(after).toMatchObject({ status: 'failed' });
    expect(after.error).toMatch(/^interrupted/);
    expect(after.finished_at).toBeInstanceOf(Date);
  });

  it('from the watermark: a killed watermark run resumes where its last committed window ended', async () => {
    const child = spawn(process.execPath, ['bin/recon.js', 'run', '--check', 'users-vs-points', '--json'], {
      env: cliEnv(env.config, { RECON_WINDOW_SECONDS: '30', RECON_GRACE_SECONDS: '60', RECON_START: start.toISOString() }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor('the watermark to move', async () => (await env.dbs.recon('watermarks').first('watermark'))?.watermark, { intervalMs: 10 });
      child.kill('SIGKILL');
    } finally {
      child.kill('SIGKILL');
    }
    await exited;
    await locksReleased(env);
    const wm: Date = (await env.dbs.recon('watermarks').first('watermark')).watermark;
    expect(wm.getTime()).toBeGreaterThan(start.getTime());
    const deps = { config: { ...env.config, start, windowSeconds: 30 }, dbs: env.app, log: createLogger(env.config) };
    // Discrepancies left `detected` (never queued: these runs have no queue) by the killed run wait for the next run's guard.
    const pending = ((await env.dbs.recon('discrepancies').where({ status: 'detected' }).select('id')) as { id: string }[]).map((r) => r.id);
    const resumed = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test' });
    expect(resumed.status).toBe('completed');
    const windows = await env.dbs.recon('run_windows').where({ run_id: resumed.runId }).orderBy('window_start');
    expect(windows[0].window_start).toEqual(wm);
    // Nothing new: it hands on only what the killed run had left unqueued, each once.
    expect([...resumed.queued].sort()).toEqual(pending.sort());
    expect(await env.dbs.recon('discrepancies').count({ n: '*' })).toEqual([{ n: injected.missing + injected.orphan }]);
  });
});

/**
 * The killed process's session (and its advisory locks) lives on until Postgres
 * notices the closed socket; until then a new run would rightly be skipped.
 */
async function locksReleased(env: TestEnv): Promise<void> {
  await waitFor('the dead session to release its check locks', async () => {
    const { rows } = await env.dbs.recon.raw<{ rows: { n: number }[] }>(
      `select count(*) as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`,
    );
    return rows[0]!.n === 0;
  });
}
