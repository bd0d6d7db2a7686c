/**
 * Retention on the real databases: 30 days of history (users, grants, both
 * outboxes, both consumer groups' consumed events), walked by runs so both
 * checks have watermarks, with a discrepancy left open on day 12. A prune
 * with a retention shorter than the history keeps day 12 and everything
 * after it, deletes what is before, never touches users or the ledger, and a
 * re-check of the kept range finds exactly what it found before.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer, createRunQueue, executePrune, executeRun, type PruneSummary, type RunDeps } from '../../../batch/index.js';
import { ReconError, UsageError, silentLogger, type Config } from '../../../core/index.js';
import { connect, type Knex } from '../../../db/index.js';
import { pipelines } from '../../../reconcile/index.js';
import { exited, runCli, spawnCli } from '../../helpers/cli.js';
import { insertConsumed, insertGrants, insertOutbox, insertUsers, spread } from '../../helpers/drift.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';

const DAY = 86_400_000;
const CHECKS = ['users-vs-points', 'outbox-vs-consumed'] as const;

describe('recon prune', () => {
  let env: TestEnv;
  let deps: RunDeps;
  /** Start of day 0 of the history (31 days ago, on a whole day: the windows are days). */
  let day0: Date;
  const dayStart = (d: number) => new Date(day0.getTime() + d * DAY);
  /** The superuser's URLs for the prune (the reader role recon runs as may not delete). */
  let pruneConfig: Config;
  let recon: Knex;

  const count = async (db: Knex, table: string, where = 'true', bindings: unknown[] = []) =>
    Number((await db.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ${table} where ${where}`, bindings as Knex.RawBinding[])).rows[0]!.n);

  beforeAll(async () => {
    const now = Date.now();
    day0 = new Date(now - (now % DAY) - 31 * DAY);
    env = await createTestEnv({
      topics: false,
      roles: true,
      env: { RECON_WINDOW_SECONDS: '86400', RECON_GRACE_SECONDS: '2', RECON_START: day0.toISOString() },
    });
    deps = { config: env.config, dbs: env.app, log: silentLogger, topics: null };
    pruneConfig = {
      ...env.config,
      prune: { ...env.config.prune, databases: { users: env.adminConfig.databases.users, points: env.adminConfig.databases.points } },
    };
    recon = connect(env.config.databases.recon, { max: 2 });

    for (let d = 0; d < 30; d++) {
      const at = spread(new Date(dayStart(d).getTime() + 3600_000), 20 * 3600_000, 8);
      const users = await insertUsers(env.dbs.users, at);
      await insertGrants(env.dbs.points, users, env.config.signupBonusPoints);
      for (const p of pipelines(env.config)) {
        const events = await insertOutbox(env.dbs[p.outboxDb], p.topic, at, { published: true });
        // Day 3: one event never consumed (its discrepancy is resolved below); day 12: one never published (left open).
        await insertConsumed(env.dbs[p.consumedDb], p.group, p.topic, d === 3 && p.outboxDb === 'users' ? events.slice(1) : events);
      }
      if (d === 12)
        await insertOutbox(env.dbs.users, pipelines(env.config)[0]!.topic, [new Date(dayStart(12).getTime() + 7200_000).toISOString()], { published: false });
    }
    const first = await executeRun(deps, { checks: [...CHECKS], trigger: 'test' });
    expect(first.counts['outbox-vs-consumed']).toEqual({ unpublished_event: 1, unconsumed_event: 1 });
    // The unconsumed event of day 3 was put right long ago; the unpublished one of day 12 is still open.
    await env.dbs
      .recon('discrepancies')
      .where({ kind: 'unconsumed_event' })
      .update({ status: 'resolved', resolved_at: new Date(now - 20 * DAY), updated_at: new Date(now - 20 * DAY) });
    // Window records written long ago (the runs walked the history then).
    await env.dbs.recon.raw(`update run_windows set finished_at = now() - interval '20 days'`);
  }, 240_000);
  afterAll(async () => {
    await recon?.destroy();
    await env?.cleanup();
  });

  it('refuses to delete with a role that lacks DELETE, naming the grant, and deletes nothing', async () => {
    const before = await count(env.dbs.users, 'outbox');
    const err = await executePrune({ config: env.config, recon, log: silentLogger }, { olderThanMs: 5 * DAY }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReconError);
    expect((err as ReconError).code).toBe('MISSING_PRIVILEGE');
    expect((err as Error).message).toMatch(/lacks delete on outbox.*grant select, delete on outbox, consumed_events/);
    expect(await count(env.dbs.users, 'outbox')).toBe(before);
    expect(await env.dbs.recon('pruned_horizons').count({ n: '*' })).toEqual([{ n: 0 }]);
  });

  it('keeps day 12 and everything after, deletes the rest, and a re-check of the kept range finds what it found before', async () => {
    const watermarks = (await env.dbs.recon('watermarks').select('check_name', 'watermark')) as { check_name: string; watermark: Date }[];
    const wm = new Date(Math.min(...watermarks.map((w) => w.watermark.getTime())));
    expect(wm.getTime()).toBeGreaterThan(dayStart(29).getTime());
    const horizon = dayStart(12);
    const recheck = () => executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test', from: horizon, to: wm });
    const before = await recheck();
    expect(before.counts['outbox-vs-consumed']).toEqual({ unpublished_event: 1 });
    const recordedBefore = (await env.dbs.recon('discrepancies').where('window_start', '>=', horizon).orderBy('id').pluck('id')) as string[];

    // What must go, counted by SQL before anything is deleted.
    const expected = {
      usersOutbox: await count(env.dbs.users, 'outbox', 'occurred_at < ?', [horizon]),
      pointsOutbox: await count(env.dbs.points, 'outbox', 'occurred_at < ?', [horizon]),
      usersConsumed: await count(env.dbs.users, 'consumed_events', 'event_occurred_at < ?', [horizon]),
      pointsConsumed: await count(env.dbs.points, 'consumed_events', 'event_occurred_at < ?', [horizon]),
      outboxCheckWindows: await count(env.dbs.recon, 'run_windows', "check_name = 'outbox-vs-consumed' and window_end <= ?", [horizon]),
      usersCheckWindows: await count(env.dbs.recon, 'run_windows', "check_name = 'users-vs-points' and window_end <= now() - interval '5 days'"),
    };
    expect(expected.usersOutbox).toBe(12 * 8);
    expect(expected.pointsConsumed).toBe(12 * 8 - 1);
    const kept = {
      users: await count(env.dbs.users, 'users'),
      ledger: await count(env.dbs.points, 'point_ledger'),
      usersOutbox: (await count(env.dbs.users, 'outbox')) - expected.usersOutbox,
      pointsConsumed: (await count(env.dbs.points, 'consumed_events')) - expected.pointsConsumed,
    };

    // Under Debezium nothing marks rows published, so they stay on the relay's work list: the prune must take them with their rows.
    await env.dbs.points.raw(
      `insert into unpublished_events (event_id, topic, message_key, occurred_at)
         select event_id, topic, message_key, occurred_at from outbox on conflict do nothing`,
    );
    const listedBehind = await count(env.dbs.points, 'unpublished_events', 'occurred_at < ?', [horizon]);
    expect(listedBehind).toBe(expected.pointsOutbox);
    const listedKept = (await count(env.dbs.points, 'unpublished_events')) - listedBehind;

    // Dry run: the same counts, nothing deleted, no horizon recorded.
    const dry = await executePrune({ config: pruneConfig, recon, log: silentLogger }, { olderThanMs: 5 * DAY, dryRun: true, batchSize: 7 });
    expect(await count(env.dbs.users, 'outbox')).toBe(kept.usersOutbox + expected.usersOutbox);
    expect(await env.dbs.recon('pruned_horizons').count({ n: '*' })).toEqual([{ n: 0 }]);

    // The real prune, from the command line, in small batches.
    const cli = await runCli(pruneConfig, ['prune', '--older-than', '5d', '--batch-size', '7', '--json'], {
      USERS_PRUNE_DATABASE_URL: env.adminConfig.databases.users,
      POINTS_PRUNE_DATABASE_URL: env.adminConfig.databases.points,
    });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const done = JSON.parse(cli.stdout) as PruneSummary;
    expect(new Date(done.sourceHorizon!).toISOString()).toBe(horizon.toISOString());
    const deleted = (s: PruneSummary, database: string, table: string) => s.tables.find((t) => t.database === database && t.table === table)?.deleted;
    const table = (s: PruneSummary) => s.tables.map((t) => [t.database, t.table, t.deleted]);
    expect(table(done)).toEqual(table(dry));
    expect(deleted(done, 'users', 'outbox')).toBe(expected.usersOutbox);
    expect(deleted(done, 'points', 'outbox')).toBe(expected.pointsOutbox);
    expect(deleted(done, 'users', 'consumed_events')).toBe(expected.usersConsumed);
    expect(deleted(done, 'points', 'consumed_events')).toBe(expected.pointsConsumed);
    expect(deleted(done, 'recon', 'run_windows')).toBe(expected.outboxCheckWindows + expected.usersCheckWindows);
    expect(deleted(done, 'recon', 'discrepancies')).toBe(1);

    // By SQL: nothing behind the horizon is left, everything from day 12 on is, users and the ledger untouched.
    expect(await count(env.dbs.users, 'outbox', 'occurred_at < ?', [horizon])).toBe(0);
    expect(await count(env.dbs.points, 'outbox', 'occurred_at < ?', [horizon])).toBe(0);
    expect(await count(env.dbs.users, 'consumed_events', 'event_occurred_at < ?', [horizon])).toBe(0);
    expect(await count(env.dbs.points, 'consumed_events', 'event_occurred_at < ?', [horizon])).toBe(0);
    expect(await count(env.dbs.users, 'outbox')).toBe(kept.usersOutbox);
    expect(await count(env.dbs.points, 'consumed_events')).toBe(kept.pointsConsumed);
    expect(await count(env.dbs.users, 'outbox', 'occurred_at >= ? and occurred_at < ?', [horizon, dayStart(13)])).toBe(8 + 1);
    expect(await count(env.dbs.points, 'unpublished_events', 'occurred_at < ?', [horizon])).toBe(0);
    expect(await count(env.dbs.points, 'unpublished_events')).toBe(listedKept);
    expect(await count(env.dbs.users, 'users')).toBe(kept.users);
    expect(await count(env.dbs.points, 'point_ledger')).toBe(kept.ledger);
    expect(await count(env.dbs.recon, 'discrepancies', "status = 'detected'")).toBe(1);
    expect((await env.dbs.recon('pruned_horizons').where({ check_name: 'outbox-vs-consumed' }).first('horizon')).horizon).toEqual(horizon);

    // The kept range compares exactly as before.
    const after = await recheck();
    expect(after.counts).toEqual(before.counts);
    expect(await env.dbs.recon('discrepancies').where('window_start', '>=', horizon).orderBy('id').pluck('id')).toEqual(recordedBefore);

    // Behind the horizon: refused, naming the flag and the horizon.
    const refused = await executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test', from: dayStart(2), to: dayStart(4) }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UsageError);
    expect((refused as Error).message).toContain(
      `--from ${dayStart(2).toISOString()} is behind the pruned horizon of check outbox-vs-consumed (${horizon.toISOString()})`,
    );
    // users-vs-points reads nothing that is pruned: its history stays comparable.
    const users = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test', from: dayStart(2), to: dayStart(4) });
    expect(users.counts['users-vs-points']).toEqual({});

    // A consumer writing late rows keyed behind the horizon: the late-arrival scan does not look there (it would be a phantom).
    const [p] = pipelines(env.config);
    await insertConsumed(env.dbs[p!.consumedDb], p!.group, p!.topic, [
      { eventId: randomUUID(), occurredAt: new Date(dayStart(3).getTime() + 3600_000).toISOString() },
    ]);
    const recorded = await count(env.dbs.recon, 'discrepancies');
    const forward = await executeRun(deps, { checks: [...CHECKS], trigger: 'test' });
    expect(forward.counts['outbox-vs-consumed']?.phantom_event).toBeUndefined();
    expect(await count(env.dbs.recon, 'discrepancies')).toBe(recorded);
    // (It may look again at kept windows that received rows just before the first run: the late scan keeps a margin.)
    expect(await count(env.dbs.recon, 'run_windows', "run_id = ? and check_name = 'outbox-vs-consumed' and window_start < ?", [forward.runId, horizon])).toBe(
      0,
    );

    // A second prune finds nothing more behind the same horizon (the late row aside, which is behind it).
    const again = await executePrune({ config: pruneConfig, recon, log: silentLogger }, { olderThanMs: 5 * DAY });
    expect(again.sourceHorizon).toEqual(horizon);
    expect(deleted(again, 'users', 'outbox')).toBe(0);
    expect(deleted(again, p!.consumedDb, 'consumed_events')).toBe(1);
  }, 240_000);

  it('command line: a bad --older-than, and a --from behind the horizon, exit 2 naming themselves', async () => {
    const bad = await runCli(pruneConfig, ['prune', '--older-than', '5 days']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--older-than');
    const behind = await runCli(env.config, ['run', '--check', 'outbox-vs-consumed', '--from', dayStart(1).toISOString(), '--to', dayStart(2).toISOString()]);
    expect(behind.code).toBe(2);
    expect(behind.stderr).toContain('is behind the pruned horizon of check outbox-vs-consumed');
  }, 120_000);

  it('POST /api/runs with a from behind the horizon answers 400 naming the field, and queues nothing', async () => {
    const TOKEN = 'prune-test-token-0123456789';
    const runQueue = createRunQueue(env.config);
    const app = await createApiServer({ config: { ...env.config, api: { ...env.config.api, token: TOKEN } }, dbs: env.app, log: silentLogger, runQueue });
    try {
      const post = (from: Date) =>
        app.inject({
          method: 'POST',
          url: '/api/runs',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          payload: { checks: ['outbox-vs-consumed'], from: from.toISOString(), to: dayStart(14).toISOString(), dryRun: true },
        });
      const refused = await post(dayStart(1));
      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toMatchObject({ field: 'from', message: expect.stringContaining('is behind the pruned horizon of check outbox-vs-consumed') });
      expect(await runQueue.getJobCounts()).toMatchObject({ waiting: 0 });
      expect((await post(dayStart(12))).statusCode).toBe(202);
    } finally {
      await app.close();
      await runQueue.close();
    }
  }, 60_000);

  it('recon scheduler with RECON_PRUNE_CRON prunes at its ticks', async () => {
    const [p] = pipelines(env.config);
    const late = { eventId: randomUUID(), occurredAt: new Date(dayStart(4).getTime() + 3600_000).toISOString() };
    await insertConsumed(env.dbs[p!.consumedDb], p!.group, p!.topic, [late]);
    const scheduler = spawnCli(env.config, ['scheduler', '--no-catch-up'], {
      RECON_CRON: '0 0 1 1 *',
      RECON_PRUNE_CRON: '* * * * * *',
      RECON_RETENTION_DAYS: '5',
      USERS_PRUNE_DATABASE_URL: env.adminConfig.databases.users,
      POINTS_PRUNE_DATABASE_URL: env.adminConfig.databases.points,
    });
    try {
      await waitFor('the scheduled prune', async () => (await count(env.dbs[p!.consumedDb], 'consumed_events', 'event_id = ?', [late.eventId])) === 0, {
        timeoutMs: 60_000,
        intervalMs: 250,
      });
    } finally {
      scheduler.kill('SIGTERM');
      await exited(scheduler);
    }
    expect(scheduler.output()).toContain('prune "* * * * * *"');
  }, 90_000);
});
