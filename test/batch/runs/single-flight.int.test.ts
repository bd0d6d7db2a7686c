import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/index.js';
import { executeRun, type RunDeps, type RunSummary } from '../../../batch/index.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';
import { hoursAgo, insertUsers, spread } from '../../helpers/drift.js';

describe('a check is never run by two runs at once', () => {
  let env: TestEnv;
  let log: RunDeps['log'];
  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true, env: { RECON_WINDOW_SECONDS: '3600', RECON_GRACE_SECONDS: '60' } });
    log = createLogger(env.config);
    // Users without grants: the first window finds something, so the first run calls enqueue.
    await insertUsers(env.dbs.users, spread(hoursAgo(3), 2 * 3600_000, 6));
  });
  afterAll(async () => env?.cleanup());

  it('skips the check in the second run while the first holds it, then lets the next run take it', async () => {
    let releaseFirst!: () => void;
    const firstBlocked = new Promise<void>((resolve) => (releaseFirst = resolve));
    let enqueueCalled!: () => void;
    const firstInWindow = new Promise<void>((resolve) => (enqueueCalled = resolve));
    const first = executeRun(
      {
        config: env.config,
        dbs: env.app,
        log,
        // Holds the first run inside its first window (after its commit) until the second has tried.
        enqueue: async () => {
          enqueueCalled();
          await firstBlocked;
        },
      },
      { checks: ['users-vs-points'], trigger: 'test' },
    );
    await firstInWindow;
    let second: RunSummary;
    try {
      second = await executeRun({ config: env.config, dbs: env.app, log }, { checks: ['users-vs-points'], trigger: 'api' });
      const both = await executeRun({ config: env.config, dbs: env.app, log }, { checks: ['users-vs-points', 'outbox-vs-consumed'], trigger: 'api' });
      expect(both.status).toBe('completed');
      expect(both.reason).toMatch(/users-vs-points already running/);
      expect(both.counts['users-vs-points']).toBeUndefined();
      expect(both.counts['outbox-vs-consumed']).toEqual({});
    } finally {
      releaseFirst();
    }
    const done = await first;
    expect(second.status).toBe('skipped');
    expect(second.reason).toMatch(/users-vs-points already running/);
    expect(second.windows).toBe(0);
    expect((await env.dbs.recon('runs').where({ id: second.runId }))[0]).toMatchObject({ status: 'skipped' });
    expect(done.status).toBe('completed');
    expect(done.counts['users-vs-points']).toEqual({ missing_grant: 6 });
    // The lock went with the first run: the next one runs.
    const third = await executeRun({ config: env.config, dbs: env.app, log }, { checks: ['users-vs-points'], trigger: 'cron' });
    expect(third.status).toBe('completed');
  });
});
