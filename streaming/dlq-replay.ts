/**
 * `recon dlq replay`: read dead-letter topics from the offsets a persistent
 * replay group keeps (`<namespace>.recon-dlq-replay`, so a dead letter is
 * replayed once; read and set through the admin API, never joined) up to the
 * end they had when the replay started, and send each dead letter back to
 * its original topic with its original key, value and headers (plus
 * `x-replayed-at`). The consumers deduplicate by event id, so a replay of an
 * event that was meanwhile compensated is harmless.
 *
 * `since` skips dead letters older than it without committing past them: a
 * later replay without `since` still sees them (and may resend the newer ones
 * after them, which the consumers deduplicate).
 */
import type { Knex } from 'knex';
import { CONSUMER_GROUPS, ReconError, namespaced, silentLogger, type Config, type Logger } from '../core/index.js';
import { markDeadLettersReplayed } from '../db/index.js';
import { deadLetterOrigin, replayMessage, type DeadLetterOrigin } from './dead-letter.js';
import { createPositionedReader, type KafkaClient, type KafkaMessage, type Producer } from './kafka.js';
import { sendLocated } from './publish.js';

export const DLQ_REPLAY_GROUP = 'recon-dlq-replay';

/** Letters sent back per produce request. */
const SEND_CHUNK = 200;

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
  /** `topic:partition` → offsets `[from, to)` to read (from the bookmark, or the log start, to the end at the start), for partitions with something to read. */
  const targets = new Map<string, { from: number; to: number }>();
  try {
    const committed = await admin.fetchOffsets({ groupId, topics: [...dltTopics] });
    for (const topic of dltTopics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const p of ends) {
        const at = Number(mine.find((m) => m.partition === p.partition)?.offset ?? -1);
        const from = at >= 0 ? at : Number(p.low);
        if (from < Number(p.high)) targets.set(`${topic}:${p.partition}`, { from, to: Number(p.high) });
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
  // The replay group is only a bookmark: its offsets are read and set through the admin API, and the letters are
  // read by position (no group join, so nothing waits on a rebalance). A replay running at the same moment makes
  // setting the offsets fail rather than both resending everything.
  const reader = await createPositionedReader(kafka);
  const bookmark = kafka.admin();
  await bookmark.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (const topic of dltTopics) {
      const spans = [...targets]
        .filter(([key]) => key.slice(0, key.lastIndexOf(':')) === topic)
        .map(([key, t]) => ({ partition: Number(key.slice(key.lastIndexOf(':') + 1)), from: t.from, to: t.to }));
      if (spans.length === 0) continue;
      const messages = await reader.read(topic, spans);
      const commits: { partition: number; offset: string }[] = [];
      for (const span of spans) {
        if (Date.now() > deadline) throw new ReconError('SERVICE_UNAVAILABLE', `dlq replay: ${topic} was not read within ${timeoutMs} ms`, { retryable: true });
        const toSend: { origin: DeadLetterOrigin; out: ReturnType<typeof replayMessage> }[] = [];
        let heldAt: number | undefined;
        for (const m of messages.filter((x) => x.partition === span.partition).sort((a, b) => a.offset - b.offset)) {
          const message = {
            key: m.key,
            value: m.value,
            headers: m.headers,
            offset: String(m.offset),
            timestamp: String(m.timestamp),
            attributes: 0,
          } as KafkaMessage;
          const origin = deadLetterOrigin(message);
          if (!origin) {
            result.unknown += 1;
            continue;
          }
          if (since && origin.deadLetteredAt && origin.deadLetteredAt < since) {
            result.skipped += 1;
            heldAt ??= m.offset;
            continue;
          }
          toSend.push({ origin, out: replayMessage(message, origin) });
        }
        // In requests of a bounded size, as a consumer's batches were: a large DLT must not become one oversized send.
        for (let i = 0; i < toSend.length; i += SEND_CHUNK) {
          const chunk = toSend.slice(i, i + SEND_CHUNK);
          await sendLocated(
            producer,
            chunk.map((t) => t.out),
          );
          result.replayed += chunk.length;
          for (const [group, db] of dbOfGroup) {
            const coordinates = chunk
              .filter((t) => t.origin.group === group)
              .map((t) => ({ consumer_group: group, topic: t.origin.topic, kafka_partition: t.origin.partition, kafka_offset: t.origin.offset }));
            await markDeadLettersReplayed(db, coordinates);
          }
        }
        commits.push({ partition: span.partition, offset: String(Math.min(span.to, heldAt ?? span.to)) });
      }
      await bookmark.setOffsets({ groupId, topic, partitions: commits });
    }
  } finally {
    await reader.close().catch(() => undefined);
    await bookmark.disconnect().catch(() => undefined);
  }
  log.info({ ...result }, 'dlq replay finished');
  return result;
}
