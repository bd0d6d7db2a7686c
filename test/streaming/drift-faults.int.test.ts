import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUPS, namespaced } from '../../core/index.js';
import { countConsumedEvents } from '../../db/index.js';
import {
  createProducer,
  FaultInjector,
  generateUsers,
  startConsumers,
  startRelay,
  type ConsumersProcess,
  type Producer,
  type RelayProcess,
} from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

async function idsOf(db: TestEnv['dbs']['users'], table: string, column: string): Promise<Set<string>> {
  return new Set((await db(table).select(column)).map((r: Record<string, string>) => r[column]!));
}

describe('drift reproduced by fault injection, and survived by the consumer', () => {
  let env: TestEnv;
  let relay: RelayProcess;
  let consumers: ConsumersProcess;
  let producer: Producer;
  let pointGroup: string;

  beforeAll(async () => {
    env = await createTestEnv();
    pointGroup = namespaced(env.config, CONSUMER_GROUPS.pointService);
    producer = createProducer(env.kafka);
    await producer.connect();
    relay = await startRelay(env.config);
    consumers = await startConsumers(env.config, { concurrency: 2 });
  });
  afterAll(async () => {
    await consumers?.stop();
    await relay?.stop();
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('direct mode: rollbacks leave orphan grants and loses leave users without grants, as many as injected', async () => {
    const faults = new FaultInjector({ rollback: 0.08, lose: 0.06, seed: 1234 });
    const r = await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated, producer, faults }, { count: 300, mode: 'direct' });
    const { rollback, lose } = faults.injected;
    expect(rollback).toBeGreaterThan(0);
    expect(lose).toBeGreaterThan(0);
    expect(r.rolledBack).toBe(rollback);
    expect(r.committed).toBe(300 - rollback);

    const delivered = 300 - lose; // every sent event, committed or rolled back
    await waitFor('every sent event consumed', async () => (await countConsumedEvents(env.dbs.points, pointGroup)) >= delivered, { timeoutMs: 60_000 });
    const users = await idsOf(env.dbs.users, 'users', 'id');
    const granted = await idsOf(env.dbs.points, 'point_ledger', 'user_id');
    expect(users.size).toBe(300 - rollback);
    expect([...granted].filter((u) => !users.has(u))).toHaveLength(rollback); // orphan grants
    expect([...users].filter((u) => !granted.has(u))).toHaveLength(lose); // users without grants
    // The rolled-back events were consumed but have no outbox row: phantom events.
    const outboxEvents = await idsOf(env.dbs.users, 'outbox', 'event_id');
    const consumed = await env.dbs.points('consumed_events').where({ consumer_group: pointGroup }).pluck('event_id');
    expect(consumed.filter((e: string) => !outboxEvents.has(e))).toHaveLength(rollback);
    // Direct-mode rows are recorded as published by the send itself; lost ones have no position.
    const [lost] = await env.dbs.users('outbox').whereNotNull('published_at').whereNull('kafka_offset').count<{ n: number }[]>({ n: '*' });
    expect(Number(lost!.n)).toBe(lose);
  });

  it('outbox mode with every event delivered twice: one grant, one consumed row, one bonus per user', async () => {
    const before = await countConsumedEvents(env.dbs.points, pointGroup);
    const N = 2000;
    const offsetsBefore = await totalOffsets(env, env.topics.userCreated);
    const faults = new FaultInjector({ duplicate: 1, seed: 99 });
    await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated, producer, faults }, { count: N, batchSize: 250 });
    expect(faults.injected.duplicate).toBe(N);
    // Both copies reach the topic (the fault's and the relay's).
    await waitFor('both copies on the topic', async () => (await totalOffsets(env, env.topics.userCreated)) - offsetsBefore >= 2 * N, { timeoutMs: 60_000 });
    await waitFor('every duplicate delivered', () => Object.values(consumers.stats()).reduce((n, s) => n + s.duplicates, 0) >= N, { timeoutMs: 60_000 });
    expect(await countConsumedEvents(env.dbs.points, pointGroup)).toBe(before + N);

    const users = await env.dbs.users('users').orderBy('created_at', 'desc').limit(N).pluck('id');
    const grants = await env.dbs.points('point_ledger').whereRaw('user_id = any(?::uuid[])', [users]).select('user_id', 'amount');
    expect(grants).toHaveLength(N);
    const balancesGroup = namespaced(env.config, CONSUMER_GROUPS.userServiceBalances);
    await waitFor(
      'balances',
      async () => (await env.dbs.users('user_balances').whereRaw('user_id = any(?::uuid[])', [users]).count<{ n: number }[]>({ n: '*' }))[0]!.n >= N,
    );
    const balances = await env.dbs.users('user_balances').whereRaw('user_id = any(?::uuid[])', [users]).pluck('balance');
    expect(balances.every((b: number) => Number(b) === env.config.signupBonusPoints)).toBe(true);
    expect(await countConsumedEvents(env.dbs.users, balancesGroup)).toBeGreaterThanOrEqual(N);
  });
});

async function totalOffsets(env: TestEnv, topic: string): Promise<number> {
  return (await env.admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
}
