import { Queue, QueueEvents, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from '../helpers/env.js';
import { loadConfig } from '../../core/index.js';
import { deleteRedisKeys } from '../helpers/env.js';
import { Redis } from 'ioredis';

describe('BullMQ round trip through the real Redis', () => {
  const config = loadConfig(process.env);
  const prefix = uniqueName('test');
  const name = uniqueName('queue');
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    await deleteRedisKeys(redis, `${prefix}:*`);
    redis.disconnect();
  });

  it('runs a job on a worker and returns its result', async () => {
    const connection = { url: config.redisUrl, maxRetriesPerRequest: null };
    const queue = new Queue(name, { connection, prefix });
    const events = new QueueEvents(name, { connection, prefix });
    const worker = new Worker(name, async (job) => ({ doubled: (job.data as { n: number }).n * 2 }), { connection, prefix });
    try {
      await events.waitUntilReady();
      const job = await queue.add('double', { n: 21 });
      const result = await job.waitUntilFinished(events, 30_000);
      expect(result).toEqual({ doubled: 42 });
      expect(await redis.exists(`${prefix}:${name}:meta`)).toBe(1);
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
    }
  });
});
