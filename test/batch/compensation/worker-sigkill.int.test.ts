import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_REASONS, grantEntryId, type Config } from '../../../core/index.js';
import { createCompensationQueue, enqueueCompensations, waitForCompensations, type CompensationQueue } from '../../../batch/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';
import { effects, insertUsers, record } from '../../helpers/compensation-fixtures.js';
import { cliEnv } from '../../helpers/cli.js';

function startWorker(config: Config): ChildProcess {
  // A short job lock, so the stalled check hands the dead worker's job over within seconds.
  const child = spawn(process.execPath, ['bin/recon.js', 'worker', '--concurrency', '2', '--sweep-interval', '0', '--progress-interval', '0'], {
    env: cliEnv(config, { RECON_JOB_LOCK_MS: '1500' }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.resume();
  return child;
}

describe('recon worker killed mid-job', () => {
  let env: TestEnv;
  let queue: CompensationQueue;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true });
    queue = createCompensationQueue(env.config);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await queue?.close();
    await env?.cleanup();
  });

  it('the job is retried by another worker, with exactly one effect per discrepancy', async () => {
    const { ids, createdAt } = await insertUsers(env.dbs, 12);
    const found = await record(
      env.dbs,
      ids.map((u) => ({ kind: 'missing_grant' as const, entityId: u })),
    );
    await enqueueCompensations({ db: env.dbs.recon, queue, config: { compensation: { ...env.config.compensation, batchSize: 6 } } }, found);

    // Hold the grant of one user in an open transaction: the job inserting it blocks, so it is active when the worker dies.
    const trx = await env.dbs.points.transaction();
    await trx('point_ledger').insert({
      entry_id: grantEntryId(ids[0]!),
      user_id: ids[0]!,
      amount: 1000,
      reason: LEDGER_REASONS.grant,
      user_created_at: createdAt,
      source: 'stream',
    });
    const first = startWorker(env.config);
    children.push(first);
    await waitFor(
      'the worker to block on the held row',
      async () => {
        const { rows } = await env.dbs.points.raw<{ rows: { n: number }[] }>(
          `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        );
        return rows[0]!.n > 0;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect((await queue.getJobCounts('active')).active).toBeGreaterThan(0);
    first.kill('SIGKILL');
    await once(first, 'exit');
    // The stream's transaction rolls back: the compensation must still grant, exactly once.
    await trx.rollback();

    const second = startWorker(env.config);
    children.push(second);
    const done = await waitForCompensations(
      { db: env.dbs.recon },
      found.map((f) => f.id),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(done).toMatchObject({ settled: true, counts: { resolved: 12, failed: 0 } });
    const e = await effects(env.dbs, ids);
    expect(e.entries).toBe(12);
    expect(e.events).toBe(12);
    for (const u of ids) expect(e.nets.get(u)).toBe(1000);

    // SIGTERM drains and exits 0.
    second.kill('SIGTERM');
    const [code] = (await once(second, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
