/**
 * BullMQ queue and worker factories. Every queue lives in Redis under the
 * namespace prefix when `RECON_NAMESPACE` is set (e.g. `staging`), else under
 * BullMQ's default `bull`, so environments can share one Redis.
 */
import { Queue, Worker, type ConnectionOptions, type DefaultJobOptions, type Processor, type WorkerOptions } from 'bullmq';
import { COMPENSATION_QUEUE, RUN_QUEUE, type Config } from '../core/index.js';

export { COMPENSATION_QUEUE, RUN_QUEUE };

/** Key prefix of the queues: the namespace, else BullMQ's default. */
export function queuePrefix(config: Pick<Config, 'namespace'>): string {
  return config.namespace ?? 'bull';
}

/** Connection options for BullMQ (workers need `maxRetriesPerRequest: null`). */
export function redisConnection(config: Pick<Config, 'redisUrl'>): ConnectionOptions {
  return { url: config.redisUrl, maxRetriesPerRequest: null };
}

/** A queue named `name` under this environment's prefix. */
export function createQueue<Data = unknown, Result = unknown>(
  config: Pick<Config, 'redisUrl' | 'namespace'>,
  name: string,
  defaultJobOptions?: DefaultJobOptions,
): Queue<Data, Result> {
  return new Queue<Data, Result>(name, {
    connection: redisConnection(config),
    prefix: queuePrefix(config),
    ...(defaultJobOptions ? { defaultJobOptions } : {}),
  });
}

/** A worker of queue `name` under this environment's prefix; `options` override the defaults. */
export function createWorker<Data = unknown, Result = unknown>(
  config: Pick<Config, 'redisUrl' | 'namespace'>,
  name: string,
  processor: Processor<Data, Result>,
  options: Partial<WorkerOptions> = {},
): Worker<Data, Result> {
  return new Worker<Data, Result>(name, processor, {
    connection: redisConnection(config),
    prefix: queuePrefix(config),
    ...options,
  });
}
