import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_NAMES, grantEntryId, silentLogger } from '../../../core/index.js';
import {
  approveHeld,
  compensationEnqueuer,
  createCompensationQueue,
  decisionsForRun,
  dismissHeld,
  executeRun,
  heldForRun,
  startCompensationWorker,
  sweepCompensations,
  waitForCompensations,
  type CompensationQueue,
} from '../../../batch/index.js';
import type { RunOptions } from '../../../batch/index.js';
import { createProducer, type Producer } from '../../../streaming/index.js';
import { runCli } from '../../helpers/cli.js';
import { hoursAgo, insertGrants, insertUsers, spread } from '../../helpers/drift.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';

const UVP = CHECK_NAMES.usersVsPoints;
const B = 1000;

/**
 * The blast-radius guard on real Postgres and Redis: a check whose
 * compensations exceed RECON_AUTO_COMPENSATE_LIMIT (here 5) or _RATIO queues
 * none of them (the BullMQ queue stays empty), they stay held through a
 * re-run and a sweep, and operators' decisions (the real CLI) queue or
 * dismiss them, each kept in the audit trail.
 */
describe('blast-radius guard: held compensations, approve and dismiss', () => {
  let env: TestEnv;
  let queue: CompensationQueue;
  let producer: Producer;

  beforeAll(async () => {
    env = await createTestEnv({ env: { RECON_GRACE_SECONDS: '60', RECON_AUTO_COMPENSATE_LIMIT: '5' }, pool: { max: 6 } });
    queue = createCompensationQueue(env.config);
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await queue?.close();
    await producer?.disconnect();
    await env?.cleanup();
  });

  /** A recheck of users-vs-points over `[from, to)` with a queue. */
  function run(from: Date, to: Date, extra: Partial<RunOptions> = {}, config = env.config) {
    return executeRun(
      { config, dbs: env.dbs, log: silentLogger, enqueue: compensationEnqueuer({ db: env.dbs.recon, queue, config }) },
      { checks: [UVP], trigger: 'test', from, to, ...extra },
    );
  }

  async function jobCount(): Promise<number> {
    const c = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    return Object.values(c).reduce((a, n) => a + n, 0);
  }

  async function byStatus(ids: readonly string[]): Promise<Record<string, number>> {
    const { rows } = await env.dbs.recon.raw<{ rows: { status: string; n: number }[] }>(
      'select status, count(*)::int as n from discrepancies where entity_id = any(?::text[]) group by status',
      [Array.from(ids)],
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  async function nets(ids: readonly string[]): Promise<Map<string, number>> {
    const { rows } = await env.dbs.points.raw<{ rows: { user_id: string; net: number }[] }>(
      'select user_id, sum(amount)::int as net from point_ledger where user_id = any(?::uuid[]) group by user_id',
      [Array.from(ids)],
    );
    return new Map(rows.map((r) => [r.user_id, r.net]));
  }

  it('holds all of a check above the limit, keeps them held through a re-run and a sweep, then approve/dismiss decide', async () => {
    const from = hoursAgo(12);
    const to = hoursAgo(10);
    const at = spread(new Date(from.getTime() + 60_000), 3600_000, 11);
    // 8 users without a grant (missing_grant), 3 grants of nobody (orphan_grant): 11 > 5.
    const missing = await insertUsers(env.dbs.users, at.slice(0, 8));
    const orphans = at.slice(8).map((createdAt) => ({ id: randomUUID(), createdAt }));
    await insertGrants(env.dbs.points, orphans, B);

    const summary = await run(from, to);
    expect(summary.status).toBe('completed');
    expect(summary.counts[UVP]).toMatchObject({ missing_grant: 8, orphan_grant: 3 });
    expect(summary.queued).toEqual([]);
    expect(summary.held?.[UVP]).toMatchObject({ reason: 'count', compensable: 11, limit: 5, kinds: { missing_grant: 8, orphan_grant: 3 } });
    expect(summary.held?.[UVP]?.message).toContain('RECON_AUTO_COMPENSATE_LIMIT=5');
    expect(await jobCount()).toBe(0);
    const allIds = [...missing.map((u) => u.id), ...orphans.map((o) => o.id)];
    expect(await byStatus(allIds)).toEqual({ held: 11 });
    const runRow = (await env.dbs.recon('runs').where({ id: summary.runId }).first()) as { held: Record<string, { compensable: number }> };
    expect(runRow.held[UVP]?.compensable).toBe(11);
    expect(await heldForRun(env.dbs.recon, summary.runId)).toEqual([
      { check: UVP, kind: 'missing_grant', count: 8 },
      { check: UVP, kind: 'orphan_grant', count: 3 },
    ]);

    // A later run finding the same drift does not re-queue them, nor hold them again under its own id; the sweeper leaves them alone.
    const again = await run(from, to);
    expect(again.queued).toEqual([]);
    expect(again.held ?? {}).toEqual({});
    expect(await sweepCompensations({ db: env.dbs.recon, queue, config: env.config }, { staleSeconds: 0 })).toMatchObject({ detected: 0, jobs: 0 });
    expect(await jobCount()).toBe(0);
    expect(await byStatus(allIds)).toEqual({ held: 11 });

    // Bad flags: exit 2 naming the flag; an unknown run: exit 1 saying so.
    const badLimit = await runCli(env.config, ['approve', '--run', summary.runId, '--limit', 'x']);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('--limit');
    const badKind = await runCli(env.config, ['approve', '--run', summary.runId, '--kind', 'phantom_event']);
    expect(badKind.code).toBe(2);
    expect(badKind.stderr).toContain('--kind');
    const noRun = await runCli(env.config, ['approve']);
    expect(noRun.code).toBe(2);
    expect(noRun.stderr).toContain('--run');
    const noReason = await runCli(env.config, ['dismiss', '--run', summary.runId]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason');
    const unknown = await runCli(env.config, ['approve', '--run', randomUUID()]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no run');

    // Approve 3 missing grants through the real CLI: exactly 3 queued.
    const approved = await runCli(env.config, ['approve', '--run', summary.runId, '--kind', 'missing_grant', '--limit', '3', '--json']);
    expect(approved.code, approved.stderr).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ approved: 3, queued: 3 });
    expect(await byStatus(allIds)).toEqual({ held: 8, queued: 3 });
    expect(await jobCount()).toBeGreaterThan(0);

    const worker = await startCompensationWorker({ config: env.config, dbs: env.dbs, producer }, { concurrency: 2, sweepIntervalSeconds: 0 });
    try {
      const queuedIds = ((await env.dbs.recon('discrepancies').where({ status: 'queued' }).select('id')) as { id: string }[]).map((r) => r.id);
      expect(queuedIds).toHaveLength(3);
      const done = await waitForCompensations({ db: env.dbs.recon }, queuedIds, { timeoutMs: 120_000, intervalMs: 250 });
      expect(done).toMatchObject({ settled: true, counts: { resolved: 3, failed: 0 } });
      // SQL invariants: exactly three of the eight users now net B (with the stream's grant id); the others and the orphans are untouched.
      const n = await nets(missing.map((u) => u.id));
      expect([...n.values()]).toEqual([B, B, B]);
      const granted = (await env.dbs
        .points('point_ledger')
        .whereIn('user_id', [...n.keys()])
        .select('entry_id', 'user_id')) as {
        entry_id: string;
        user_id: string;
      }[];
      expect(granted.every((g) => g.entry_id === grantEntryId(g.user_id))).toBe(true);
      expect([...(await nets(orphans.map((o) => o.id))).values()]).toEqual([B, B, B]);

      // Dismiss the orphans with a reason (the real CLI).
      const dismissed = await runCli(env.config, ['dismiss', '--run', summary.runId, '--kind', 'orphan_grant', '--reason', 'test data, not real orphans']);
      expect(dismissed.code, dismissed.stderr).toBe(0);
      expect(dismissed.stdout).toContain('dismissed 3');
      const rows = (await env.dbs.recon('discrepancies').where({ kind: 'orphan_grant' }).select('status', 'dismissed_reason')) as {
        status: string;
        dismissed_reason: string;
      }[];
      expect(rows).toEqual(Array.from({ length: 3 }, () => ({ status: 'dismissed', dismissed_reason: 'test data, not real orphans' })));

      // A re-run finds the dismissed orphans again: they stay dismissed, nothing queued.
      const third = await run(from, to);
      expect(third.queued).toEqual([]);
      expect(await byStatus(orphans.map((o) => o.id))).toEqual({ dismissed: 3 });

      // The rest, from the API's side of the module (actor as a console user would pass it).
      const rest = await approveHeld({ db: env.dbs.recon, queue, config: env.config }, { runId: summary.runId, actor: 'alice' });
      expect(rest).toMatchObject({ approved: 5, queued: 5 });
      const restIds = ((await env.dbs.recon('discrepancies').where({ kind: 'missing_grant', status: 'queued' }).select('id')) as { id: string }[]).map(
        (r) => r.id,
      );
      expect(await waitForCompensations({ db: env.dbs.recon }, restIds, { timeoutMs: 120_000, intervalMs: 250 })).toMatchObject({
        counts: { resolved: 5 },
      });
      expect([...(await nets(missing.map((u) => u.id))).values()]).toEqual(Array.from({ length: 8 }, () => B));
    } finally {
      await worker.close();
    }

    // Nothing is left to decide: a decision with no effect is not recorded.
    expect(await dismissHeld({ db: env.dbs.recon }, { runId: summary.runId, reason: 'late', actor: 'bob' })).toMatchObject({ dismissed: 0 });
    expect(await heldForRun(env.dbs.recon, summary.runId)).toEqual([]);

    const trail = await decisionsForRun(env.dbs.recon, summary.runId);
    expect(trail.map((d) => ({ action: d.action, kind: d.kind, affected: d.affected, limit: d.requestedLimit, reason: d.reason }))).toEqual([
      { action: 'approve', kind: 'missing_grant', affected: 3, limit: 3, reason: null },
      { action: 'dismiss', kind: 'orphan_grant', affected: 3, limit: null, reason: 'test data, not real orphans' },
      { action: 'approve', kind: null, affected: 5, limit: null, reason: null },
    ]);
    expect(trail[0]!.actor).not.toBe('');
    expect(trail[2]!.actor).toBe('alice');
    expect(trail.every((d) => d.decidedAt instanceof Date)).toBe(true);
  }, 300_000);

  it('queues as before under the limit; holds on the ratio above its floor; --approve-all queues and records the approval', async () => {
    // Under the limit: 2 missing grants among 10 users are queued at once (the ratio floor of 100 keeps 2 / 18 rows from counting).
    const from = hoursAgo(20);
    const to = hoursAgo(18);
    const at = spread(new Date(from.getTime() + 60_000), 3600_000, 10);
    const users = await insertUsers(env.dbs.users, at);
    await insertGrants(env.dbs.points, users.slice(2), B);
    const small = await run(from, to);
    expect(small.held ?? {}).toEqual({});
    expect(small.queued).toHaveLength(2);
    expect(await byStatus(users.slice(0, 2).map((u) => u.id))).toEqual({ queued: 2 });

    // The ratio: 3 missing of 10 users (3 / 17 rows compared > 5 %), with the floor at 3.
    const rfrom = hoursAgo(30);
    const rto = hoursAgo(28);
    const rusers = await insertUsers(env.dbs.users, spread(new Date(rfrom.getTime() + 60_000), 3600_000, 10));
    await insertGrants(env.dbs.points, rusers.slice(3), B);
    const ratioConfig = {
      ...env.config,
      compensation: { ...env.config.compensation, guard: { limit: 1000, ratio: 0.05, ratioMinCount: 3 } },
    };
    const held = await run(rfrom, rto, {}, ratioConfig);
    expect(held.queued).toEqual([]);
    expect(held.held?.[UVP]).toMatchObject({ reason: 'ratio', compensable: 3, rowsCompared: 17, ratio: 0.05, kinds: { missing_grant: 3 } });
    expect(held.held?.[UVP]?.message).toContain('RECON_AUTO_COMPENSATE_RATIO=0.05');
    expect(await byStatus(rusers.slice(0, 3).map((u) => u.id))).toEqual({ held: 3 });

    // --approve-all through the real CLI: more than the limit (5), all queued, the approval kept under the OS user.
    const afrom = hoursAgo(40);
    const ato = hoursAgo(38);
    const ausers = await insertUsers(env.dbs.users, spread(new Date(afrom.getTime() + 60_000), 3600_000, 7));
    const cli = await runCli(env.config, [
      'run',
      '--check',
      UVP,
      '--from',
      afrom.toISOString(),
      '--to',
      ato.toISOString(),
      '--approve-all',
      '--json',
      '--no-report',
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    const out = JSON.parse(cli.stdout) as { runId: string; queued: string[]; held: Record<string, unknown> };
    expect(out.queued).toHaveLength(7);
    expect(out.held).toEqual({});
    expect(await byStatus(ausers.map((u) => u.id))).toEqual({ queued: 7 });
    const trail = await decisionsForRun(env.dbs.recon, out.runId);
    expect(trail).toHaveLength(1);
    expect(trail[0]).toMatchObject({ action: 'approve', check: UVP, kind: null, affected: 7 });
    expect(trail[0]!.reason).toContain('--approve-all');
    expect(trail[0]!.actor.length).toBeGreaterThan(0);

    // Without --approve-all the same drift of the CLI is held (and `--dry-run` still records nothing).
    const dfrom = hoursAgo(50);
    const dto = hoursAgo(48);
    await insertUsers(env.dbs.users, spread(new Date(dfrom.getTime() + 60_000), 3600_000, 6));
    const dry = await runCli(env.config, ['run', '--check', UVP, '--from', dfrom.toISOString(), '--to', dto.toISOString(), '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect((JSON.parse(dry.stdout) as { counts: Record<string, Record<string, number>> }).counts[UVP]).toMatchObject({ missing_grant: 6 });
    const plain = await runCli(env.config, ['run', '--check', UVP, '--from', dfrom.toISOString(), '--to', dto.toISOString(), '--no-report']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/held users-vs-points: missing_grant=6 \(6 compensations exceed RECON_AUTO_COMPENSATE_LIMIT=5\)/);
  }, 300_000);

  it('judges a reopened discrepancy afresh: an earlier approval does not carry over to its next generation', async () => {
    const from = hoursAgo(60);
    const to = hoursAgo(58);
    const users = await insertUsers(env.dbs.users, spread(new Date(from.getTime() + 60_000), 3600_000, 7));
    const ids = users.map((u) => u.id);
    const first = await run(from, to, { approveAll: true });
    expect(first.queued).toHaveLength(7);
    // Their compensations end failed (no worker here: set as a worker would after its last attempt); the drift is still there.
    await env.dbs.recon('discrepancies').whereIn('entity_id', ids).update({ status: 'failed', last_error: 'test: attempts exhausted' });
    await queue.obliterate({ force: true });
    // The next run reopens them (generation 2): 7 > 5, so the guard holds them instead of the old approval queueing them.
    const again = await run(from, to);
    expect(again.queued).toEqual([]);
    expect(again.held?.[UVP]).toMatchObject({ reason: 'count', compensable: 7, kinds: { missing_grant: 7 } });
    expect(await byStatus(ids)).toEqual({ held: 7 });
    // The sweeper leaves them held (other tests' leftovers may be swept; these are not).
    await sweepCompensations({ db: env.dbs.recon, queue, config: env.config }, { staleSeconds: 0 });
    expect(await byStatus(ids)).toEqual({ held: 7 });
  }, 120_000);
});
