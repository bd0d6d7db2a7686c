/**
 * The topics a Kafka Connect worker group and the Debezium connectors need
 * before they start. The broker does not auto-create topics
 * (`auto.create.topics.enable=false`), and Connect's own attempt to create its
 * internal topics would pick settings we would rather choose: so recon
 * creates them, compacted, with the partition counts Connect expects.
 */
import { ReconError, namespaced, type Config } from '../../core/index.js';
import { waitForTopicLeaders, type Admin } from '../kafka.js';

/** The Connect worker group and its three internal topics. Every worker of the group (on any host) uses these same names. */
export interface ConnectWorkerNames {
  groupId: string;
  configTopic: string;
  offsetTopic: string;
  statusTopic: string;
}

export function connectWorkerNames(config: Pick<Config, 'namespace'>): ConnectWorkerNames {
  return {
    groupId: namespaced(config, 'recon-connect'),
    configTopic: namespaced(config, 'recon-connect.configs'),
    offsetTopic: namespaced(config, 'recon-connect.offsets'),
    statusTopic: namespaced(config, 'recon-connect.status'),
  };
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** `cleanup.policy=compact` (Connect's internal topics must be compacted). */
  compact: boolean;
  /** When set, an existing topic with another partition count is refused (the config topic must have exactly 1). */
  exactPartitions?: boolean;
}

/** Connect's defaults: configs 1 partition (required), offsets 25, status 5. */
export function connectTopicSpecs(names: ConnectWorkerNames): TopicSpec[] {
  return [
    { topic: names.configTopic, partitions: 1, compact: true, exactPartitions: true },
    { topic: names.offsetTopic, partitions: 25, compact: true },
    { topic: names.statusTopic, partitions: 5, compact: true },
  ];
}

/**
 * Create the topics of `specs` that are missing, replicated `min(3, brokers)`
 * times, and wait for their leaders. Returns the names it created.
 */
export async function ensureTopicSpecs(admin: Admin, specs: readonly TopicSpec[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const present = specs.filter((s) => existing.has(s.topic) && s.exactPartitions);
  if (present.length) {
    const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.topic) });
    for (const t of meta.topics) {
      const spec = present.find((s) => s.topic === t.name);
      if (spec && t.partitions.length !== spec.partitions) {
        throw new ReconError('TOPIC_MISCONFIGURED', `topic ${t.name} has ${t.partitions.length} partitions; Kafka Connect needs exactly ${spec.partitions}`);
      }
    }
  }
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length === 0) return [];
  const { brokers } = await admin.describeCluster();
  const replicationFactor = Math.min(3, brokers.length);
  await admin.createTopics({
    waitForLeaders: false,
    topics: missing.map((s) => ({
      topic: s.topic,
      numPartitions: s.partitions,
      replicationFactor,
      configEntries: s.compact ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
    })),
  });
  await waitForTopicLeaders(
    admin,
    missing.map((s) => s.topic),
  );
  return missing.map((s) => s.topic);
}
