/**
 * kafkajs 2.2.4 groups a send's messages by partition with a reduce that
 * copies each partition's list for every message it adds
 * (`[...current, message]`): quadratic in the messages per partition. A relay
 * round of 4,000 messages over 6 partitions made about 1.3 million element
 * copies and 10 MB of garbage; with our own murmur2 (streaming/kafka.ts)
 * replacing it cut the relay's CPU per event by about a fifth.
 * kafkajs is no longer released, so the fix is ours: this module puts a
 * linear grouping with the same contract (partition → its messages, in input
 * order, through the same partitioner) into Node's module cache before kafkajs
 * loads, where `producer/sendMessages.js` requires it.
 *
 * It must be imported before `kafkajs` (streaming/kafka.ts does, first). If
 * kafkajs was loaded already, or its files moved in another version, nothing
 * is replaced and {@link groupingReplaced} is false (a test checks it is true).
 */
import { createRequire, Module } from 'node:module';

interface PartitionerArgs {
  topic: string;
  partitionMetadata: readonly unknown[];
  message: unknown;
}

interface GroupArgs {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly unknown[];
  partitioner: (args: PartitionerArgs) => number;
}

/** Messages by partition, each list in input order; `{}` when the topic has no partitions (as kafkajs's own). */
export function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: GroupArgs): Record<number, unknown[]> {
  const grouped: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return grouped;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (grouped[partition] ??= []).push(message);
  }
  return grouped;
}

function replace(): boolean {
  const require = createRequire(import.meta.url);
  let target: string;
  let sender: string;
  try {
    target = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
    sender = require.resolve('kafkajs/src/producer/sendMessages.js');
  } catch {
    return false;
  }
  // Too late once the sender is loaded: it holds the original.
  if (require.cache[sender] || require.cache[target]) return false;
  const module = new Module(target);
  module.filename = target;
  module.loaded = true;
  module.exports = groupMessagesPerPartition;
  require.cache[target] = module;
  return true;
}

/** Whether kafkajs will use {@link groupMessagesPerPartition}. */
export const groupingReplaced = replace();
