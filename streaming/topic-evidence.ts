/**
 * Topic evidence for the outbox check (see reconcile/checks/topic-evidence.ts):
 * window-bounded reads of a topic by the broker's time index, the letters of
 * a dead-letter topic, and consumer groups' committed offsets.
 *
 * One instance serves a whole run: a positioned reader (plain Fetch requests,
 * no consumer group, so no join per window) and one admin client. A window
 * costs two ListOffsets by timestamp per topic and the Fetches of its own
 * messages, whatever the topic's history.
 */
import { isUuid } from '../core/index.js';
import { readDeadLetterHeaders } from './dlt-headers.js';
import { createPositionedReader, headerString, type Admin, type KafkaClient, type PositionedReader, type ReadMessage } from './kafka.js';

export interface TopicEvidenceMessage {
  partition: number;
  offset: number;
  timestamp: number;
  eventId: string | undefined;
  value: Buffer | null;
}

export interface TopicEvidenceSpan {
  partition: number;
  from: number;
  to: number;
  low: number;
  high: number;
}

export interface TopicDeadLetter {
  dltPartition: number;
  dltOffset: number;
  dialect: string;
  topic: string;
  partition: number;
  offset: number;
  group: string | undefined;
  eventId: string | undefined;
  errorClass: string | undefined;
  errorMessage: string | undefined;
  /** Broker timestamp of the letter (when it was dead-lettered), ms since the epoch. */
  timestamp: number;
}

export interface TopicEvidenceReader {
  readByTime(topic: string, from: Date, to: Date): Promise<{ exists: boolean; spans: TopicEvidenceSpan[]; messages: TopicEvidenceMessage[] }>;
  readDeadLetters(dltTopic: string, from: Date, to: Date): Promise<TopicDeadLetter[]>;
  /** The same letters with the messages that carry them (key, value, headers), for `recon dlq` of a foreign group. */
  readDeadLetterMessages(dltTopic: string, from: Date, to: Date): Promise<{ letter: TopicDeadLetter; message: ReadMessage }[]>;
  groupOffsets(group: string, topic: string): Promise<{ partition: number; committed: number; end: number }[]>;
  /** Messages read so far (for progress and benchmarks). */
  readonly messagesRead: number;
  close(): Promise<void>;
}

/** The event id a message carries: header `id`, else the JSON payload's `eventId`. */
export function messageEventId(m: Pick<ReadMessage, 'headers' | 'value'>): string | undefined {
  const header = headerString(m.headers, 'id');
  if (isUuid(header)) return header.toLowerCase();
  if (!m.value) return undefined;
  try {
    const id = (JSON.parse(m.value.toString('utf8')) as { eventId?: unknown }).eventId;
    return isUuid(id) ? id.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

export async function createTopicEvidence(kafka: KafkaClient): Promise<TopicEvidenceReader> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  let reader: PositionedReader;
  try {
    reader = await createPositionedReader(kafka);
  } catch (err) {
    await admin.disconnect().catch(() => undefined);
    throw err;
  }
  let topics: Set<string> | undefined;
  let read = 0;
  const exists = async (topic: string): Promise<boolean> => {
    if (!topics?.has(topic)) topics = new Set(await admin.listTopics());
    return topics.has(topic);
  };

  async function spansOf(topic: string, from: Date, to: Date): Promise<TopicEvidenceSpan[]> {
    const [start, end, bounds] = await Promise.all([
      admin.fetchTopicOffsetsByTimestamp(topic, from.getTime()),
      admin.fetchTopicOffsetsByTimestamp(topic, to.getTime()),
      admin.fetchTopicOffsets(topic),
    ]);
    // kafkajs already answers a time past the last message (-1 from the broker) with the partition's end.
    const endOf = new Map(end.map((p) => [p.partition, Number(p.offset)]));
    return start.map((p) => {
      const b = bounds.find((x) => x.partition === p.partition);
      const low = Number(b?.low ?? 0);
      const high = Number(b?.high ?? 0);
      const fromOffset = Math.max(low, Number(p.offset));
      const toOffset = Math.min(high, Math.max(fromOffset, endOf.get(p.partition) ?? high));
      return { partition: p.partition, from: fromOffset, to: toOffset, low, high };
    });
  }

  async function readRaw(topic: string, from: Date, to: Date): Promise<{ exists: boolean; spans: TopicEvidenceSpan[]; messages: ReadMessage[] }> {
    if (!(await exists(topic))) return { exists: false, spans: [], messages: [] };
    const spans = await spansOf(topic, from, to);
    const messages = await reader.read(topic, spans);
    read += messages.length;
    return { exists: true, spans, messages };
  }

  async function readDeadLetterMessages(dltTopic: string, from: Date, to: Date) {
    const r = await readRaw(dltTopic, from, to);
    const out: { letter: TopicDeadLetter; message: ReadMessage }[] = [];
    for (const m of r.messages) {
      const origin = readDeadLetterHeaders(m.headers);
      if (!origin) continue;
      out.push({
        message: m,
        letter: {
          dltPartition: m.partition,
          dltOffset: m.offset,
          dialect: origin.dialect,
          topic: origin.topic,
          partition: origin.partition,
          offset: origin.offset,
          group: origin.group,
          eventId: messageEventId(m),
          errorClass: origin.errorClass,
          errorMessage: origin.errorMessage,
          timestamp: m.timestamp,
        },
      });
    }
    return out;
  }

  return {
    get messagesRead() {
      return read;
    },
    async readByTime(topic, from, to) {
      const r = await readRaw(topic, from, to);
      return {
        exists: r.exists,
        spans: r.spans,
        messages: r.messages.map((m) => ({ partition: m.partition, offset: m.offset, timestamp: m.timestamp, eventId: messageEventId(m), value: m.value })),
      };
    },
    readDeadLetterMessages,
    async readDeadLetters(dltTopic, from, to) {
      return (await readDeadLetterMessages(dltTopic, from, to)).map((l) => l.letter);
    },
    async groupOffsets(group, topic) {
      if (!(await exists(topic))) return [];
      const [committed, ends] = await Promise.all([admin.fetchOffsets({ groupId: group, topics: [topic] }), admin.fetchTopicOffsets(topic)]);
      const at = new Map<number, number>();
      for (const t of committed) for (const p of t.partitions) at.set(p.partition, Number(p.offset));
      return ends.map((e) => ({ partition: e.partition, committed: at.get(e.partition) ?? -1, end: Number(e.high) }));
    },
    async close() {
      await Promise.allSettled([reader.close(), admin.disconnect()]);
    },
  };
}
