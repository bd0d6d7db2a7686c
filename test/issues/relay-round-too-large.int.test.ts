/**
 * Root cause: a relay round goes out as one record batch per partition, and the broker refuses a batch above the
 * topic's `max.message.bytes` (1 MiB by default). A round that large (big payloads, or few keys so one partition gets
 * most of the round) failed whole, was tried again whole, and the relay stopped publishing for good. A failed round
 * is now tried again at half the size, down to one row, and grows back after full rounds that succeed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPIC_PARTITIONS } from '../../core/index.js';
import { countUnpublished, insertOutboxEvents } from '../../db/index.js';
import { createProducer, runOutboxRelay, type Producer } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

/** The size limit of `user.created` here: a round of 400 rows of one key (~1 KB each) is far above it, 32 rows are below. */
const MAX_MESSAGE_BYTES = 48 * 1024;
const ROWS = 400;

describe('a relay round larger than the broker takes', () => {
  let env: TestEnv;
  let producer: Producer;
  beforeAll(async () => {
    env = await createTestEnv({ topics: false });
    await env.admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: env.topics.userCreated,
          numPartitions: TOPIC_PARTITIONS,
          replicationFactor: 1,
          configEntries: [{ name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) }],
        },
      ],
    });
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('is split until it fits, and every row is published once, in order', async () => {
    const key = randomUUID();
    const base = Date.now() - 60_000;
    const rows = Array.from({ length: ROWS }, (_, i) => {
      const eventId = randomUUID();
      return {
        event_id: eventId,
        topic: env.topics.userCreated,
        message_key: key,
        occurred_at: new Date(base + i),
        payload: {
          eventId,
          type: 'user.created',
          schemaVersion: 1,
          occurredAt: new Date(base + i).toISOString(),
          userId: key,
          email: `${'x'.repeat(900)}${i}@example.test`,
        },
      };
    });
    await insertOutboxEvents(env.dbs.users, rows);
    const relay = runOutboxRelay([{ name: 'users', db: env.dbs.users }], producer, { batchSize: ROWS, maxBackoffMs: 200, concurrency: 1 });
    try {
      await waitFor('every row published', async () => (await countUnpublished(env.dbs.users)) === 0, { timeoutMs: 60_000, intervalMs: 200 });
      // The first round (all 400 rows, one partition) was refused at least once before smaller rounds got through.
      expect(relay.stats().failures.users).toBeGreaterThan(0);
      expect(relay.stats().published.users).toBe(ROWS);
    } finally {
      await relay.stop();
    }
    // One partition, offsets in the rows' order, each row once on the topic.
    const published = (await env.dbs.users('outbox').orderBy('occurred_at').select('kafka_partition', 'kafka_offset')) as {
      kafka_partition: number;
      kafka_offset: string;
    }[];
    expect(new Set(published.map((p) => p.kafka_partition)).size).toBe(1);
    const offsets = published.map((p) => Number(p.kafka_offset));
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    const onTopic = (await env.admin.fetchTopicOffsets(env.topics.userCreated)).reduce((n, p) => n + Number(p.high), 0);
    expect(onTopic).toBe(ROWS);
  });
});
