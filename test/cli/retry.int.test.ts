import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCompensationQueue } from '../../batch/index.js';
import { failOpenDiscrepancies } from '../../db/index.js';
import { createTestEnv, type TestEnv } from '../helpers/env.js';
import { hoursAgo, insertGrants, insertUsers, spread } from '../helpers/drift.js';
import { exited, runCli, spawnCli } from '../helpers/cli.js';

async function discrepancyRows(env: TestEnv) {
  const rows: { id: string; kind: string; status: string; generation: number; last_error: string | null }[] = await env.dbs
    .recon('discrepancies')
    .select('id', 'kind', 'status', 'generation', 'last_error');
  return new Map(rows.map((r) => [r.kind, r]));
}

/** `recon retry`: failed compensations get another try, on the operator's word. */
describe('recon retry', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ roles: true });
  });
  afterAll(async () => env?.cleanup());

  it('reopens the selected failed compensations, queues them, and a worker settles them', async () => {
    const B = env.config.signupBonusPoints;
    const users = await insertUsers(env.dbs.users, spread(hoursAgo(3), 30 * 60_000, 6));
    const [missing, excess, ...fine] = users;
    await insertGrants(env.dbs.points, [excess!, ...fine], B);
    await insertGrants(env.dbs.points, [excess!], B, { extra: true });

    // A run queues both; no worker is running, and their jobs end with attempts exhausted.
    const run = await runCli(env.config, ['run', '--check', 'users-vs-points', '--no-report', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { queued: string[] }).queued).toHaveLength(2);
    const queue = createCompensationQueue(env.config);
    await queue.obliterate({ force: true });
    await queue.close();
    const before = await discrepancyRows(env);
    await failOpenDiscrepancies(
      env.dbs.recon,
      [...before.values()].map((d) => ({ id: d.id, error: 'gave up after 8 attempts: KafkaJSConnectionError: connect ECONNREFUSED' })),
    );

    const dry = await runCli(env.config, ['retry', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, byKind: { missing_grant: 1, excess_grant: 1 }, retried: 0 });
    expect([...(await discrepancyRows(env)).values()].map((d) => d.status)).toEqual(['failed', 'failed']);

    const worker = spawnCli(env.config, ['worker', '--concurrency', '2', '--progress-interval', '0']);
    try {
      const one = await runCli(env.config, ['retry', '--kind', 'missing_grant', '--wait', '--json']);
      expect(one.code, one.stderr).toBe(0);
      expect(JSON.parse(one.stdout)).toMatchObject({
        dryRun: false,
        byKind: { missing_grant: 1 },
        retried: 1,
        queued: 1,
        compensations: { resolved: 1, failed: 0 },
      });
      const mid = await discrepancyRows(env);
      expect(mid.get('missing_grant')).toMatchObject({ status: 'resolved', generation: before.get('missing_grant')!.generation + 1 });
      expect(mid.get('excess_grant')!.status).toBe('failed');

      const rest = await runCli(env.config, ['retry', '--wait']);
      expect(rest.code, rest.stderr).toBe(0);
      expect(rest.stdout).toContain('1 failed compensations reopened, 1 queued in 1 jobs');
      expect(rest.stdout).toMatch(/excess_grant\s+1/);
      expect(rest.stdout).toContain('compensations: 1 resolved, 0 failed, 0 pending');
    } finally {
      worker.kill('SIGTERM');
      expect((await exited(worker)).code).toBe(0);
    }

    // The invariant, by SQL on the ledger: every user nets exactly B.
    const { rows } = await env.dbs.points.raw<{ rows: { user_id: string; net: number }[] }>(
      'select user_id, sum(amount) as net from point_ledger group by user_id',
    );
    const nets = new Map(rows.map((r) => [r.user_id, Number(r.net)]));
    for (const u of users) expect(nets.get(u.id), u.id).toBe(B);
    expect(nets.get(missing!.id)).toBe(B);

    const nothing = await runCli(env.config, ['retry', '--json']);
    expect(nothing.code, nothing.stderr).toBe(0);
    expect(JSON.parse(nothing.stdout)).toMatchObject({ retried: 0, queued: 0 });
  });

  it('usage errors name the flag and exit 2', async () => {
    const reportOnly = await runCli(env.config, ['retry', '--kind', 'phantom_event']);
    expect(reportOnly.code).toBe(2);
    expect(reportOnly.stderr).toContain('--kind');
    const badId = await runCli(env.config, ['retry', '--id', 'not-a-uuid']);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('--id');
    const both = await runCli(env.config, ['retry', '--dry-run', '--wait']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--wait');
  });
});
