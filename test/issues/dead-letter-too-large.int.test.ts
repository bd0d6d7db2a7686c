/**
 * Root cause: the consumer treated a failed dead-letter send like a failed database write: it threw out of the batch,
 * so a dead letter the DLT can never take (MESSAGE_TOO_LARGE once recon's headers are added to a message near the
 * topic's size limit) stopped its partition for good, and lag grew behind one poison message.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPIC_PARTITIONS } from '../../core/index.js';
import { createProducer, createUsersOutbox, sendLocated, startConsumers, startRelay, type RelayProcess } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

/** The size limit of `user.created` and its `.DLT` in this test: the poison message fits, its dead letter does not. */
const MAX_MESSAGE_BYTES = 4096;

describe('a dead letter the dead-letter topic can never take', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ topics: false });
    const limited = [{ name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) }];
    await env.admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: env.topics.userCreated, numPartitions: TOPIC_PARTITIONS, replicationFactor: 1, configEntries: limited },
        { topic: env.topics.userCreatedDlt, numPartitions: TOPIC_PARTITIONS, replicationFactor: 1, configEntries: limited },
        { topic: env.topics.pointGranted, numPartitions: TOPIC_PARTITIONS, replicationFactor: 1 },
        { topic: env.topics.pointGrantedDlt, numPartitions: TOPIC_PARTITIONS, replicationFactor: 1 },
      ],
    });
  });
  afterAll(async () => env?.cleanup());

  it('is kept in dead_letters with the reason, alerted, and the partition moves on', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const consumers = await startConsumers(env.config, { groups: ['point-service'], log });
    let relay: RelayProcess | undefined;
    try {
      await createUsersOutbox({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, 1);
      const [user] = await env.dbs.users('outbox').select('message_key');
      // Poison just under the limit and a small one, in one batch on the partition the user's event goes to, before that event.
      const producer = createProducer(env.kafka);
      await producer.connect();
      try {
        const large = `{not json ${'x'.repeat(MAX_MESSAGE_BYTES - 300)}`;
        await sendLocated(producer, [
          { topic: env.topics.userCreated, message: { key: user.message_key, value: large } },
          { topic: env.topics.userCreated, message: { key: user.message_key, value: '{not json either' } },
        ]);
      } finally {
        await producer.disconnect();
      }
      await waitFor('the poison handled', async () => Number((await env.dbs.points('dead_letters').count({ n: '*' }))[0]!.n) === 2, { timeoutMs: 60_000 });
      relay = await startRelay(env.config);
      await waitFor('the grant behind the poison', async () => Number((await env.dbs.points('point_ledger').count({ n: '*' }))[0]!.n) === 1, {
        timeoutMs: 60_000,
      });
      expect(Object.values(consumers.stats())[0]).toMatchObject({ consumed: 1, deadLettered: 2, dltSendFailures: 1 });
    } finally {
      await consumers.stop();
      await relay?.stop();
    }
    const letters: { kafka_offset: number; error_class: string; dlt_error: string | null }[] = await env.dbs
      .points('dead_letters')
      .orderBy('kafka_offset')
      .select('kafka_offset', 'error_class', 'dlt_error');
    expect(letters.map((l) => l.error_class)).toEqual(['InvalidMessage', 'InvalidMessage']);
    // The large one is only in dead_letters, with the reason; the small one went to the DLT as usual.
    expect(letters[0]!.dlt_error).toMatch(/larger than the max message size/);
    expect(letters[1]!.dlt_error).toBeNull();
    expect((await env.admin.fetchTopicOffsets(env.topics.userCreatedDlt)).reduce((n, p) => n + Number(p.high), 0)).toBe(1);
    const alert = lines.map((l) => JSON.parse(l) as { msg: string; level: number }).find((l) => l.msg.includes('could not be sent to the dead-letter topic'));
    expect(alert?.level).toBe(50);
  });
});
