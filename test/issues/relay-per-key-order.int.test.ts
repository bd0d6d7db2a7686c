/**
 * Root cause: the relay's claim loops (several per database, and several relays) each claimed the oldest rows not
 * locked by another (`skip locked`) and sent them at once, so a key's later event, claimed by one loop, could reach
 * its partition before the earlier event another loop held (still in flight, or rolled back after a failed send):
 * a user's revocation before its grant.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countUnpublished, insertOutboxEvents } from '../../db/index.js';
import { createConsumer, startRelay, type RelayProcess } from '../../streaming/index.js';
import { exited, spawnCli } from '../helpers/cli.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

const KEYS = 12;
const PER_KEY = 150;

describe('the outbox relay with several loops and several relays', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => env?.cleanup());

  it('publishes the events of each key in outbox order', async () => {
    // Rows of a dozen keys interleaved, written in order (occurred_at strictly increasing).
    const keys = Array.from({ length: KEYS }, () => randomUUID());
    const start = Date.now() - 60_000;
    const rows = Array.from({ length: KEYS * PER_KEY }, (_, i) => {
      const key = keys[i % KEYS]!;
      const seq = Math.floor(i / KEYS);
      const eventId = randomUUID();
      return {
        event_id: eventId,
        topic: env.topics.pointGranted,
        message_key: key,
        payload: { eventId, key, seq },
        occurred_at: new Date(start + i),
      };
    });
    await insertOutboxEvents(env.dbs.points, rows);

    const seen = new Map<string, number[]>();
    const reader = createConsumer(env.kafka, `${env.config.namespace}.order-reader`);
    await reader.connect();
    await reader.subscribe({ topic: env.topics.pointGranted, fromBeginning: true });
    let read = 0;
    await reader.run({
      eachMessage: async ({ message }) => {
        const { key, seq } = JSON.parse(message.value!.toString()) as { key: string; seq: number };
        seen.set(key, [...(seen.get(key) ?? []), seq]);
        read += 1;
      },
    });
    // Two relays, a `recon stream relay` process and one in this process, four loops each, small batches:
    // many claims in flight at once.
    const args = ['stream', 'relay', '--batch-size', '25', '--concurrency', '4', '--progress-interval', '0'];
    const child = spawnCli(env.config, args);
    let relay: RelayProcess | undefined;
    try {
      relay = await startRelay(env.config, { batchSize: 25, concurrency: 4 });
      await waitFor('every row published', async () => (await countUnpublished(env.dbs.points)) === 0, { timeoutMs: 120_000 });
      await waitFor('every message read', () => read >= KEYS * PER_KEY, { timeoutMs: 60_000 });
    } finally {
      child.kill('SIGTERM');
      await exited(child);
      await relay?.stop();
      await reader.disconnect();
    }
    expect(read).toBe(KEYS * PER_KEY);
    const inOrder = Array.from({ length: PER_KEY }, (_, i) => i);
    for (const key of keys) expect(seen.get(key), `key ${key}`).toEqual(inOrder);
    // Both relays published (the claims did run in parallel).
    const here = relay.stats().published.points ?? 0;
    expect(here).toBeGreaterThan(0);
    expect(here).toBeLessThan(KEYS * PER_KEY);
  });
});
