import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUPS, namespaced } from '../../core/index.js';
import { countConsumedEvents } from '../../db/index.js';
import {
  createConsumer,
  createProducer,
  DLT_HEADERS,
  FaultInjector,
  generateUsers,
  headerString,
  REPLAYED_AT_HEADER,
  startConsumers,
  startRelay,
  type ConsumersProcess,
  type KafkaMessage,
  type Producer,
  type RelayProcess,
} from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';
import { runCli } from '../helpers/cli.js';

const USERS = 400;

describe('dead letters: poison messages, dlq list and replay', () => {
  let env: TestEnv;
  let relay: RelayProcess;
  let consumers: ConsumersProcess;
  let producer: Producer;

  beforeAll(async () => {
    env = await createTestEnv();
    producer = createProducer(env.kafka);
    await producer.connect();
    relay = await startRelay(env.config);
    consumers = await startConsumers(env.config, { groups: ['point-service'], concurrency: 2 });
  });
  afterAll(async () => {
    await consumers?.stop();
    await relay?.stop();
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('sends poison to user.created.DLT with its headers, records it, and keeps consuming', async () => {
    const faults = new FaultInjector({ poison: 0.02, seed: 7 });
    await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated, producer, faults }, { count: USERS, batchSize: 50 });
    const poisoned = faults.injected.poison;
    expect(poisoned).toBeGreaterThan(0);

    const group = namespaced(env.config, CONSUMER_GROUPS.pointService);
    await waitFor('all users granted', async () => (await countConsumedEvents(env.dbs.points, group)) >= USERS, { timeoutMs: 60_000 });
    await waitFor('poison recorded', async () => (await env.dbs.points('dead_letters').count<{ n: number }[]>({ n: '*' }))[0]!.n >= poisoned);
    const rows = await env.dbs.points('dead_letters').select('*');
    expect(rows).toHaveLength(poisoned);
    expect(
      rows.every(
        (r) => r.consumer_group === group && r.topic === env.topics.userCreated && r.error_class === 'InvalidMessage' && /not JSON/.test(r.error_message),
      ),
    ).toBe(true);
    const [ledger] = await env.dbs.points('point_ledger').count<{ n: number }[]>({ n: '*' });
    expect(Number(ledger!.n)).toBe(USERS);

    // The DLT holds each poison message, same partition, with the headers of DESIGN.md.
    const dlt = await readTopic(env, env.topics.userCreatedDlt, poisoned);
    expect(dlt).toHaveLength(poisoned);
    const coordinates = new Set(rows.map((r) => `${r.kafka_partition}:${r.kafka_offset}`));
    for (const { partition, message } of dlt) {
      const h = (name: string) => headerString(message.headers, name);
      expect(h(DLT_HEADERS.originalTopic)).toBe(env.topics.userCreated);
      expect(Number(h(DLT_HEADERS.originalPartition))).toBe(partition);
      expect(coordinates.has(`${h(DLT_HEADERS.originalPartition)}:${h(DLT_HEADERS.originalOffset)}`)).toBe(true);
      expect(h(DLT_HEADERS.consumerGroup)).toBe(group);
      expect(h(DLT_HEADERS.errorClass)).toBe('InvalidMessage');
      expect(h(DLT_HEADERS.errorMessage)).toMatch(/not JSON/);
      expect(h(DLT_HEADERS.attempts)).toBe('1');
      expect(Number(h(DLT_HEADERS.originalTimestamp))).toBeGreaterThan(0);
      expect(h('id')).toBeTruthy();
      expect(message.value!.toString()).toMatch(/poison/);
    }

    const list = await runCli(env.config, ['dlq', 'list']);
    expect(list.code).toBe(0);
    const listed = list.stdout.split('\n').filter((l) => l.startsWith(env.topics.userCreated));
    expect(listed).toHaveLength(poisoned);
    expect(listed[0]).toMatch(/InvalidMessage: not JSON/);
  });

  it('replays dead letters back to the original topic, once', async () => {
    const poisoned = (await env.dbs.points('dead_letters').count<{ n: number }[]>({ n: '*' }))[0]!.n;
    const replay = await runCli(env.config, ['dlq', 'replay', '--topic', 'user.created']);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain(`replayed ${poisoned} dead letters`);
    const marked = await env.dbs.points('dead_letters').whereNotNull('replayed_at').count<{ n: number }[]>({ n: '*' });
    expect(Number(marked[0]!.n)).toBe(poisoned);

    // Still poison: the consumer dead-letters the replayed copies again, each carrying x-replayed-at.
    await waitFor(
      'replayed copies dead-lettered again',
      async () => (await env.dbs.points('dead_letters').count<{ n: number }[]>({ n: '*' }))[0]!.n >= 2 * poisoned,
      { timeoutMs: 60_000 },
    );
    const dlt = await readTopic(env, env.topics.userCreatedDlt, 2 * poisoned);
    expect(dlt.filter((m) => headerString(m.message.headers, REPLAYED_AT_HEADER) !== undefined)).toHaveLength(poisoned);

    // A second replay sends only what was dead-lettered since the first one.
    const again = await runCli(env.config, ['dlq', 'replay', '--topic', 'user.created', '--since', new Date(Date.now() - 3600_000).toISOString()]);
    expect(again.stdout).toContain(`replayed ${poisoned} dead letters`);
  });
});

/** Read `count` messages of `topic` from the beginning with a throwaway group. */
async function readTopic(env: TestEnv, topic: string, count: number): Promise<{ partition: number; message: KafkaMessage }[]> {
  const consumer = createConsumer(env.kafka, `${env.config.namespace}.reader-${Math.random().toString(36).slice(2)}`);
  const got: { partition: number; message: KafkaMessage }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ partition, message }) => void got.push({ partition, message }) });
    await waitFor(`${count} messages on ${topic}`, () => got.length >= count, { timeoutMs: 60_000 });
  } finally {
    await consumer.disconnect();
  }
  return got;
}
