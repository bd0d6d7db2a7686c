import { createRequire } from 'node:module';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { groupingReplaced, groupMessagesPerPartition, keyPartition, murmur2 } from '../../streaming/index.js';

const require = createRequire(import.meta.url);
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: string | Buffer) => number;
const kafkajsGrouping = require('kafkajs/src/producer/groupMessagesPerPartition.js') as unknown;

describe('murmur2 key placement', () => {
  it("matches the Java client's hash on its published values", () => {
    // Kafka's UtilsTest.testMurmur2.
    expect(murmur2('21')).toBe(-973932308);
    expect(murmur2('foobar')).toBe(-790332482);
    expect(murmur2('a-little-bit-long-string')).toBe(-985981536);
    expect(murmur2('a-little-bit-longer-string')).toBe(-1486304829);
    expect(murmur2('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')).toBe(-58897971);
    expect(murmur2('abc')).toBe(479470107);
  });

  it("places every key where kafkajs's default partitioner does: UUIDs, other text, non-ASCII text and bytes of every length", () => {
    const keys: (string | Buffer)[] = [''];
    for (let i = 0; i < 2000; i++) keys.push(randomUUID());
    for (let n = 1; n <= 40; n++) {
      keys.push(randomBytes(n));
      keys.push('k'.repeat(n));
      keys.push(`ключ-${'ü'.repeat(n)}-鍵`);
    }
    for (const key of keys) {
      expect(murmur2(key)).toBe(kafkajsMurmur2(key));
      for (const partitions of [1, 3, 6, 7, 50]) expect(keyPartition(key, partitions)).toBe((kafkajsMurmur2(key) & 0x7fffffff) % partitions);
    }
  });
});

describe("kafkajs's per-partition grouping", () => {
  it('is replaced by the linear one before kafkajs loads', () => {
    expect(groupingReplaced).toBe(true);
    expect(kafkajsGrouping).toBe(groupMessagesPerPartition);
  });

  it('keeps each partition’s messages in input order, through the given partitioner', () => {
    const messages = Array.from({ length: 1000 }, (_, i) => ({ i, partition: (i * 7) % 6 }));
    const grouped = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata: Array.from({ length: 6 }),
      messages,
      partitioner: ({ message }) => (message as { partition: number }).partition,
    });
    expect(Object.keys(grouped).sort()).toEqual(['0', '1', '2', '3', '4', '5']);
    for (const [p, list] of Object.entries(grouped)) {
      expect(list).toEqual(messages.filter((m) => m.partition === Number(p)));
    }
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner: () => 0 })).toEqual({});
  });
});
