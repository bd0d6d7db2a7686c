import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsumer, createProducer, ensureTopics, headerString, waitForTopicLeaders } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

describe('Kafka round trip through the real broker', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => env?.cleanup());

  it('creates the namespaced topics of DESIGN.md with 6 partitions', async () => {
    const meta = await env.admin.fetchTopicMetadata({ topics: env.topics.all });
    expect(meta.topics.map((t) => [t.name, t.partitions.length]).sort()).toEqual(env.topics.all.map((t) => [t, 6]).sort());
    expect(env.topics.userCreated).toBe(`${env.config.namespace}.user.created`);
    expect(await ensureTopics(env.admin, env.topics.all)).toEqual([]);
  });

  it('refuses an existing topic whose partition count differs, naming it', async () => {
    const odd = `${env.config.namespace}.odd`;
    await env.admin.createTopics({ waitForLeaders: false, topics: [{ topic: odd, numPartitions: 2, replicationFactor: 1 }] });
    await waitForTopicLeaders(env.admin, [odd]);
    await expect(ensureTopics(env.admin, [odd])).rejects.toThrow(`topic ${odd} has 2 partitions; recon needs 6`);
  });

  it('produces keyed messages with an id header and consumes them back', async () => {
    const topic = `${env.config.namespace}.roundtrip`;
    await ensureTopics(env.admin, [topic]);
    const producer = createProducer(env.kafka);
    const consumer = createConsumer(env.kafka, `${env.config.namespace}.roundtrip-group`);
    await producer.connect();
    await consumer.connect();
    try {
      const sent = Array.from({ length: 50 }, (_, i) => ({ key: `user-${i % 7}`, id: randomUUID(), value: JSON.stringify({ i }) }));
      await producer.send({ topic, acks: -1, messages: sent.map((m) => ({ key: m.key, value: m.value, headers: { id: m.id } })) });
      const received: { key: string; id: string; partition: number }[] = [];
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message, partition }) => {
          received.push({ key: message.key!.toString(), id: headerString(message.headers, 'id')!, partition });
        },
      });
      await waitFor('50 messages', () => received.length >= 50, { timeoutMs: 60_000 });
      expect(received.map((r) => r.id).sort()).toEqual(sent.map((m) => m.id).sort());
      // Same key, same partition: per-user order holds.
      const partitionOfKey = new Map<string, number>();
      for (const r of received) {
        expect(partitionOfKey.get(r.key) ?? r.partition).toBe(r.partition);
        partitionOfKey.set(r.key, r.partition);
      }
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
    }
  });
});
