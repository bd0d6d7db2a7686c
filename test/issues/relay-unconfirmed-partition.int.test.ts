/**
 * Root cause: kafkajs keeps the answers of a send's first attempt across its retries, so when a partition's leader dies
 * mid-send and the partition moves to a broker that had already answered for its own partitions, the retry never sends
 * it and `sendBatch` resolves without it. `sendLocated` turned the missing answer into offset -1 and the relay marked
 * the rows published: events lost with acks=all (found by test/chaos/failover.chaos.test.ts killing a leader).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userCreatedEvent } from '../../core/index.js';
import { insertOutboxEvents } from '../../db/index.js';
import { createProducer, keyPartition, relayOnce, type Producer } from '../../streaming/index.js';
import { createTestEnv, type TestEnv } from '../helpers/env.js';

describe('a send the broker confirmed only in part', () => {
  let env: TestEnv;
  let producer: Producer;
  beforeAll(async () => {
    env = await createTestEnv();
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('marks nothing published, and the next round publishes every row with its real offset', async () => {
    const now = new Date();
    const rows = Array.from({ length: 24 }, () => {
      const userId = randomUUID();
      const eventId = randomUUID();
      return {
        event_id: eventId,
        topic: env.topics.userCreated,
        message_key: userId,
        occurred_at: now,
        payload: userCreatedEvent({ eventId, userId, email: `${userId}@example.test`, occurredAt: now }),
      };
    });
    const partitions = new Set(rows.map((r) => keyPartition(r.message_key)));
    expect(partitions.size).toBeGreaterThan(1);
    await insertOutboxEvents(env.dbs.users, rows);
    const dropped = keyPartition(rows[0]!.message_key);
    // The real producer and broker; only the answer for one partition goes missing, as kafkajs's retry loses it.
    const forgetful = Object.assign(Object.create(producer) as Producer, {
      sendBatch: async (batch: Parameters<Producer['sendBatch']>[0]) => (await producer.sendBatch(batch)).filter((r) => r.partition !== dropped),
    });

    await expect(relayOnce(env.dbs.users, forgetful, 1000)).rejects.toMatchObject({ code: 'SEND_UNCONFIRMED' });
    expect(await env.dbs.users('outbox').whereNotNull('published_at').count({ n: '*' })).toEqual([{ n: 0 }]);

    expect(await relayOnce(env.dbs.users, producer, 1000)).toBe(rows.length);
    const published: { kafka_partition: number | null; kafka_offset: string | null }[] = await env.dbs
      .users('outbox')
      .select('kafka_partition', 'kafka_offset');
    expect(published.filter((r) => r.kafka_partition === null || r.kafka_offset === null || Number(r.kafka_offset) < 0)).toEqual([]);
  });
});
