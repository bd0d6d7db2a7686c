/**
 * The drift the streaming faults inject (direct-mode rollbacks, lost events,
 * duplicates, poison messages) through the real user service, relay,
 * consumers and broker, is found by both checks exactly: as many of each
 * kind as were injected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUPS, createLogger, namespaced } from '../../../core/index.js';
import { executeRun } from '../../../batch/index.js';
import { countConsumedEvents, type Knex } from '../../../db/index.js';
import {
  createProducer,
  FaultInjector,
  generateUsers,
  startConsumers,
  startRelay,
  type ConsumersProcess,
  type Producer,
  type RelayProcess,
} from '../../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';

const GRACE = 2;

async function count(db: Knex, table: string, where: Record<string, unknown> = {}): Promise<number> {
  return Number((await db(table).where(where).count({ n: '*' }))[0]?.n);
}

describe('drift injected by the streaming faults', () => {
  let env: TestEnv;
  let relay: RelayProcess | undefined;
  let consumers: ConsumersProcess | undefined;
  let producer: Producer | undefined;

  beforeAll(async () => {
    env = await createTestEnv({ roles: true, env: { RECON_GRACE_SECONDS: String(GRACE), RECON_WINDOW_SECONDS: '3600' } });
    producer = createProducer(env.kafka);
    await producer.connect();
    relay = await startRelay(env.adminConfig);
    consumers = await startConsumers(env.adminConfig, { concurrency: 2, maxAttempts: 2 });
  });
  afterAll(async () => {
    await consumers?.stop();
    await relay?.stop();
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('is found exactly, kind by kind', async () => {
    const faults = new FaultInjector({ rollback: 0.05, lose: 0.05, duplicate: 0.05, poison: 0.03, seed: 4242 });
    await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated, producer: producer!, faults }, { count: 240, mode: 'direct' });
    const { rollback, lose, duplicate, poison } = faults.injected;
    expect(rollback).toBeGreaterThan(0);
    expect(lose).toBeGreaterThan(0);
    expect(duplicate).toBeGreaterThan(0);
    expect(poison).toBeGreaterThan(0);

    const pointGroup = namespaced(env.config, CONSUMER_GROUPS.pointService);
    const balanceGroup = namespaced(env.config, CONSUMER_GROUPS.userServiceBalances);
    await waitFor(
      'the stream to drain',
      async () => {
        const consumed = await countConsumedEvents(env.dbs.points, pointGroup);
        const dead = await count(env.dbs.points, 'dead_letters');
        const grants = await count(env.dbs.points, 'outbox');
        const balances = await countConsumedEvents(env.dbs.users, balanceGroup);
        return consumed >= 240 - lose && dead >= poison && grants > 0 && balances >= grants;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    const { rows } = await env.dbs.users.raw<{ rows: { now: Date }[] }>('select clock_timestamp() as now');
    const drained = rows[0]!.now.getTime();
    await waitFor(
      'the grace period to pass',
      async () => {
        const { rows: r } = await env.dbs.users.raw<{ rows: { now: Date }[] }>('select clock_timestamp() as now');
        return r[0]!.now.getTime() > drained + GRACE * 1000 + 1500;
      },
      { intervalMs: 200 },
    );

    const deps = { config: env.config, dbs: env.app, log: createLogger(env.config) };
    const summary = await executeRun(deps, { checks: ['users-vs-points', 'outbox-vs-consumed'], trigger: 'test' });
    expect(summary.status).toBe('completed');
    expect(summary.counts['users-vs-points']).toEqual({ missing_grant: lose, orphan_grant: rollback });
    expect(summary.counts['outbox-vs-consumed']).toEqual({ unconsumed_event: lose, phantom_event: rollback, dead_lettered_event: poison });

    // Nothing new the second time over the same range.
    const wm: Date = (await env.dbs.recon('watermarks').where({ check_name: 'users-vs-points' }).first('watermark')).watermark;
    const again = await executeRun(deps, { checks: ['users-vs-points', 'outbox-vs-consumed'], trigger: 'test', from: new Date(drained - 3600_000), to: wm });
    expect(again.queued).toEqual([]);
    expect(again.counts).toEqual(summary.counts);
  });
});
