/**
 * Root cause: the `unpublished_event` compensation sent a job's outbox rows all at once (`Promise.all`, in the order of the job's
 * discrepancies) and without asking whether an earlier row of the same key was still unpublished, so a stuck grant and its
 * revocation could reach their partition in reverse order, although the relay keeps per-key order.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDiscrepancies, insertOutboxEvents } from '../../db/index.js';
import { processCompensationJob } from '../../batch/index.js';
import { compensate, type MessageSender } from '../../reconcile/index.js';
import { createConsumer, createProducer, type Consumer, type Producer } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';
import { record, statuses } from '../helpers/compensation-fixtures.js';

const KEYS = 20;
const ROUNDS = 3;

describe('republishing unpublished events keeps per-key order', () => {
  let env: TestEnv;
  let producer: Producer;
  let reader: Consumer;
  /** Event ids read from user.created, by message key, in partition order. */
  const seen = new Map<string, string[]>();

  beforeAll(async () => {
    env = await createTestEnv();
    producer = createProducer(env.kafka);
    await producer.connect();
    reader = createConsumer(env.kafka, `${env.config.namespace}.order-reader`);
    await reader.connect();
    await reader.subscribe({ topic: env.topics.userCreated, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        const key = message.key!.toString();
        seen.set(key, [...(seen.get(key) ?? []), String(message.headers?.id)]);
      },
    });
  });
  afterAll(async () => {
    await reader?.disconnect();
    await producer?.disconnect();
    await env?.cleanup();
  });

  const deps = () => ({ dbs: env.app, config: env.config, producer: producer as MessageSender });
  const high = async () => (await env.admin.fetchTopicOffsets(env.topics.userCreated)).reduce((s, p) => s + Number(p.high), 0);

  /** Unpublished user.created rows of `key` at `at`; returns their event ids. */
  async function unpublished(rows: { key: string; at: Date }[]): Promise<string[]> {
    const withIds = rows.map((r) => ({ ...r, eventId: randomUUID() }));
    await insertOutboxEvents(
      env.dbs.users,
      withIds.map((r) => ({ event_id: r.eventId, topic: env.topics.userCreated, message_key: r.key, payload: { eventId: r.eventId }, occurred_at: r.at })),
    );
    return withIds.map((r) => r.eventId);
  }

  const asFound = (eventIds: readonly string[]) =>
    record(
      env.dbs,
      eventIds.map((eventId) => ({ kind: 'unpublished_event' as const, entityId: `users:${eventId}`, details: { eventId, sourceDb: 'users' } })),
    );

  it('sends an earlier and a later row of each key, both in one job, in outbox order', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const keys = Array.from({ length: KEYS }, () => randomUUID());
      const base = Date.now() - 3600_000;
      const earlier = await unpublished(keys.map((key, i) => ({ key, at: new Date(base + i) })));
      const later = await unpublished(keys.map((key, i) => ({ key, at: new Date(base + 60_000 + i) })));
      // The job lists each key's later row first: sent in the job's order, the revocation would go before its grant.
      const found = await asFound([...later, ...earlier]);
      const result = await processCompensationJob(
        { config: env.config, dbs: env.app, producer },
        {
          id: `order-${round}`,
          data: { kind: 'unpublished_event' as const, items: found.map((f) => ({ id: f.id, generation: f.generation })) },
          attemptsMade: 0,
          opts: { attempts: 8 },
          updateData: async () => undefined,
        },
      );
      expect(result).toMatchObject({ resolved: 2 * KEYS, failed: 0, effects: 2 * KEYS });
      await waitFor('every message read', () => keys.every((k) => (seen.get(k)?.length ?? 0) >= 2), { timeoutMs: 30_000 });
      for (const [i, key] of keys.entries()) expect(seen.get(key), `round ${round}, key ${key}`).toEqual([earlier[i], later[i]]);
    }
  });

  it('leaves a row whose earlier row of its key is unpublished and not in the job a retry, and sends it once that one is published', async () => {
    const key = randomUUID();
    const base = Date.now() - 3600_000;
    const [earlier, later] = await unpublished([
      { key, at: new Date(base) },
      { key, at: new Date(base + 1000) },
    ]);
    const [onlyLater] = await asFound([later!]);
    const before = await high();
    const outcomes = await compensate(deps(), await getDiscrepancies(env.dbs.recon, [onlyLater!.id]));
    expect(outcomes).toEqual([{ id: onlyLater!.id, result: 'retry', reason: expect.stringContaining(earlier!) as string }]);
    expect(await high()).toBe(before);
    const [row] = await env.dbs.users('outbox').where({ event_id: later });
    expect(row.published_at).toBeNull();
    expect((await statuses(env.dbs, [onlyLater!.id])).get(onlyLater!.id)?.status).toBe('detected');

    // The earlier row's own compensation publishes it; then the later one goes.
    const [first] = await asFound([earlier!]);
    expect(await compensate(deps(), await getDiscrepancies(env.dbs.recon, [first!.id]))).toEqual([{ id: first!.id, result: 'resolved', effect: true }]);
    expect(await compensate(deps(), await getDiscrepancies(env.dbs.recon, [onlyLater!.id]))).toEqual([{ id: onlyLater!.id, result: 'resolved', effect: true }]);
    await waitFor('both messages read', () => (seen.get(key)?.length ?? 0) >= 2, { timeoutMs: 30_000 });
    expect(seen.get(key)).toEqual([earlier, later]);
  });
});
