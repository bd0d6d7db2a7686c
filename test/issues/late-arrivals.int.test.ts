/**
 * Regression: rows written late behind the watermark were never reconciled.
 * Root cause: the ledger and consumed events are windowed by the user's or the
 * event's time, not by when they are written; a consumer down longer than the
 * grace period (then consuming a rolled-back direct producer's event) writes an
 * orphan grant and a phantom consumed row into windows a run already closed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun } from '../../batch/index.js';
import { grantEntryId, silentLogger } from '../../core/index.js';
import { insertConsumedEvents } from '../../db/index.js';
import { pipelines } from '../../reconcile/index.js';
import { createTestEnv, type TestEnv } from '../helpers/env.js';
import { hoursAgo, insertGrants, insertUsers, spread } from '../helpers/drift.js';

describe('rows written late behind the watermark', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true, env: { RECON_GRACE_SECONDS: '2' } });
  });
  afterAll(async () => env?.cleanup());

  it('are found by the next run, which checks their windows again without moving the watermark', async () => {
    const B = env.config.signupBonusPoints;
    const deps = { config: env.config, dbs: env.app, log: silentLogger };
    const users = await insertUsers(env.dbs.users, spread(hoursAgo(5), 3 * 3600_000, 30));
    await insertGrants(env.dbs.points, users, B);
    const first = await executeRun(deps, { checks: ['users-vs-points', 'outbox-vs-consumed'], trigger: 'test' });
    expect(first.counts).toEqual({ 'users-vs-points': {}, 'outbox-vs-consumed': {} });
    const watermark = async (check: string) => (await env.dbs.recon('watermarks').where({ check_name: check }).first('watermark')).watermark as Date;
    const wm = await watermark('users-vs-points');

    // Hours later, a consumer catches up: a grant for a user that never committed, and its consumed event.
    const orphan = randomUUID();
    const at = hoursAgo(4);
    await env.dbs.points.raw(`insert into point_ledger (entry_id, user_id, amount, reason, user_created_at) values (?, ?, ?, 'signup_bonus', ?)`, [
      grantEntryId(orphan),
      orphan,
      B,
      at,
    ]);
    const [p] = pipelines(env.config);
    await env.dbs.points.transaction((trx) =>
      insertConsumedEvents(trx, [
        { event_id: randomUUID(), consumer_group: p!.group, topic: p!.topic, kafka_partition: 0, kafka_offset: 99, event_occurred_at: at },
      ]),
    );

    const second = await executeRun(deps, { checks: ['users-vs-points', 'outbox-vs-consumed'], trigger: 'test' });
    expect(second.counts['users-vs-points']).toEqual({ orphan_grant: 1 });
    expect(second.counts['outbox-vs-consumed']).toEqual({ phantom_event: 1 });
    expect(await env.dbs.recon('discrepancies').where({ kind: 'orphan_grant' }).pluck('entity_id')).toEqual([orphan]);
    expect((await watermark('users-vs-points')).getTime()).toBeGreaterThanOrEqual(wm.getTime());

    // Recorded once: the run after (which may look at that window again: the scan keeps a safety margin) adds nothing.
    const recorded = await env.dbs.recon('discrepancies').count({ n: '*' });
    // These runs have no queue: the orphan grant is still `detected`, and a run that finds it again hands it on again (its
    // guard counts it); nothing new is recorded.
    const unqueued = await env.dbs.recon('discrepancies').where({ status: 'detected', kind: 'orphan_grant' }).pluck('id');
    const third = await executeRun(deps, { checks: ['users-vs-points', 'outbox-vs-consumed'], trigger: 'test' });
    expect(third.queued.every((id) => unqueued.includes(id))).toBe(true);
    expect(await env.dbs.recon('discrepancies').count({ n: '*' })).toEqual(recorded);
  });
});
