/**
 * A consumer of ours that commits offsets before its effect and then drops
 * the effect (the auto-commit bug, switched on with the consumer's
 * `commit-before-effect` fault), run under two groups of the same topic: one
 * declared with `inbox` evidence, one with `offsets` evidence. The inbox
 * finds every event unconsumed and the ledger check every grant missing; the
 * committed offsets say all is consumed, so offsets evidence finds nothing.
 * (What offsets evidence finds that an inbox cannot, a group with no inbox at
 * all, is shown by offsets-evidence.int.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun } from '../../../batch/index.js';
import { CONSUMER_GROUPS, silentLogger } from '../../../core/index.js';
import { startConsumers, startRelay, generateUsers, type ConsumersProcess } from '../../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';

const GRACE = 2;

describe('commit before effect: inbox evidence finds it, offsets evidence cannot', () => {
  let env: TestEnv;
  const running: ConsumersProcess[] = [];
  beforeAll(async () => {
    env = await createTestEnv({
      roles: true,
      env: {
        RECON_GRACE_SECONDS: String(GRACE),
        RECON_GRACE_FROM: 'start',
        RECON_SUBSCRIPTIONS: 'user.created:point-service:inbox,user.created:point-service-offsets:offsets,point.granted:user-service-balances:inbox',
      },
    });
  });
  afterAll(async () => {
    await Promise.all(running.map((c) => c.stop()));
    await env?.cleanup();
  });

  it('is unconsumed_event by inbox and missing_grant by the ledger, and nothing by offsets', { timeout: 240_000 }, async () => {
    const total = 30;
    await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, { count: total, mode: 'outbox' });
    const offsetsGroup = `${env.config.namespace}.point-service-offsets`;
    const inboxGroup = `${env.config.namespace}.${CONSUMER_GROUPS.pointService}`;
    running.push(await startConsumers(env.adminConfig, { groups: [CONSUMER_GROUPS.pointService], fault: 'commit-before-effect' }));
    running.push(
      await startConsumers(env.adminConfig, {
        groups: [CONSUMER_GROUPS.pointService],
        groupNames: { [CONSUMER_GROUPS.pointService]: offsetsGroup },
        fault: 'commit-before-effect',
      }),
    );
    const relay = await startRelay(env.adminConfig);
    const committed = async (group: string) =>
      (await env.admin.fetchOffsets({ groupId: group, topics: [env.topics.userCreated] }))[0]!.partitions.reduce(
        (s, p) => s + Math.max(0, Number(p.offset)),
        0,
      );
    try {
      await waitFor(
        'both groups to commit past every event',
        async () => (await committed(inboxGroup)) === total && (await committed(offsetsGroup)) === total,
        {
          timeoutMs: 120_000,
          intervalMs: 250,
        },
      );
    } finally {
      await relay.stop();
    }
    // Offsets committed, effects dropped: no grant, no inbox row.
    expect(Number((await env.dbs.points('point_ledger').count({ n: '*' }))[0]!.n)).toBe(0);
    expect(Number((await env.dbs.points('consumed_events').count({ n: '*' }))[0]!.n)).toBe(0);
    expect(running.every((c) => Object.values(c.stats()).every((s) => s.dropped === total))).toBe(true);
    const now = async () => ((await env.dbs.users.raw<{ rows: { now: Date }[] }>('select clock_timestamp() as now')).rows[0]!.now as Date).getTime();
    const t = await now();
    await waitFor('the grace to pass', async () => (await now()) > t + GRACE * 1000 + 1500, { intervalMs: 200 });

    const run = await executeRun(
      { config: env.config, dbs: env.app, log: silentLogger },
      { checks: ['users-vs-points', 'outbox-vs-consumed'], trigger: 'test' },
    );
    expect(run.counts['users-vs-points']).toEqual({ missing_grant: total });
    expect(run.counts['outbox-vs-consumed']).toEqual({ unconsumed_event: total });
    const unconsumed: { details: Record<string, unknown> }[] = await env.dbs.recon('discrepancies').where({ kind: 'unconsumed_event' }).select('details');
    // All of them the inbox group's; the offsets group, whose committed offsets pass every event, has none.
    expect(new Set(unconsumed.map((u) => u.details.group))).toEqual(new Set([inboxGroup]));
    const events = new Set(await env.dbs.users('outbox').pluck('event_id'));
    expect(new Set(unconsumed.map((u) => u.details.eventId))).toEqual(events);
  });
});
