/**
 * Root cause: the grace was measured from the window key, the transaction's start; a transaction that ran longer than the grace and committed just before a run had its rows judged at once, before the stream could deliver them (false `missing_grant`, `unpublished_event`).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun } from '../../batch/index.js';
import { grantEntryId, silentLogger, type CheckName } from '../../core/index.js';
import { tracksCommitTimestamps, type Knex } from '../../db/index.js';
import { pipelines } from '../../reconcile/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';
import { hoursAgo, insertConsumed, insertGrants, insertOutbox, insertUsers, spread } from '../helpers/drift.js';

const GRACE = 3;
const HOLD_MS = 5000;
const CHECKS: CheckName[] = ['users-vs-points', 'outbox-vs-consumed'];

async function serverNow(db: Knex): Promise<Date> {
  const { rows } = await db.raw<{ rows: { now: Date }[] }>('select clock_timestamp() as now');
  return rows[0]!.now;
}

async function untilClockPasses(db: Knex, what: string, t: number): Promise<void> {
  await waitFor(what, async () => (await serverNow(db)).getTime() > t, { intervalMs: 100, timeoutMs: 30_000 });
}

describe('a transaction longer than the grace that commits just before a run', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({
      topics: false,
      roles: true,
      env: { RECON_WINDOW_SECONDS: '3600', RECON_GRACE_SECONDS: String(GRACE), RECON_GRACE_FROM: 'commit' },
    });
    const history = await insertUsers(env.dbs.users, spread(hoursAgo(2), 3600_000, 10));
    await insertGrants(env.dbs.points, history, env.config.signupBonusPoints);
    const [p] = pipelines(env.config);
    const events = await insertOutbox(env.dbs[p!.outboxDb], p!.topic, spread(hoursAgo(2), 3600_000, 10), { published: true });
    await insertConsumed(env.dbs[p!.consumedDb], p!.group, p!.topic, events);
  });
  afterAll(async () => env?.cleanup());

  it('gives no discrepancy in a run 1.5 s after its commit; a later run reconciles the window', async () => {
    expect(await tracksCommitTimestamps(env.app.users)).toBe(true);
    const deps = { config: env.config, dbs: env.app, log: silentLogger };
    const first = await executeRun(deps, { checks: CHECKS, trigger: 'test' });
    expect(first.counts).toEqual({ 'users-vs-points': {}, 'outbox-vs-consumed': {} });
    const watermark = async (check: CheckName) =>
      ((await env.dbs.recon('watermarks').where({ check_name: check }).first('watermark')) as { watermark: Date }).watermark;

    // A user service transaction: two users and their user.created events, held open past the grace.
    const topic = env.topics.userCreated;
    const [delivered, lost] = [randomUUID(), randomUUID()];
    const trx = await env.dbs.users.transaction();
    let createdAt: Date;
    try {
      createdAt = (
        (await trx.raw('insert into users (id, email) values (?, ?), (?, ?) returning created_at', [delivered, `${delivered}@x.test`, lost, `${lost}@x.test`]))
          .rows as [{ created_at: Date }]
      )[0].created_at;
      await trx.raw(
        `insert into outbox (event_id, topic, message_key, payload) select gen_random_uuid(), ?, u::text, jsonb_build_object('userId', u) from unnest(?::uuid[]) u`,
        [topic, [delivered, lost]],
      );
      await untilClockPasses(env.dbs.users, 'the writer to have held its transaction 5 s', createdAt.getTime() + HOLD_MS);
      await trx.commit();
    } finally {
      if (!trx.isCompleted()) await trx.rollback();
    }
    const committedAt = await serverNow(env.dbs.users);

    await untilClockPasses(env.dbs.users, '1.5 s after the commit', committedAt.getTime() + 1500);
    const before = await serverNow(env.dbs.users);
    const during = await executeRun(deps, { checks: CHECKS, trigger: 'test' });
    // The run must have judged the rows inside the grace after their commit, or it proves nothing.
    expect(before.getTime()).toBeLessThan(committedAt.getTime() + GRACE * 1000 - 500);
    expect(during.counts).toEqual({ 'users-vs-points': {}, 'outbox-vs-consumed': {} });
    for (const check of CHECKS) expect((await watermark(check)).getTime()).toBeLessThanOrEqual(createdAt.getTime());

    // The stream delivers one of them (published, consumed, granted); the other never arrives.
    const { rows: outbox } = await env.dbs.users.raw<{ rows: { event_id: string; occurred_at: Date; user_id: string }[] }>(
      "select event_id, occurred_at, payload->>'userId' as user_id from outbox where payload->>'userId' = any(?)",
      [[delivered, lost]],
    );
    const ok = outbox.find((o) => o.user_id === delivered)!;
    const missing = outbox.find((o) => o.user_id === lost)!;
    await env.dbs.users.raw('update outbox set published_at = now(), kafka_partition = 0, kafka_offset = 1 where event_id = ?', [ok.event_id]);
    const [p] = pipelines(env.config);
    await insertConsumed(env.dbs.points, p!.group, p!.topic, [{ eventId: ok.event_id, occurredAt: ok.occurred_at.toISOString() }]);
    await env.dbs.points.raw("insert into point_ledger (entry_id, user_id, amount, reason, user_created_at) values (?, ?, ?, 'signup_bonus', ?)", [
      grantEntryId(delivered),
      delivered,
      env.config.signupBonusPoints,
      createdAt,
    ]);

    await untilClockPasses(env.dbs.users, 'the grace after the commit', committedAt.getTime() + GRACE * 1000 + 1500);
    const later = await executeRun(deps, { checks: CHECKS, trigger: 'test' });
    expect(later.counts).toEqual({ 'users-vs-points': { missing_grant: 1 }, 'outbox-vs-consumed': { unpublished_event: 1 } });
    expect(await env.dbs.recon('discrepancies').where({ kind: 'missing_grant' }).pluck('entity_id')).toEqual([lost]);
    expect(await env.dbs.recon('discrepancies').where({ kind: 'unpublished_event' }).pluck('entity_id')).toEqual([`users:${missing.event_id}`]);
    for (const check of CHECKS) expect((await watermark(check)).getTime()).toBeGreaterThan(createdAt.getTime());
  });
});
