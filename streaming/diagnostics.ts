/**
 * What `recon doctor` asks the Kafka cluster: whether it answers, the shape of
 * recon's topics, which consumer groups it knows, and its clock (read from
 * the timestamp a broker assigns to a message it appends).
 */
// First: it must replace part of kafkajs before kafkajs loads (see the module).
import './kafkajs-grouping.js';
import kafkajs from 'kafkajs';
import type { Admin, Producer } from 'kafkajs';
import { ReconError, type Config } from '../core/index.js';
import { waitForTopicLeaders, type KafkaClient } from './kafka.js';

const { Kafka, logLevel: KafkaLogLevel, ConfigResourceTypes } = kafkajs;

/**
 * A client for diagnosis: one attempt per request, every wait bounded by
 * about `timeoutMs`, silent (the caller reports what fails).
 */
export function createProbeKafka(config: Pick<Config, 'kafkaBrokers'>, timeoutMs: number): KafkaClient {
  return new Kafka({
    clientId: 'recon-doctor',
    brokers: config.kafkaBrokers,
    connectionTimeout: Math.min(timeoutMs, 3000),
    requestTimeout: timeoutMs,
    retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: KafkaLogLevel.NOTHING,
  });
}

/** The brokers of the cluster (as the one answering describes it) and the controller's id. */
export async function describeBrokers(admin: Admin): Promise<{ brokers: { nodeId: number; host: string; port: number }[]; controller: number | null }> {
  const { brokers, controller } = await admin.describeCluster();
  return { brokers, controller };
}

/** Partition count of each of `names`; `undefined` for a topic that does not exist. */
export async function topicPartitionCounts(admin: Admin, names: readonly string[]): Promise<Map<string, number | undefined>> {
  const existing = new Set(await admin.listTopics());
  const present = names.filter((n) => existing.has(n));
  const counts = new Map<string, number | undefined>(names.map((n) => [n, undefined]));
  if (present.length) {
    const meta = await admin.fetchTopicMetadata({ topics: present });
    for (const t of meta.topics) counts.set(t.name, t.partitions.length);
  }
  return counts;
}

export interface GroupState {
  group: string;
  /** The coordinator's state (`Stable`, `Empty`, `PreparingRebalance`, …); `undefined`: the broker does not know the group. */
  state: string | undefined;
  /** Consumers currently in the group. */
  members: number;
}

/**
 * What the broker knows of each of `groups`. A group appears once a consumer
 * joined it and stays known while it has committed offsets, with no member
 * (`Empty`) when no consumer runs.
 */
export async function consumerGroupStates(admin: Admin, groups: readonly string[]): Promise<GroupState[]> {
  const { groups: listed } = await admin.listGroups();
  const known = new Set(listed.map((g) => g.groupId));
  const asked = groups.filter((g) => known.has(g));
  const described = asked.length ? (await admin.describeGroups(asked)).groups : [];
  return groups.map((group) => {
    const d = described.find((x) => x.groupId === group);
    return d && d.state !== 'Dead' ? { group, state: d.state, members: d.members.length } : { group, state: undefined, members: 0 };
  });
}

/**
 * Make sure `topic` exists as a clock probe: one partition whose messages
 * carry the broker's append time (`message.timestamp.type=LogAppendTime`),
 * kept an hour. Returns the topic's timestamp type (an existing topic is left
 * as it is) and whether it was created now.
 */
export async function ensureClockProbeTopic(admin: Admin, topic: string, timeoutMs: number): Promise<{ created: boolean; timestampType: string | undefined }> {
  const created = (await admin.listTopics()).includes(topic)
    ? false
    : await admin.createTopics({
        waitForLeaders: false,
        topics: [
          {
            topic,
            numPartitions: 1,
            configEntries: [
              { name: 'message.timestamp.type', value: 'LogAppendTime' },
              { name: 'retention.ms', value: String(3600_000) },
            ],
          },
        ],
      });
  await waitForTopicLeaders(admin, [topic], timeoutMs);
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['message.timestamp.type'] }],
  });
  const timestampType = resources[0]?.configEntries.find((e) => e.configName === 'message.timestamp.type')?.configValue;
  return { created, timestampType };
}

/**
 * Append one probe message to `topic` (acks from all in-sync replicas) and
 * return the time the broker assigned to it, ms since the epoch. The topic
 * must be a LogAppendTime topic ({@link ensureClockProbeTopic}); on another,
 * brokers answer no append time, and this throws.
 */
export async function brokerAppendTime(producer: Producer, topic: string): Promise<number> {
  const [meta] = await producer.send({ topic, acks: -1, messages: [{ value: 'recon doctor clock probe' }] });
  const at = Number(meta?.logAppendTime ?? -1);
  if (!(at > 0))
    throw new ReconError('TOPIC_MISCONFIGURED', `${topic} does not give its messages the broker's append time (message.timestamp.type is not LogAppendTime)`);
  return at;
}
