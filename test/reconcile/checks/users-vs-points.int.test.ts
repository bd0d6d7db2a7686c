import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type DiscrepancyKind } from '../../../core/index.js';
import { executeRun, type RunDeps } from '../../../batch/index.js';
import { usersVsPoints } from '../../../reconcile/index.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';
import { hoursAgo, insertGrants, insertRevocations, insertUsers, spread } from '../../helpers/drift.js';

const B = 1000;

describe('users-vs-points finds exactly the drift injected by SQL', () => {
  let env: TestEnv;
  let deps: RunDeps;
  const start = hoursAgo(5);
  const expected: Record<string, Set<string>> = { missing_grant: new Set(), orphan_grant: new Set(), excess_grant: new Set() };
  const enqueued: { id: string; kind: DiscrepancyKind; generation?: number }[] = [];

  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true, env: { RECON_WINDOW_SECONDS: '3600', RECON_GRACE_SECONDS: '60', SIGNUP_BONUS_POINTS: String(B) } });
    deps = { config: env.config, dbs: env.app, log: createLogger(env.config), enqueue: async (rows) => void enqueued.push(...rows) };
    const { users, points } = env.dbs;
    // Three hours of clean history: 300 users with their grant.
    const clean = await insertUsers(users, spread(start, 3 * 3600_000, 300));
    await insertGrants(points, clean, B);
    // Missing grants: users whose grant never came.
    const missing = await insertUsers(users, spread(new Date(start.getTime() + 600_000), 3600_000, 4));
    // Orphans: grants for users that never committed (rolled back), one of them already revoked (nets 0: fine).
    const orphans = spread(new Date(start.getTime() + 7200_000), 1800_000, 3).map((createdAt, i) => ({ id: crypto.randomUUID(), createdAt, i }));
    await insertGrants(points, orphans, B);
    await insertRevocations(points, orphans.slice(2), B);
    // Excess: a user granted twice; another granted twice and revoked once (nets B: fine).
    const doubled = await insertUsers(users, spread(new Date(start.getTime() + 3 * 3600_000), 3600_000, 2));
    await insertGrants(points, doubled, B);
    await insertGrants(points, doubled, B, { extra: true });
    await insertRevocations(points, doubled.slice(1), B);
    missing.forEach((u) => expected.missing_grant!.add(u.id));
    orphans.slice(0, 2).forEach((u) => expected.orphan_grant!.add(u.id));
    expected.excess_grant!.add(doubled[0]!.id);
  });
  afterAll(async () => env?.cleanup());

  it('records each kind once, queues them after commit, and advances the watermark', async () => {
    const summary = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test' });
    expect(summary.status).toBe('completed');
    expect(summary.counts['users-vs-points']).toEqual({ missing_grant: 4, orphan_grant: 2, excess_grant: 1 });
    expect(summary.windows).toBeGreaterThanOrEqual(5);
    const rows: { kind: string; entity_id: string; details: Record<string, unknown>; status: string }[] = await env.dbs
      .recon('discrepancies')
      .select('kind', 'entity_id', 'details', 'status');
    for (const kind of Object.keys(expected)) {
      expect(new Set(rows.filter((r) => r.kind === kind).map((r) => r.entity_id))).toEqual(expected[kind]);
    }
    const excess = rows.find((r) => r.kind === 'excess_grant')!;
    expect(excess.details).toMatchObject({ net: 2 * B, expected: B, amount: -B });
    const orphan = rows.find((r) => r.kind === 'orphan_grant')!;
    expect(orphan.details).toMatchObject({ net: B, expected: 0, amount: -B });
    expect(new Set(enqueued.map((e) => e.id))).toEqual(new Set(summary.queued));
    expect(summary.queued).toHaveLength(7);

    const [wm] = await env.dbs.recon('watermarks').where({ check_name: 'users-vs-points' });
    expect(wm.watermark.getTime()).toBeGreaterThan(Date.now() - 120_000);
    const [run] = await env.dbs.recon('runs').where({ id: summary.runId });
    expect(run).toMatchObject({
      status: 'completed',
      windows: summary.windows,
      counts: { 'users-vs-points': { missing_grant: 4, orphan_grant: 2, excess_grant: 1 } },
    });
    const windows = await env.dbs.recon('run_windows').where({ run_id: summary.runId });
    expect(windows).toHaveLength(summary.windows);
  });

  it('re-checking the same range records nothing new and leaves the watermark alone', async () => {
    const [before] = await env.dbs.recon('watermarks').where({ check_name: 'users-vs-points' });
    const summary = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test', from: start, to: new Date(start.getTime() + 5 * 3600_000) });
    expect(summary.counts['users-vs-points']).toEqual({ missing_grant: 4, orphan_grant: 2, excess_grant: 1 });
    expect(summary.queued).toEqual([]);
    const [after] = await env.dbs.recon('watermarks').where({ check_name: 'users-vs-points' });
    expect(after.watermark).toEqual(before.watermark);
    expect(await env.dbs.recon('discrepancies').count({ n: '*' })).toEqual([{ n: 7 }]);
    // From the watermark: nothing left to reconcile but the last seconds, and nothing new.
    const next = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test' });
    expect(next.queued).toEqual([]);
  });

  it('a dry run reports the same and writes nothing', async () => {
    const runs = await env.dbs.recon('runs').count({ n: '*' });
    const summary = await executeRun(deps, {
      checks: ['users-vs-points'],
      trigger: 'test',
      dryRun: true,
      from: start,
      to: new Date(start.getTime() + 5 * 3600_000),
    });
    expect(summary.counts['users-vs-points']).toEqual({ missing_grant: 4, orphan_grant: 2, excess_grant: 1 });
    expect(await env.dbs.recon('runs').count({ n: '*' })).toEqual(runs);
  });

  it('bisection fetches rows only around the discrepancies', async () => {
    const window = { start, end: new Date(start.getTime() + 5 * 3600_000) };
    const ctx = { dbs: env.app, config: env.config };
    const coarse = await usersVsPoints.compare({ ...ctx, bisection: { topFanout: 1, fanout: 1024, leafRows: 100_000 } }, window);
    const fine = await usersVsPoints.compare({ ...ctx, bisection: { topFanout: 8, fanout: 4, leafRows: 3 } }, window);
    const ids = (r: typeof fine) => r.found.map((d) => d.id).sort();
    expect(ids(fine)).toEqual(ids(coarse));
    expect(fine.found).toHaveLength(7);
    expect(coarse.rowsFetched).toBeGreaterThan(600);
    expect(fine.rowsFetched).toBeLessThan(60);
    expect(fine.rowsCompared).toBe(coarse.rowsCompared);
  });
});
