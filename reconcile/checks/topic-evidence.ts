/**
 * What the outbox check asks of Kafka: the topic itself and the consumer
 * groups' committed offsets, as evidence of publication and consumption.
 * reconcile/ does not import streaming/; batch/ passes an implementation in
 * (`createTopicEvidence` in streaming/topic-evidence.ts), one per run.
 */

/** One message of a topic, as evidence: where it is and which event it carries. */
export interface TopicMessage {
  partition: number;
  offset: number;
  /** Broker timestamp, ms since the epoch. */
  timestamp: number;
  /** Header `id`, else the payload's `eventId`; undefined when neither is a UUID. */
  eventId: string | undefined;
  /** The raw value (parsed only for messages no outbox row accounts for). */
  value: Buffer | null;
}

/** Per partition: the offsets read (`[from, to)`, from the time index) and the partition's own bounds. */
export interface TopicSpan {
  partition: number;
  from: number;
  to: number;
  /** Log start offset (earliest the partition still holds). */
  low: number;
  /** High watermark (the next offset to be written). */
  high: number;
}

export interface TopicRead {
  /** False when the topic does not exist (nothing was read). */
  exists: boolean;
  spans: TopicSpan[];
  messages: TopicMessage[];
}

/** Where a letter of a dead-letter topic came from (any dialect: recon, Spring, Kafka Connect). */
export interface DeadLetterMessage {
  /** Position of the letter itself in the `.DLT` topic. */
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
}

export interface GroupPartitionOffsets {
  partition: number;
  /** Committed offset (the next the group will read); -1 when the group never committed on this partition. */
  committed: number;
  /** High watermark of the partition. */
  end: number;
}

/** A letter of a foreign group that `recon dlq replay --group` sent back (recon database, `dlq_replays`). */
export interface LetterReplay {
  dltPartition: number;
  dltOffset: number;
  /** Where the replayed record landed on the original topic. */
  replayedPartition: number;
  replayedOffset: number;
  replayedAt: Date;
  replayCount: number;
}

/** What the runs ask of `dlq_replays`: which of these letters of `dltTopic` were replayed, and where to. */
export interface DeadLetterReplays {
  replaysOf(dltTopic: string, letters: readonly { partition: number; offset: number }[]): Promise<LetterReplay[]>;
}

export interface TopicEvidence {
  /**
   * The messages between the offsets the broker's time index gives, per
   * partition, for `from` and `to` (ListOffsets by timestamp; a time after
   * the last message gives the partition's end). Never reads a partition
   * from its beginning unless `from` is before its first message.
   */
  readByTime(topic: string, from: Date, to: Date): Promise<TopicRead>;
  /** The letters of a dead-letter topic between the time-index offsets of `from` and `to`. */
  readDeadLetters(dltTopic: string, from: Date, to: Date): Promise<DeadLetterMessage[]>;
  /** A group's committed offsets on `topic`, with each partition's end. */
  groupOffsets(group: string, topic: string): Promise<GroupPartitionOffsets[]>;
}
