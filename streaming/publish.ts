/**
 * Send many messages in one producer request and learn where each one landed.
 * Partitions are chosen up front (the producer's own key hash), so the
 * broker's base offset per partition gives every message its offset.
 */
import { ReconError } from '../core/index.js';
import type { PendingOutboxRow } from '../db/index.js';
import { keyPartition, type Message, type Producer } from './kafka.js';

export interface Outgoing {
  topic: string;
  message: Message;
}

export interface Landed {
  partition: number;
  offset: number;
}

/** The message an outbox row stands for: key = aggregate id, header `id` = event id, value = payload as written. */
export function outboxMessage(row: Pick<PendingOutboxRow, 'event_id' | 'topic' | 'message_key' | 'payload' | 'headers'>): Outgoing {
  return {
    topic: row.topic,
    message: { key: row.message_key, value: row.payload, headers: { ...row.headers, id: row.event_id } },
  };
}

/**
 * What a send waits for: `-1` (all in-sync replicas; the default and the only
 * choice of an idempotent producer) or `1` (the partition leader alone: the
 * naive direct mode's `--acks 1`, which a leader failover can lose).
 */
export type Acks = -1 | 1;

/**
 * Send `outgoing` with `acks` (default all) in one request (the producer
 * batches per partition); resolves with the partition and offset of each
 * message, in input order. Rejects when the send fails: nothing may be marked
 * published.
 */
export async function sendLocated(producer: Producer, outgoing: readonly Outgoing[], acks: Acks = -1): Promise<Landed[]> {
  if (outgoing.length === 0) return [];
  const byTopic = new Map<string, Message[]>();
  const slots: { topic: string; partition: number; index: number }[] = [];
  const counters = new Map<string, number>();
  for (const o of outgoing) {
    const partition = o.message.partition ?? (o.message.key === null || o.message.key === undefined ? 0 : keyPartition(o.message.key));
    const list = byTopic.get(o.topic) ?? [];
    byTopic.set(o.topic, list);
    list.push({ ...o.message, partition });
    const k = `${o.topic}\u0000${partition}`;
    const index = counters.get(k) ?? 0;
    counters.set(k, index + 1);
    slots.push({ topic: o.topic, partition, index });
  }
  const results = await producer.sendBatch({
    acks,
    topicMessages: Array.from(byTopic, ([topic, messages]) => ({ topic, messages })),
  });
  const base = new Map<string, number>();
  for (const r of results) if (r.errorCode === 0) base.set(`${r.topicName}\u0000${r.partition}`, Number(r.baseOffset));
  // kafkajs keeps the answers of the first attempt across its retries: when a
  // partition's leader dies mid-send and the partition moves to a broker that
  // had already answered for its own partitions, the retry never sends it, and
  // sendBatch resolves without it (found by test/chaos/failover.chaos.test.ts).
  // A partition without a confirmed offset was not written: fail the whole
  // send, so nothing is marked published; the retry may duplicate what did
  // land, which consumers deduplicate by event id.
  const unconfirmed = [...new Set(slots.filter((s) => !base.has(`${s.topic}\u0000${s.partition}`)).map((s) => `${s.topic}[${s.partition}]`))];
  if (unconfirmed.length) {
    throw new ReconError('SEND_UNCONFIRMED', `the broker confirmed no offset for ${unconfirmed.join(', ')}: treated as not sent`, { retryable: true });
  }
  return slots.map((s) => ({ partition: s.partition, offset: base.get(`${s.topic}\u0000${s.partition}`)! + s.index }));
}
