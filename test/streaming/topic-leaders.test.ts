import { describe, expect, it } from 'vitest';
import { waitForTopicLeaders, type Admin } from '../../streaming/index.js';

/** The one admin call waitForTopicLeaders makes, answered from a script of replies. */
function scriptedAdmin(replies: (() => unknown)[]) {
  let calls = 0;
  const admin = {
    fetchTopicMetadata: async () => {
      const reply = replies[Math.min(calls, replies.length - 1)]!;
      calls += 1;
      return reply();
    },
  } as unknown as Admin;
  return { admin, calls: () => calls };
}

const kafkaError = (type: string) => Object.assign(new Error(`kafka said ${type}`), { type });
const withLeaders = (leader: number) => () => ({
  topics: [{ name: 't', partitions: [0, 1, 2].map((partitionId) => ({ partitionId, leader })) }],
});

describe('waiting for a new topic to have leaders', () => {
  it('retries the settling answers of a broker that has just created the topic', async () => {
    const { admin, calls } = scriptedAdmin([
      () => {
        throw kafkaError('UNKNOWN_TOPIC_OR_PARTITION');
      },
      () => {
        throw kafkaError('LEADER_NOT_AVAILABLE');
      },
      withLeaders(-1),
      withLeaders(1),
    ]);
    await waitForTopicLeaders(admin, ['t']);
    expect(calls()).toBe(4);
  });

  it('throws any other error at once', async () => {
    const { admin, calls } = scriptedAdmin([
      () => {
        throw kafkaError('TOPIC_AUTHORIZATION_FAILED');
      },
    ]);
    await expect(waitForTopicLeaders(admin, ['t'])).rejects.toThrow('TOPIC_AUTHORIZATION_FAILED');
    expect(calls()).toBe(1);
  });

  it('gives up after its timeout, naming the topics and the last answer', async () => {
    const { admin } = scriptedAdmin([withLeaders(-1)]);
    await expect(waitForTopicLeaders(admin, ['t'], 250)).rejects.toThrow('topics t have no leaders after 250 ms (no leader yet for t)');
  });
});
