import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, unusedPort, type TestEnv } from '../../helpers/env.js';
import { hoursAgo, insertGrants, insertUsers, spread } from '../../helpers/drift.js';
import { exited, runCli, spawnCli } from '../../helpers/cli.js';

/** A nightly run while Redis is down: it must finish, and lose nothing. */
describe('recon run while Redis does not answer', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ roles: true });
  });
  afterAll(async () => env?.cleanup());

  it('records the discrepancies, exits, and a worker compensates them once Redis is back', async () => {
    const B = env.config.signupBonusPoints;
    const users = await insertUsers(env.dbs.users, spread(hoursAgo(3), 30 * 60_000, 6));
    const [missing, ...fine] = users;
    await insertGrants(env.dbs.points, fine, B);

    const down = `redis://127.0.0.1:${await unusedPort()}`;
    const run = await runCli(env.config, ['run', '--check', 'users-vs-points', '--no-report', '--json'], { REDIS_URL: down });
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { status: string; counts: Record<string, Record<string, number>> }).counts['users-vs-points']).toEqual({
      missing_grant: 1,
    });
    expect(run.stderr).toContain('could not queue compensations; the sweeper will');
    // One line about Redis, not an error dump per reconnect attempt.
    expect(run.stderr.match(/redis: connect ECONNREFUSED/g)).toHaveLength(1);
    // The claim was given back: the sweeper of any worker can queue it.
    const rows: { status: string }[] = await env.dbs.recon('discrepancies').select('status');
    expect(rows).toEqual([{ status: 'detected' }]);

    const worker = spawnCli(env.config, ['worker', '--sweep-interval', '1', '--progress-interval', '0'], { RECON_SWEEP_STALE_SECONDS: '0' });
    try {
      const deadline = Date.now() + 60_000;
      let status = 'detected';
      while (status !== 'resolved' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        status = ((await env.dbs.recon('discrepancies').first('status')) as { status: string }).status;
      }
      expect(status, worker.output().slice(-2000)).toBe('resolved');
    } finally {
      worker.kill('SIGTERM');
      expect((await exited(worker)).code).toBe(0);
    }
    const { rows: nets } = await env.dbs.points.raw<{ rows: { net: number }[] }>('select coalesce(sum(amount), 0) as net from point_ledger where user_id = ?', [
      missing!.id,
    ]);
    expect(Number(nets[0]!.net)).toBe(B);
  });
});
