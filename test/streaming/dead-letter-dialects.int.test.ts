import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUPS, namespaced } from '../../core/index.js';
import {
  createConsumer,
  createProducer,
  DLT_HEADERS,
  headerString,
  readDeadLetterHeaders,
  REPLAYED_AT_HEADER,
  replayDeadLetters,
  SPRING_DLT_HEADERS,
  startConsumers,
  type ConsumersProcess,
  type IHeaders,
  type KafkaMessage,
  type Producer,
} from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

/**
 * RECON_DLT_HEADERS=spring on the real broker: the point-service consumer
 * writes Spring's names and binary encodings, and a letter that is replayed
 * and fails again, or is sent back with all its dead-letter headers by some
 * other tool, gets its dead-letter headers replaced rather than stacked.
 */
describe('dead letters in Spring’s dialect', () => {
  let env: TestEnv;
  let consumers: ConsumersProcess;
  let producer: Producer;

  beforeAll(async () => {
    env = await createTestEnv({ env: { RECON_DLT_HEADERS: 'spring' } });
    producer = createProducer(env.kafka);
    await producer.connect();
    consumers = await startConsumers(env.config, { groups: [CONSUMER_GROUPS.pointService], concurrency: 1 });
  });
  afterAll(async () => {
    await consumers?.stop();
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('writes kafka_dlt-* headers with binary numbers, and replaces them when the letter dies again', async () => {
    const group = namespaced(env.config, CONSUMER_GROUPS.pointService);
    const eventId = randomUUID();
    const key = randomUUID();
    const [sent] = await producer.send({ topic: env.topics.userCreated, messages: [{ key, value: 'poison: not JSON', headers: { id: eventId } }] });

    // 1. The first letter: Spring's names, Spring's encodings, none of recon's own.
    const [first] = await readDlt(env, 1);
    const h1 = first!.message.headers!;
    expect(buf(h1, SPRING_DLT_HEADERS.originalTopic).toString()).toBe(env.topics.userCreated);
    expect(buf(h1, SPRING_DLT_HEADERS.originalPartition)).toHaveLength(4);
    expect(buf(h1, SPRING_DLT_HEADERS.originalPartition).readInt32BE(0)).toBe(sent!.partition);
    expect(first!.partition).toBe(sent!.partition);
    expect(buf(h1, SPRING_DLT_HEADERS.originalOffset)).toHaveLength(8);
    expect(buf(h1, SPRING_DLT_HEADERS.originalOffset).readBigInt64BE(0)).toBe(BigInt(sent!.baseOffset!));
    expect(buf(h1, SPRING_DLT_HEADERS.originalTimestamp)).toHaveLength(8);
    expect(Number(buf(h1, SPRING_DLT_HEADERS.originalTimestamp).readBigInt64BE(0))).toBeGreaterThan(Date.now() - 3600_000);
    expect(buf(h1, SPRING_DLT_HEADERS.originalTimestampType).toString()).toBe('CreateTime');
    expect(buf(h1, SPRING_DLT_HEADERS.originalConsumerGroup).toString()).toBe(group);
    expect(buf(h1, SPRING_DLT_HEADERS.exceptionFqcn).toString()).toBe('InvalidMessage');
    expect(buf(h1, SPRING_DLT_HEADERS.exceptionMessage).toString()).toMatch(/not JSON/);
    expect(buf(h1, SPRING_DLT_HEADERS.exceptionStacktrace).toString()).toMatch(/^InvalidMessage: .*not JSON/);
    expect(Object.keys(h1).filter((n) => n.startsWith('x-'))).toEqual([]);
    expect(headerString(h1, 'id')).toBe(eventId);
    // recon's reader understands what recon wrote in Spring's dialect.
    expect(readDeadLetterHeaders(h1)).toMatchObject({ dialect: 'spring', topic: env.topics.userCreated, partition: sent!.partition, group });

    // 2. `recon dlq replay` sends it back; still poison, it dies again: one of each header, pointing at the replayed copy.
    const replay = await replayDeadLetters(
      { config: env.config, kafka: env.kafka, producer, dbs: env.dbs },
      { dltTopics: [env.topics.userCreatedDlt], timeoutMs: 60_000 },
    );
    expect(replay.replayed).toBe(1);
    const [, second] = await readDlt(env, 2);
    const h2 = second!.message.headers!;
    expect(Object.keys(h2).sort()).toEqual([...Object.keys(h1), REPLAYED_AT_HEADER].sort());
    for (const [name, value] of Object.entries(h2)) expect(Array.isArray(value), `${name} is stacked`).toBe(false);
    expect(buf(h2, SPRING_DLT_HEADERS.originalOffset).readBigInt64BE(0)).toBeGreaterThan(BigInt(sent!.baseOffset!));

    // 3. Another tool sends the letter back with every header it carries, plus recon-dialect ones from an older pass:
    //    the next letter has exactly one set, Spring's, for the newest failure.
    const stale: IHeaders = { ...h2, [DLT_HEADERS.originalTopic]: 'elsewhere', [DLT_HEADERS.originalOffset]: '1', [DLT_HEADERS.attempts]: '9' };
    const [resent] = await producer.send({ topic: env.topics.userCreated, messages: [{ key, value: second!.message.value, headers: stale }] });
    const [, , third] = await readDlt(env, 3);
    const h3 = third!.message.headers!;
    expect(Object.keys(h3).sort()).toEqual(Object.keys(h2).sort());
    for (const [name, value] of Object.entries(h3)) expect(Array.isArray(value), `${name} is stacked`).toBe(false);
    expect(buf(h3, SPRING_DLT_HEADERS.originalOffset).readBigInt64BE(0)).toBe(BigInt(resent!.baseOffset!));
    expect(third!.message.value!.length + sizeOf(h3)).toBeLessThanOrEqual(first!.message.value!.length + sizeOf(h1) + 64);

    await waitFor('three dead letters recorded', async () => Number((await env.dbs.points('dead_letters').count({ n: '*' }).first())?.n) === 3);
  });
});

function buf(headers: IHeaders, name: string): Buffer {
  const v = headers[name];
  if (v === undefined || Array.isArray(v)) throw new Error(`header ${name}: ${v === undefined ? 'missing' : 'stacked'}`);
  return Buffer.isBuffer(v) ? v : Buffer.from(String(v));
}

function sizeOf(headers: IHeaders): number {
  return Object.entries(headers).reduce((n, [k, v]) => n + k.length + (Buffer.isBuffer(v) ? v.length : String(v).length), 0);
}

/** The DLT's messages in order (one partition: every copy has the same key), once there are `count`. */
async function readDlt(env: TestEnv, count: number): Promise<{ partition: number; message: KafkaMessage }[]> {
  const consumer = createConsumer(env.kafka, `${env.config.namespace}.reader-${randomUUID()}`);
  const got: { partition: number; message: KafkaMessage }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: env.topics.userCreatedDlt, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ partition, message }) => void got.push({ partition, message }) });
    await waitFor(`${count} dead letters`, () => got.length >= count, { timeoutMs: 90_000 });
  } finally {
    await consumer.disconnect();
  }
  return got.sort((a, b) => Number(a.message.offset) - Number(b.message.offset));
}
