/**
 * A relay round whose messages of one partition come to more than the
 * broker's record-batch limit (`message.max.bytes`, 1 MiB by default): it
 * used to fail with MESSAGE_TOO_LARGE, be halved, grow back and fail again
 * (`point.granted` rounds of 4,000 rows did, under load). sendLocated now
 * splits such a send into requests under PARTITION_REQUEST_BYTES per
 * partition, so the round goes through whole and every row records where its
 * own message landed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPIC_PARTITIONS } from '../../core/index.js';
import { insertOutboxEvents } from '../../db/index.js';
import { createPositionedReader, createProducer, headerString, PARTITION_REQUEST_BYTES, relayOnce, type Producer } from '../../streaming/index.js';
import { createTestEnv, type TestEnv } from '../helpers/env.js';

describe('a relay round larger than a record batch may be', () => {
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

  it('is sent in several requests, in order, and every row records its own message', async () => {
    const rows = Array.from({ length: 2400 }, (_, i) => {
      const eventId = randomUUID();
      return {
        event_id: eventId,
        topic: env.topics.userCreated,
        message_key: randomUUID(),
        occurred_at: new Date(Date.UTC(2026, 11, 2, 12, 0, 0, i)),
        payload: { eventId, seq: i, filler: 'x'.repeat(3000) },
      };
    });
    // About 1.2 MiB of messages per partition: over the broker's default limit, in one request.
    expect((rows.length / TOPIC_PARTITIONS) * 3000).toBeGreaterThan(1024 * 1024);
    expect((rows.length / TOPIC_PARTITIONS) * 3000).toBeGreaterThan(PARTITION_REQUEST_BYTES);
    await insertOutboxEvents(env.dbs.users, rows);

    expect(await relayOnce(env.dbs.users, producer, rows.length)).toBe(rows.length);

    const marked: { event_id: string; kafka_partition: number; kafka_offset: string }[] = await env.dbs
      .users('outbox')
      .select('event_id', 'kafka_partition', 'kafka_offset')
      .whereNotNull('published_at');
    expect(marked).toHaveLength(rows.length);
    const reader = await createPositionedReader(env.kafka);
    try {
      const spans = Array.from({ length: TOPIC_PARTITIONS }, (_, partition) => {
        const offsets = marked.filter((m) => m.kafka_partition === partition).map((m) => Number(m.kafka_offset));
        return { partition, from: Math.min(...offsets), to: Math.max(...offsets) + 1 };
      }).filter((s) => Number.isFinite(s.from));
      const read = await reader.read(env.topics.userCreated, spans);
      expect(read).toHaveLength(rows.length);
      const at = new Map(read.map((m) => [`${m.partition}:${m.offset}`, m]));
      for (const m of marked) expect(headerString(at.get(`${m.kafka_partition}:${m.kafka_offset}`)?.headers, 'id')).toBe(m.event_id);
      // Each partition holds its rows in outbox order.
      const seq = new Map<string, number>(rows.map((r) => [r.event_id, r.payload.seq]));
      for (let partition = 0; partition < TOPIC_PARTITIONS; partition++) {
        const inOrder = read
          .filter((m) => m.partition === partition)
          .sort((a, b) => a.offset - b.offset)
          .map((m) => seq.get(headerString(m.headers, 'id')!)!);
        expect(inOrder).toEqual([...inOrder].sort((a, b) => a - b));
      }
    } finally {
      await reader.close();
    }
  });
});
