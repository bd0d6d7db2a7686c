import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, grantEntryId } from '../../../core/index.js';
import { executeRun, type RunDeps } from '../../../batch/index.js';
import { insertConsumedEvents, type Knex } from '../../../db/index.js';
import { pipelines } from '../../../reconcile/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';
import { hoursAgo, insertGrants, insertOutbox, insertUsers, spread } from '../../helpers/drift.js';

const GRACE = 2;

async function serverNow(db: Knex): Promise<Date> {
  const { rows } = await db.raw<{ rows: { now: Date }[] }>('select clock_timestamp() as now');
  return rows[0]!.now;
}

/** Wait until the database clock is past `t` + grace + the bound's margin: the instant is then old enough to reconcile. */
async function waitPastGrace(db: Knex, t: Date): Promise<void> {
  await waitFor(`the clock to pass ${t.toISOString()} + grace`, async () => (await serverNow(db)).getTime() > t.getTime() + GRACE * 1000 + 1500, {
    intervalMs: 200,
  });
}

describe('the safe upper bound', () => {
  let env: TestEnv;
  let deps: RunDeps;
  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true, env: { RECON_WINDOW_SECONDS: '3600', RECON_GRACE_SECONDS: String(GRACE) } });
    deps = { config: env.config, dbs: env.app, log: createLogger(env.config) };
    // Some clean history, so both checks have a place to start.
    const users = await insertUsers(env.dbs.users, spread(hoursAgo(2), 3600_000, 20));
    await insertGrants(env.dbs.points, users, env.config.signupBonusPoints);
  });
  afterAll(async () => env?.cleanup());

  it('a transaction open past the grace period causes no false missing or orphan grant; its rows are reconciled after it commits', async () => {
    const B = env.config.signupBonusPoints;
    // A user whose transaction stays open while its grant is already committed (a direct producer sent too early)...
    const userTrx = await env.dbs.users.transaction();
    // ...and a committed user whose grant sits in a transaction still open on the points side.
    const pointsTrx = await env.dbs.points.transaction();
    try {
      const u1 = randomUUID();
      const [{ created_at: t1 }] = (await userTrx.raw(`insert into users (id, email) values (?, ?) returning created_at`, [u1, `${u1}@example.test`])).rows;
      await env.dbs.points.raw(`insert into point_ledger (entry_id, user_id, amount, reason, user_created_at) values (?, ?, ?, 'signup_bonus', ?)`, [
        grantEntryId(u1),
        u1,
        B,
        t1,
      ]);
      const [u2] = await insertUsers(env.dbs.users, [(await serverNow(env.dbs.users)).toISOString()]);
      await pointsTrx.raw(`insert into point_ledger (entry_id, user_id, amount, reason, user_created_at) values (?, ?, ?, 'signup_bonus', ?)`, [
        grantEntryId(u2!.id),
        u2!.id,
        B,
        new Date(u2!.createdAt),
      ]);
      await waitPastGrace(env.dbs.users, new Date(u2!.createdAt));

      const during = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test' });
      expect(during.counts['users-vs-points']).toEqual({});
      const wm: Date = (await env.dbs.recon('watermarks').where({ check_name: 'users-vs-points' }).first('watermark')).watermark;
      expect(wm.getTime()).toBeLessThan((t1 as Date).getTime());

      await userTrx.commit();
      await pointsTrx.commit();
      const after = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test' });
      expect(after.counts['users-vs-points']).toEqual({});
      const wm2: Date = (await env.dbs.recon('watermarks').where({ check_name: 'users-vs-points' }).first('watermark')).watermark;
      expect(wm2.getTime()).toBeGreaterThan(new Date(u2!.createdAt).getTime());
      // The windows of the second run did cover the two users and their grants.
      const windows = await env.dbs.recon('run_windows').where({ run_id: after.runId });
      expect(windows.reduce((s: number, w: { rows_compared: number }) => s + Number(w.rows_compared), 0)).toBeGreaterThanOrEqual(4);
    } finally {
      if (!userTrx.isCompleted()) await userTrx.rollback();
      if (!pointsTrx.isCompleted()) await pointsTrx.rollback();
    }
  });

  it('a transaction that has only read when the run happens still holds the bound back (regression)', async () => {
    // Root cause: the bound counted only backends holding a write xid, which Postgres assigns at
    // the first write; a transaction that reads (or waits) first writes rows keyed by its earlier start.
    const trx = await env.dbs.users.transaction();
    try {
      const started: Date = (await trx.raw('select now() as now')).rows[0].now;
      await waitPastGrace(env.dbs.users, started);
      const during = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test' });
      expect(during.status).toBe('completed');
      const wm: Date = (await env.dbs.recon('watermarks').where({ check_name: 'users-vs-points' }).first('watermark')).watermark;
      expect(wm.getTime()).toBeLessThan(started.getTime());
      // Only now does it write: a user keyed by the transaction's start, with no grant.
      const late = randomUUID();
      await trx.raw('insert into users (id, email, created_at) values (?, ?, now())', [late, `${late}@example.test`]);
      await trx.commit();
      await waitPastGrace(env.dbs.users, started);
      const after = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test' });
      expect(after.counts['users-vs-points']).toEqual({ missing_grant: 1 });
      expect(await env.dbs.recon('discrepancies').where({ entity_id: late }).pluck('kind')).toEqual(['missing_grant']);
    } finally {
      if (!trx.isCompleted()) await trx.rollback();
    }
  });

  it('a consumer lagging less than the grace causes nothing; one stopped longer shows as unconsumed and converges when it resumes', async () => {
    const [p] = pipelines(env.config);
    const consume = (events: { eventId: string; occurredAt: string }[]) =>
      env.dbs[p!.consumedDb].transaction((trx) =>
        insertConsumedEvents(
          trx,
          events.map((e, i) => ({
            event_id: e.eventId,
            consumer_group: p!.group,
            topic: p!.topic,
            kafka_partition: 0,
            kafka_offset: i,
            event_occurred_at: new Date(e.occurredAt),
          })),
        ),
      );
    // Published now; the run right away must not look at it yet.
    const lagging = await insertOutbox(env.dbs[p!.outboxDb], p!.topic, [(await serverNow(env.dbs.users)).toISOString()], { published: true });
    const early = await executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test' });
    expect(early.counts['outbox-vs-consumed']).toEqual({});
    await consume(lagging);
    await waitPastGrace(env.dbs.users, new Date(lagging[0]!.occurredAt));
    const onTime = await executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test' });
    expect(onTime.counts['outbox-vs-consumed']).toEqual({});

    // A consumer stopped for longer than the grace.
    const stopped = await insertOutbox(env.dbs[p!.outboxDb], p!.topic, [(await serverNow(env.dbs.users)).toISOString()], { published: true });
    await waitPastGrace(env.dbs.users, new Date(stopped[0]!.occurredAt));
    const late = await executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test' });
    expect(late.counts['outbox-vs-consumed']).toEqual({ unconsumed_event: 1 });
    const window = (await env.dbs.recon('discrepancies').where({ kind: 'unconsumed_event' }).first()) as { window_start: Date; window_end: Date };

    // It resumes and delivers the event; the compensation's republish then arrives too and is deduplicated.
    expect((await consume(stopped)).size).toBe(1);
    expect((await consume(stopped)).size).toBe(0);
    const recheck = await executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test', from: window.window_start, to: window.window_end });
    expect(recheck.counts['outbox-vs-consumed']).toEqual({});
  });
});
