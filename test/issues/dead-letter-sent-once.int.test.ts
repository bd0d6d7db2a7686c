/**
 * Regression: a batch holding a poison message and an event that could never
 * be processed put the poison message on the DLT twice (and every retried
 * batch re-sent its dead letters), so `recon dlq replay` replayed duplicates.
 * Root cause: the dead letters were sent at every attempt of the batch
 * transaction, and again with the culprits found by isolation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer, createUsersOutbox, startConsumers, startRelay } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

describe('dead letters of one batch', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => env?.cleanup());

  it('reach the DLT once each, even when the batch is isolated message by message', async () => {
    await createUsersOutbox({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, 3);
    const [doomed] = await env.dbs.users('outbox').orderBy('event_id').limit(1).select('message_key');
    await env.dbs.points.raw(`alter table point_ledger add constraint refuse_one check (user_id <> '${doomed.message_key}'::uuid)`);
    const relay = await startRelay(env.config);
    await waitFor('the events published', async () => (await env.dbs.users('outbox').whereNull('published_at').count({ n: '*' }))[0]!.n === 0);
    await relay.stop();
    // Poison on the doomed user's partition (same key), before any consumer runs: one batch holds both.
    const producer = createProducer(env.kafka);
    await producer.connect();
    await producer.send({ topic: env.topics.userCreated, messages: [{ key: doomed.message_key, value: '{not json' }] });
    await producer.disconnect();

    const consumers = await startConsumers(env.config, { groups: ['point-service'] });
    try {
      await waitFor('two dead letters', async () => (await env.dbs.points('dead_letters').count({ n: '*' }))[0]!.n === 2, { timeoutMs: 60_000 });
      await waitFor('the two other grants', async () => (await env.dbs.points('point_ledger').count({ n: '*' }))[0]!.n === 2, { timeoutMs: 60_000 });
    } finally {
      await consumers.stop();
    }
    const offsets = await env.admin.fetchTopicOffsets(env.topics.userCreatedDlt);
    expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(2);
  });
});
