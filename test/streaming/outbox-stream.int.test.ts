import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUPS, namespaced, userCreatedEvent } from '../../core/index.js';
import { countConsumedEvents, countUnpublished, insertOutboxEvents, insertUsers, transactionStart } from '../../db/index.js';
import { createProducer, generateUsers, startConsumers, startRelay, type ConsumersProcess, type Producer, type RelayProcess } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';
import { randomUUID } from 'node:crypto';

const N = 10_000;

describe('streaming path, outbox mode', () => {
  let env: TestEnv;
  let relay: RelayProcess | undefined;
  let consumers: ConsumersProcess | undefined;
  let producer: Producer;

  beforeAll(async () => {
    env = await createTestEnv();
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await consumers?.stop();
    await relay?.stop();
    await producer?.disconnect();
    await env?.cleanup();
  });

  it(`turns ${N} users into exactly ${N} grants, consumed rows and balances`, async () => {
    relay = await startRelay(env.config);
    consumers = await startConsumers(env.config, { concurrency: 2 });
    const result = await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated, producer }, { count: N });
    expect(result.committed).toBe(N);

    const B = env.config.signupBonusPoints;
    const balancesGroup = namespaced(env.config, CONSUMER_GROUPS.userServiceBalances);
    await waitFor('every balance', async () => (await countConsumedEvents(env.dbs.users, balancesGroup)) >= N, { timeoutMs: 120_000, intervalMs: 500 });

    const [users] = await env.dbs.users('users').count<{ n: number }[]>({ n: '*' });
    expect(Number(users!.n)).toBe(N);
    expect(await countUnpublished(env.dbs.users)).toBe(0);
    const grants = await env.dbs.points('point_ledger').select('user_id', 'amount', 'reason', 'user_created_at', 'source');
    expect(grants).toHaveLength(N);
    expect(grants.every((g) => g.amount === B && g.reason === 'signup_bonus' && g.source === 'stream')).toBe(true);
    expect(await countConsumedEvents(env.dbs.points, namespaced(env.config, CONSUMER_GROUPS.pointService))).toBe(N);

    // Window keys agree: users.created_at = outbox.occurred_at = ledger.user_created_at = consumed.event_occurred_at.
    const userRows: { id: string; created_at: Date; occurred_at: Date; kafka_offset: number | null }[] = await env.dbs
      .users('users as u')
      .joinRaw('join outbox o on o.message_key = u.id::text')
      .select('u.id', 'u.created_at', 'o.occurred_at', 'o.kafka_offset');
    expect(userRows.every((r) => r.created_at.getTime() === r.occurred_at.getTime() && r.kafka_offset !== null)).toBe(true);
    const createdAt = new Map(userRows.map((r) => [r.id, r.created_at.getTime()]));
    expect(grants.every((g) => createdAt.get(g.user_id) === (g.user_created_at as Date).getTime())).toBe(true);

    const balances = await env.dbs.users('user_balances').select('user_id', 'balance');
    expect(balances).toHaveLength(N);
    expect(balances.every((b) => Number(b.balance) === B)).toBe(true);
    expect(await countUnpublished(env.dbs.points)).toBe(0);
  });

  it('publishes a row whose transaction commits after later rows were published', async () => {
    // Open a transaction that writes a user + outbox row and hold it while other users flow.
    const late = await env.dbs.users.transaction();
    const lateId = randomUUID();
    const lateEvent = randomUUID();
    const now = await transactionStart(late);
    await insertUsers(late, [{ id: lateId, email: `late-${lateId}@example.test`, created_at: now }]);
    await insertOutboxEvents(late, [
      {
        event_id: lateEvent,
        topic: env.topics.userCreated,
        message_key: lateId,
        occurred_at: now,
        payload: userCreatedEvent({ eventId: lateEvent, userId: lateId, email: `late-${lateId}@example.test`, occurredAt: now }),
      },
    ]);
    await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, { count: 50 });
    const group = namespaced(env.config, CONSUMER_GROUPS.pointService);
    await waitFor('the 50 later users granted', async () => (await countConsumedEvents(env.dbs.points, group)) >= N + 50, { timeoutMs: 60_000 });
    await late.commit();
    await waitFor('the late user granted', async () => (await env.dbs.points('point_ledger').where({ user_id: lateId }).first()) ?? false, {
      timeoutMs: 60_000,
    });
    const row = await env.dbs.users('outbox').where({ event_id: lateEvent }).first();
    expect(row.published_at).not.toBeNull();
  });
});
