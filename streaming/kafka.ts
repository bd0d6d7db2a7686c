/**
 * The project's one door to Kafka. Nothing else imports kafkajs, so the client
 * could be swapped by rewriting this file alone.
 *
 * Producers are idempotent with acks=all; consumers start new groups at the
 * earliest offset; topics are created here (the broker does not auto-create).
 */
// First: it replaces a quadratic part of kafkajs's producer, which it can only do before kafkajs loads.
import './kafkajs-grouping.js';
import kafkajs from 'kafkajs';
import type { Admin, Consumer, ConsumerConfig, EachBatchPayload, IHeaders, KafkaMessage, Message, Producer, ProducerConfig, RecordMetadata } from 'kafkajs';
import { backoffDelay, namespaced, silentLogger, sleep, DLT_SUFFIX, ReconError, TOPICS, TOPIC_PARTITIONS, type Config, type Logger } from '../core/index.js';

const { Kafka, logLevel: KafkaLogLevel, CompressionTypes } = kafkajs;

export type { Admin, Consumer, EachBatchPayload, IHeaders, KafkaMessage, Message, Producer, RecordMetadata };
export { CompressionTypes };

export interface KafkaOptions {
  /** Client id shown in broker logs and metrics. Default `recon`. */
  clientId?: string;
  /** Where kafkajs logs go (warnings and errors only). Default: nowhere. */
  logger?: Logger;
  /** Connection timeout per broker, ms. Default 3000. */
  connectionTimeout?: number;
  /** Retries of the client's own requests before an error surfaces. Default 8. */
  retries?: number;
}

export type KafkaClient = InstanceType<typeof Kafka>;

export function createKafka(config: Pick<Config, 'kafkaBrokers'>, options: KafkaOptions = {}): KafkaClient {
  const log = options.logger ?? silentLogger;
  return new Kafka({
    clientId: options.clientId ?? 'recon',
    brokers: config.kafkaBrokers,
    connectionTimeout: options.connectionTimeout ?? 3000,
    requestTimeout: 30_000,
    retry: { retries: options.retries ?? 8, initialRetryTime: 100, maxRetryTime: 5_000 },
    logLevel: KafkaLogLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, ...rest } = entry;
        // Bounded retries are deliberate: a send that keeps failing must surface, so the
        // outbox row stays unpublished and is retried later; consumers dedupe by event id.
        if (typeof message === 'string' && message.startsWith('Limiting retries for the idempotent producer')) return;
        if (level <= KafkaLogLevel.ERROR) log.error(rest, `kafka: ${message}`);
        else log.warn(rest, `kafka: ${message}`);
      },
  });
}

/** An idempotent producer (acks=all is implied and enforced by kafkajs). */
export function createProducer(kafka: KafkaClient, overrides: Partial<ProducerConfig> = {}): Producer {
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: explicitPartitioner, ...overrides });
}

/**
 * A consumer of `groupId`. Offsets are committed by the caller after its
 * database transaction commits (autoCommit stays off in `run`).
 */
export function createConsumer(kafka: KafkaClient, groupId: string, overrides: Partial<ConsumerConfig> = {}): Consumer {
  return kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxBytesPerPartition: 1024 * 1024,
    ...overrides,
  });
}

/** Full topic names of this environment (namespace applied). */
export function topicNames(config: Pick<Config, 'namespace'>) {
  const userCreated = namespaced(config, TOPICS.userCreated);
  const pointGranted = namespaced(config, TOPICS.pointGranted);
  return {
    userCreated,
    pointGranted,
    userCreatedDlt: userCreated + DLT_SUFFIX,
    pointGrantedDlt: pointGranted + DLT_SUFFIX,
    all: [userCreated, pointGranted, userCreated + DLT_SUFFIX, pointGranted + DLT_SUFFIX],
  };
}

/**
 * Replication of the topics recon creates on a cluster of `brokers` live
 * brokers: from three up, every partition on 3 brokers and an acks=all write
 * acknowledged only once 2 of them have it (one broker may die without losing
 * an acknowledged event, and writes go on); below three, 1 and 1.
 */
export function topicReplication(brokers: number): { replicationFactor: number; minInsyncReplicas: number } {
  return brokers >= 3 ? { replicationFactor: 3, minInsyncReplicas: 2 } : { replicationFactor: 1, minInsyncReplicas: 1 };
}

/**
 * Create the topics that are missing, `partitions` each, and wait for their
 * leaders. Returns the names it created. An existing topic must have
 * `partitions` partitions: keys are placed by a hash over that count, and
 * dead letters go to the same partition number of the `.DLT` topic, so any
 * other count is refused with an error naming the topic.
 */
export async function ensureTopics(admin: Admin, names: readonly string[], partitions = TOPIC_PARTITIONS): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const present = names.filter((n) => existing.has(n));
  if (present.length) {
    const meta = await admin.fetchTopicMetadata({ topics: present });
    const wrong = meta.topics.filter((t) => t.partitions.length !== partitions);
    if (wrong.length) {
      throw new ReconError(
        'TOPIC_MISCONFIGURED',
        `topic ${wrong.map((t) => `${t.name} has ${t.partitions.length} partitions`).join(', ')}; recon needs ${partitions} (key placement and dead-letter partitions depend on it)`,
      );
    }
  }
  const missing = names.filter((n) => !existing.has(n));
  if (missing.length === 0) return [];
  const { replicationFactor, minInsyncReplicas } = topicReplication((await admin.describeCluster()).brokers.length);
  // kafkajs's own `waitForLeaders` gives up on the first UNKNOWN_TOPIC_OR_PARTITION,
  // which a KRaft broker answers for a moment after creating a topic; wait here instead.
  await admin.createTopics({
    waitForLeaders: false,
    topics: missing.map((topic) => ({
      topic,
      numPartitions: partitions,
      replicationFactor,
      configEntries: [{ name: 'min.insync.replicas', value: String(minInsyncReplicas) }],
    })),
  });
  // Each broker learns of a new topic on its own; on a cluster, wait until answers from several (brokers are picked at random) agree.
  await waitForTopicLeaders(admin, missing, 30_000, replicationFactor > 1 ? 3 * replicationFactor : 1);
  return missing;
}

/** Kafka error types that mean "the new topic's metadata has not settled yet". */
const SETTLING = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/**
 * Wait until every partition of `topics` has a leader, in `confirmations`
 * answers in a row. A broker that has just created a topic can answer
 * "unknown topic" or "no leader" for a moment; those answers are retried,
 * anything else is thrown at once.
 */
export async function waitForTopicLeaders(admin: Admin, topics: readonly string[], timeoutMs = 30_000, confirmations = 1): Promise<void> {
  if (topics.length === 0) return;
  const deadline = Date.now() + timeoutMs;
  let last: string;
  let agreed = 0;
  for (;;) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [...topics] });
      const waiting = meta.topics.filter((t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0));
      if (waiting.length === 0 && ++agreed >= confirmations) return;
      last = waiting.length ? `no leader yet for ${waiting.map((t) => t.name).join(', ')}` : 'brokers still disagree';
      if (waiting.length) agreed = 0;
    } catch (err) {
      agreed = 0;
      const type = (err as { type?: unknown }).type;
      if (typeof type !== 'string' || !SETTLING.has(type)) throw err;
      last = type;
    }
    if (Date.now() >= deadline) {
      throw new ReconError('TIMEOUT', `topics ${topics.join(', ')} have no leaders after ${timeoutMs} ms (${last})`, { retryable: true });
    }
    await sleep(100);
  }
}

/** Header value as a string (kafkajs gives Buffers, strings, arrays or undefined). */
export function headerString(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  if (one === undefined) return undefined;
  return Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
}

/** Ask the broker whether it answers within `timeoutMs`. Never throws. */
export async function brokerReachable(brokers: string[], timeoutMs = 3000): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'recon-probe',
    brokers,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    logLevel: KafkaLogLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await Promise.race([
      (async () => {
        await admin.connect();
        await admin.listTopics();
      })(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs + 500).unref()),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * The brokers the cluster reports as alive (node id and advertised
 * `host:port`), asked through `brokers` within `timeoutMs`; empty when none
 * answers. Never throws.
 */
export async function liveBrokers(brokers: string[], timeoutMs = 3000): Promise<{ nodeId: number; address: string }[]> {
  const kafka = new Kafka({
    clientId: 'recon-probe',
    brokers,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    logLevel: KafkaLogLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    return await Promise.race([
      (async () => {
        await admin.connect();
        const { brokers: live } = await admin.describeCluster();
        return live.map((b) => ({ nodeId: b.nodeId, address: `${b.host}:${b.port}` })).sort((a, b) => a.nodeId - b.nodeId);
      })(),
      new Promise<{ nodeId: number; address: string }[]>((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs + 500).unref()),
    ]);
  } catch {
    return [];
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * Wait until the brokers answer, for long-running processes (relay, consumers,
 * worker) started while Kafka is down or restarting: they wait, saying what
 * they wait for, instead of exiting after the client's own retries. Once
 * running, the clients ride out outages themselves. Resolves at once when the
 * brokers answer; returns early (without throwing) when `signal` aborts.
 */
export async function waitForBrokers(
  config: Pick<Config, 'kafkaBrokers'>,
  { log = silentLogger, signal, maxDelayMs = 15_000 }: { log?: Logger; signal?: AbortSignal; maxDelayMs?: number } = {},
): Promise<void> {
  for (let attempt = 0; !signal?.aborted; attempt++) {
    if (await brokerReachable(config.kafkaBrokers)) {
      if (attempt > 0) log.info({ brokers: config.kafkaBrokers.join(',') }, 'kafka: brokers answer');
      return;
    }
    const delay = Math.max(500, backoffDelay(attempt, 1000, maxDelayMs));
    log.warn(
      { brokers: config.kafkaBrokers.join(','), retryInMs: delay },
      `kafka: ${config.kafkaBrokers.join(',')} does not answer; waiting (start it with \`recon services up\` or check KAFKA_BROKERS)`,
    );
    await sleep(delay, signal);
  }
}

/**
 * Kafka's murmur2 (the Java client's `Utils.murmur2`, which kafkajs's default
 * partitioner reproduces) over the key's UTF-8 bytes, as a signed 32-bit int.
 * Our own, in 32-bit integer arithmetic: kafkajs computes it with 64-bit
 * `Long` objects and a Buffer per key, a few percent of the relay's CPU.
 */
export function murmur2(key: string | Buffer): number {
  if (typeof key === 'string' && Buffer.byteLength(key) === key.length) {
    // An ASCII string's UTF-8 bytes are its char codes: no Buffer per key (keys are mostly UUIDs).
    const text = key;
    return murmur2Bytes(text.length, (i) => text.charCodeAt(i));
  }
  const data = typeof key === 'string' ? Buffer.from(key) : key;
  return murmur2Bytes(data.length, (i) => data[i]!);
}

function murmur2Bytes(length: number, byteAt: (i: number) => number): number {
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = byteAt(i) | (byteAt(i + 1) << 8) | (byteAt(i + 2) << 16) | (byteAt(i + 3) << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length & 3;
  if (tail === 3) h ^= byteAt(whole + 2) << 16;
  if (tail >= 2) h ^= byteAt(whole + 1) << 8;
  if (tail >= 1) h = Math.imul(h ^ byteAt(whole), m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Partition of a keyed message on a topic of `partitions` partitions: the
 * producer's default (murmur2) choice, computed up front so a caller that
 * sends many messages at once knows which partition, and so which offset,
 * each one gets.
 */
export function keyPartition(key: string | Buffer, partitions = TOPIC_PARTITIONS): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

/**
 * The producers' partitioner: a message's own partition when it has one (every
 * send of ours sets it), else kafkajs's default. kafkajs's default filters the
 * partition list for every message before it looks at the message's partition.
 */
function explicitPartitioner(): ReturnType<typeof kafkajs.Partitioners.DefaultPartitioner> {
  const fallback = kafkajs.Partitioners.DefaultPartitioner();
  return (args) => args.message.partition ?? fallback(args);
}

/** One message as a positioned read returns it. */
export interface ReadMessage {
  partition: number;
  offset: number;
  /** Broker timestamp, ms since the epoch. */
  timestamp: number;
  headers: IHeaders | undefined;
  key: Buffer | null;
  value: Buffer | null;
}

/** Offsets `[from, to)` of one partition to read. */
export interface PartitionSpan {
  partition: number;
  from: number;
  to: number;
}

/**
 * Reads given offset ranges of given partitions with plain Fetch requests to
 * each partition's leader: no consumer group, no join, no commit, so one
 * reader serves every window of a run at the cost of the messages it reads.
 * kafkajs offers this only inside its consumer, so this uses the client's
 * own cluster (same brokers, retries and logger); the wire format and the
 * decoding are kafkajs's.
 */
export interface PositionedReader {
  read(topic: string, spans: readonly PartitionSpan[]): Promise<ReadMessage[]>;
  close(): Promise<void>;
}

interface FetchedPartition {
  partition: number;
  errorCode: number;
  highWatermark: string;
  messages: { offset: string; timestamp: string; headers?: IHeaders; key?: Buffer | null; value: Buffer | null; isControlRecord?: boolean }[];
}
interface KafkajsBroker {
  fetch(request: unknown): Promise<{ responses: { topicName: string; partitions: FetchedPartition[] }[] }>;
}
interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  refreshMetadata(): Promise<void>;
  findTopicPartitionMetadata(topic: string): { partitionId: number; leader: number }[];
  findBroker(where: { nodeId: number }): Promise<KafkajsBroker>;
}

/** READ_COMMITTED: a transactional foreign producer's open or aborted sends are not evidence. */
const READ_COMMITTED = 1;
const FETCH_PARTITION_BYTES = 4 * 1024 * 1024;

export async function createPositionedReader(kafka: KafkaClient): Promise<PositionedReader> {
  const symbol = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  if (!symbol) throw new ReconError('DEPENDENCY_MISSING', 'this kafkajs version does not expose its cluster; positioned reads need kafkajs 2.x');
  const createCluster = (kafka as unknown as Record<symbol, (o: object) => KafkajsCluster>)[symbol]!;
  const cluster = createCluster({ metadataMaxAge: 300_000, allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED });
  await cluster.connect();
  const known = new Set<string>();
  return {
    async read(topic, spans) {
      const pending = new Map<number, { next: number; to: number }>();
      for (const s of spans) if (s.to > s.from) pending.set(s.partition, { next: s.from, to: s.to });
      const out: ReadMessage[] = [];
      if (pending.size === 0) return out;
      if (!known.has(topic)) {
        await cluster.addMultipleTargetTopics([topic]);
        known.add(topic);
      }
      let refreshes = 0;
      let lastError = 0;
      while (pending.size > 0) {
        const leaders = new Map<number, number[]>();
        for (const p of cluster.findTopicPartitionMetadata(topic)) {
          if (!pending.has(p.partitionId)) continue;
          const list = leaders.get(p.leader);
          if (list) list.push(p.partitionId);
          else leaders.set(p.leader, [p.partitionId]);
        }
        let stale = false;
        await Promise.all(
          [...leaders].map(async ([nodeId, partitions]) => {
            const broker = await cluster.findBroker({ nodeId });
            const { responses } = await broker.fetch({
              isolationLevel: READ_COMMITTED,
              maxWaitTime: 0,
              minBytes: 1,
              maxBytes: 64 * 1024 * 1024,
              topics: [
                {
                  topic,
                  partitions: partitions.map((partition) => ({
                    partition,
                    fetchOffset: String(pending.get(partition)!.next),
                    maxBytes: FETCH_PARTITION_BYTES,
                  })),
                },
              ],
            });
            for (const r of responses) {
              for (const fp of r.partitions) {
                const state = pending.get(fp.partition);
                if (!state) continue;
                if (fp.errorCode !== 0) {
                  stale = true;
                  lastError = fp.errorCode;
                  continue;
                }
                let last = state.next - 1;
                for (const m of fp.messages) {
                  const offset = Number(m.offset);
                  if (offset > last) last = offset;
                  if (m.isControlRecord || offset < state.next || offset >= state.to) continue;
                  out.push({ partition: fp.partition, offset, timestamp: Number(m.timestamp), headers: m.headers, key: m.key ?? null, value: m.value });
                }
                // Past what was asked, or at the end of what the partition holds (a span computed against an older end).
                const high = Number(fp.highWatermark);
                if (last + 1 >= state.to || last + 1 >= high || fp.messages.length === 0) pending.delete(fp.partition);
                else state.next = last + 1;
              }
            }
          }),
        );
        if (stale) {
          // A leader moved: ask again where the partitions live, a few times.
          if (++refreshes > 10)
            throw new ReconError(
              'SERVICE_UNAVAILABLE',
              `could not read ${topic}: its partition leaders keep answering with error code ${lastError} (a leader moving, or records deleted meanwhile)`,
              { retryable: true },
            );
          await cluster.refreshMetadata();
          await sleep(200);
        }
      }
      return out;
    },
    async close() {
      await cluster.disconnect();
    },
  };
}
