import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../helpers/env.js';
import { hoursAgo, insertGrants, insertUsers, spread } from '../helpers/drift.js';
import { exited, runCli, spawnCli } from '../helpers/cli.js';

/** `recon run --wait` against a `recon worker` process: the command-line path of a nightly run. */
describe('recon run --wait', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ roles: true });
  });
  afterAll(async () => env?.cleanup());

  it('queues the compensations, returns when they are settled, and the invariants hold by SQL', async () => {
    const B = env.config.signupBonusPoints;
    const users = await insertUsers(env.dbs.users, spread(hoursAgo(3), 30 * 60_000, 12));
    // users[0] gets no grant at all (missing), users[1] two (excess).
    const [, excess, ...fine] = users;
    await insertGrants(env.dbs.points, [excess!, ...fine], B);
    await insertGrants(env.dbs.points, [excess!], B, { extra: true });
    const orphan = { id: randomUUID(), createdAt: users[5]!.createdAt };
    await insertGrants(env.dbs.points, [orphan], B);

    const worker = spawnCli(env.config, ['worker', '--concurrency', '2', '--progress-interval', '0']);
    try {
      const r = await runCli(env.config, ['run', '--check', 'users-vs-points', '--wait', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const summary = JSON.parse(r.stdout) as {
        status: string;
        queued: string[];
        counts: Record<string, Record<string, number>>;
        compensations: Record<string, number>;
      };
      expect(summary.status).toBe('completed');
      expect(summary.counts['users-vs-points']).toEqual({ missing_grant: 1, orphan_grant: 1, excess_grant: 1 });
      expect(summary.queued).toHaveLength(3);
      expect(summary.compensations).toMatchObject({ resolved: 3, failed: 0, queued: 0, detected: 0 });
    } finally {
      worker.kill('SIGTERM');
      expect((await exited(worker)).code).toBe(0);
    }

    // Invariants by SQL on the ledger itself, not by the project's own status.
    const { rows } = await env.dbs.points.raw<{ rows: { user_id: string; net: number }[] }>(
      'select user_id, sum(amount) as net from point_ledger group by user_id',
    );
    const nets = new Map(rows.map((r) => [r.user_id, Number(r.net)]));
    for (const u of users) expect(nets.get(u.id), u.id).toBe(B);
    expect(nets.get(orphan.id)).toBe(0);

    const again = await runCli(env.config, [
      'run',
      '--check',
      'users-vs-points',
      '--from',
      hoursAgo(4).toISOString(),
      '--to',
      hoursAgo(1).toISOString(),
      '--json',
    ]);
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout) as { queued: string[]; counts: Record<string, Record<string, number>> };
    expect(second.queued).toEqual([]);
    expect(Object.values(second.counts['users-vs-points'] ?? {}).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('refuses --wait with --dry-run (exit 2)', async () => {
    const r = await runCli(env.config, ['run', '--dry-run', '--wait']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--wait');
  });
});
