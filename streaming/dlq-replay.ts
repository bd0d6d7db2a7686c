/**
 * `recon dlq replay`: read dead-letter topics with a persistent replay group
 * (`<namespace>.recon-dlq-replay`, so a dead letter is replayed once) up to
 * the end they had when the replay started, and send each dead letter back to
 * its original topic with its original key, value and headers (plus
 * `x-replayed-at`). The consumers deduplicate by event id, so a replay of an
 * event that was meanwhile compensated is harmless.
 *
 * `since` skips dead letters older than it without committing past them: a
 * later replay without `since` still sees them (and may resend the newer ones
 * after them, which the consumers deduplicate).
 */
import type { Knex } from 'knex';
import { CONSUMER_GROUPS, namespaced, silentLogger, waitFor, type Config, type Logger } from '../core/index.js';
import { markDeadLettersReplayed } from '../db/index.js';
import { deadLetterOrigin, replayMessage, type DeadLetterOrigin } from './dead-letter.js';
import { createConsumer, type KafkaClient, type Producer } from './kafka.js';
import { sendLocated } from './publish.js';

export const DLQ_REPLAY_GROUP = 'recon-dlq-replay';

export interface ReplayOptions {
  /** Dead-letter topics to read (full names, `.DLT` included). */
  dltTopics: readonly string[];
  /** Only dead letters dead-lettered at or after this instant. */
  since?: Date;
  /** Give up waiting for the topics to be read after this long, ms. Default 120000. */
  timeoutMs?: number;
  log?: Logger;
}

export interface ReplayResult {
  replayed: number;
  /** Older than `since`. */
  skipped: number;
  /** Messages without DLT headers (cannot know where they came from). */
  unknown: number;
}

export async function replayDeadLetters(
  { config, kafka, producer, dbs }: { config: Config; kafka: KafkaClient; producer: Producer; dbs: { users: Knex; points: Knex } },
  { dltTopics, since, timeoutMs = 120_000, log = silentLogger }: ReplayOptions,
): Promise<ReplayResult> {
  const groupId = namespaced(config, DLQ_REPLAY_GROUP);
  const result: ReplayResult = { replayed: 0, skipped: 0, unknown: 0 };
  const admin = kafka.admin();
  await admin.connect();
  /** `topic:partition` → end offset (exclusive) to read to, for partitions with something to read. */
  const targets = new Map<string, number>();
  try {
    const committed = await admin.fetchOffsets({ groupId, topics: [...dltTopics] });
    for (const topic of dltTopics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const p of ends) {
        const at = Number(mine.find((m) => m.partition === p.partition)?.offset ?? -1);
        const from = at >= 0 ? at : Number(p.low);
        if (from < Number(p.high)) targets.set(`${topic}:${p.partition}`, Number(p.high));
      }
    }
  } finally {
    await admin.disconnect();
  }
  if (targets.size === 0) return result;

  const dbOfGroup = new Map<string, Knex>([
    [namespaced(config, CONSUMER_GROUPS.pointService), dbs.points],
    [namespaced(config, CONSUMER_GROUPS.userServiceBalances), dbs.users],
  ]);
  /** Partitions read to their target. */
  const finished = new Set<string>();
  /** Partitions where a skipped message holds the committed offset back. */
  const heldAt = new Map<string, number>();
  const consumer = createConsumer(kafka, groupId, { maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    for (const topic of dltTopics) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        const key = `${batch.topic}:${batch.partition}`;
        const end = targets.get(key);
        if (end === undefined || finished.has(key)) return;
        const toSend: { origin: DeadLetterOrigin; out: ReturnType<typeof replayMessage> }[] = [];
        let next: number | undefined;
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          if (offset >= end) break;
          next = offset + 1;
          const origin = deadLetterOrigin(m);
          if (!origin) {
            result.unknown += 1;
            continue;
          }
          if (since && origin.deadLetteredAt && origin.deadLetteredAt < since) {
            result.skipped += 1;
            if (!heldAt.has(key)) heldAt.set(key, offset);
            continue;
          }
          toSend.push({ origin, out: replayMessage(m, origin) });
        }
        if (next === undefined) return;
        await sendLocated(
          producer,
          toSend.map((s) => s.out),
        );
        result.replayed += toSend.length;
        for (const [group, db] of dbOfGroup) {
          const coordinates = toSend
            .filter((s) => s.origin.group === group)
            .map((s) => ({ consumer_group: group, topic: s.origin.topic, kafka_partition: s.origin.partition, kafka_offset: s.origin.offset }));
          await markDeadLettersReplayed(db, coordinates);
        }
        resolveOffset(String(next - 1));
        const commitAt = Math.min(next, heldAt.get(key) ?? next);
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(commitAt) }]);
        if (next >= end) finished.add(key);
        await heartbeat();
      },
    });
    await waitFor('the dead-letter topics read to their end', () => finished.size >= targets.size, { timeoutMs, intervalMs: 100 });
  } finally {
    await consumer.disconnect();
  }
  log.info({ ...result }, 'dlq replay finished');
  return result;
}
