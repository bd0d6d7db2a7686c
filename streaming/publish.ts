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
 * Bytes of one partition's messages in one request, at most (estimated:
 * keys, values, headers and a per-record allowance). kafkajs puts a
 * request's messages of a partition into one record batch, and the broker
 * refuses a batch over its `message.max.bytes` (1 MiB by default) with
 * MESSAGE_TOO_LARGE, which also leaves the idempotent producer's sequence
 * numbers out of step for the next sends. A relay round of `point.granted`
 * events is a few consumer batches, each from one `user.created` partition,
 * and a key keeps its partition from one topic to the next: its 4,000 rows
 * fell on two or three partitions, about 1 MB each, and rounds failed, were
 * halved, grew back and failed again. So a send larger than this goes out as
 * several requests, one after another.
 */
export const PARTITION_REQUEST_BYTES = 768 * 1024;

/** Record overhead beyond key, value and headers (length varints, attributes, deltas), generously. */
const RECORD_OVERHEAD_BYTES = 32;

function byteSize(v: string | Buffer | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

function messageBytes(m: Message): number {
  let n = RECORD_OVERHEAD_BYTES + byteSize(m.key) + byteSize(m.value as string | Buffer | null);
  if (m.headers) {
    for (const [k, v] of Object.entries(m.headers)) {
      n += byteSize(k) + 8;
      for (const one of Array.isArray(v) ? v : [v]) n += byteSize(one as string | Buffer | undefined);
    }
  }
  return n;
}

/**
 * Send `outgoing` with `acks` (default all), in as few requests as keep each
 * partition's part of a request under {@link PARTITION_REQUEST_BYTES} (the
 * producer batches per partition; requests go one after another, in input
 * order, so a key's messages keep their order); resolves with the partition
 * and offset of each message, in input order. Rejects when a send fails:
 * nothing may be marked published (what earlier requests wrote is sent again
 * later, which consumers deduplicate).
 */
export async function sendLocated(producer: Producer, outgoing: readonly Outgoing[], acks: Acks = -1): Promise<Landed[]> {
  if (outgoing.length === 0) return [];
  // Per request: messages by topic, and the bytes of each topic-partition so far.
  const requests: { byTopic: Map<string, Message[]>; bytes: Map<string, number> }[] = [];
  const slots: { request: number; topic: string; partition: number; index: number }[] = [];
  const counters = new Map<string, number>();
  let current = { byTopic: new Map<string, Message[]>(), bytes: new Map<string, number>() };
  requests.push(current);
  for (const o of outgoing) {
    const partition = o.message.partition ?? (o.message.key === null || o.message.key === undefined ? 0 : keyPartition(o.message.key));
    const k = `${o.topic}\u0000${partition}`;
    const size = messageBytes(o.message);
    const used = current.bytes.get(k) ?? 0;
    if (used > 0 && used + size > PARTITION_REQUEST_BYTES) {
      current = { byTopic: new Map(), bytes: new Map() };
      requests.push(current);
      counters.clear();
    }
    current.bytes.set(k, (current.bytes.get(k) ?? 0) + size);
    const list = current.byTopic.get(o.topic) ?? [];
    current.byTopic.set(o.topic, list);
    list.push({ ...o.message, partition });
    const index = counters.get(k) ?? 0;
    counters.set(k, index + 1);
    slots.push({ request: requests.length - 1, topic: o.topic, partition, index });
  }
  const bases: Map<string, number>[] = [];
  for (const request of requests) {
    const results = await producer.sendBatch({
      acks,
      topicMessages: Array.from(request.byTopic, ([topic, messages]) => ({ topic, messages })),
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
    const unconfirmed = [...request.bytes.keys()].filter((k) => !base.has(k)).map((k) => k.replace('\u0000', '[') + ']');
    if (unconfirmed.length) {
      throw new ReconError('SEND_UNCONFIRMED', `the broker confirmed no offset for ${unconfirmed.join(', ')}: treated as not sent`, { retryable: true });
    }
    bases.push(base);
  }
  return slots.map((s) => ({ partition: s.partition, offset: bases[s.request]!.get(`${s.topic}\u0000${s.partition}`)! + s.index }));
}
