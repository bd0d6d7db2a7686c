import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun } from '../../../batch/index.js';
import { createLogger } from '../../../core/index.js';
import { getWatermark } from '../../../db/index.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';
import { hoursAgo, insertUsers, spread } from '../../helpers/drift.js';

/** Single flight lives on one connection: a run that loses it must stop, not go on unguarded. */
describe('a run whose lock connection dies', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true, env: { RECON_WINDOW_SECONDS: '3600', RECON_GRACE_SECONDS: '60' } });
    // Users without grants in several hourly windows: every window finds something.
    await insertUsers(env.dbs.users, spread(hoursAgo(4), 3 * 3600_000, 6));
  });
  afterAll(async () => env?.cleanup());

  it('stops before its next window commits, fails with the reason, and keeps the watermark at the last committed window', async () => {
    let windowsCommitted = 0;
    const run = executeRun(
      {
        config: env.config,
        dbs: env.app,
        log: createLogger(env.config),
      },
      {
        checks: ['users-vs-points'],
        trigger: 'test',
        // Called (and awaited) after each window has committed.
        onProgress: async () => {
          windowsCommitted += 1;
          if (windowsCommitted > 1) return;
          // The server ends the lock session (a failover, an administrator, a network cut would look the same).
          const { rows } = await env.dbs.recon.raw<{ rows: { ended: boolean }[] }>(
            "select pg_terminate_backend(pid) as ended from pg_stat_activity where application_name = 'recon-run-lock' and datname = current_database()",
          );
          expect(rows.map((r) => r.ended)).toEqual([true]);
        },
      },
    );
    await expect(run).rejects.toThrow('lost the connection holding the check locks');
    expect(windowsCommitted).toBe(1);

    const [row] = await env.dbs.recon('runs').select('id', 'status', 'error');
    expect(row).toMatchObject({ status: 'failed' });
    expect(row.error).toContain('lost the connection holding the check locks');
    const windows: { window_end: Date }[] = await env.dbs.recon('run_windows').where({ run_id: row.id }).select('window_end');
    expect(windows).toHaveLength(1);
    expect((await getWatermark(env.dbs.recon, 'users-vs-points'))?.getTime()).toBe(windows[0]!.window_end.getTime());

    // The next run takes the check and finishes the rest.
    const next = await executeRun({ config: env.config, dbs: env.app, log: createLogger(env.config) }, { checks: ['users-vs-points'], trigger: 'test' });
    expect(next.status).toBe('completed');
    expect(next.counts['users-vs-points']?.missing_grant ?? 0).toBeGreaterThan(0);
  });
});
