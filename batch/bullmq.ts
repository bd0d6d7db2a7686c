/**
 * BullMQ queue and worker factories. Every queue lives in Redis under the
 * namespace prefix when `RECON_NAMESPACE` is set (e.g. `staging`), else under
 * BullMQ's default `bull`, so environments can share one Redis.
 */
import { Queue, Worker, type ConnectionOptions, type DefaultJobOptions, type Processor, type QueueOptions, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { COMPENSATION_QUEUE, RUN_QUEUE, silentLogger, sleep, type Config, type Logger } from '../core/index.js';

export { COMPENSATION_QUEUE, RUN_QUEUE };

/** Key prefix of the queues: the namespace, else BullMQ's default. */
export function queuePrefix(config: Pick<Config, 'namespace'>): string {
  return config.namespace ?? 'bull';
}

/** Connection options for BullMQ (workers need `maxRetriesPerRequest: null`). */
export function redisConnection(config: Pick<Config, 'redisUrl'>): ConnectionOptions {
  return { url: config.redisUrl, maxRetriesPerRequest: null };
}

/** How long `close()` of a queue waits for BullMQ before it drops the connection. */
const QUEUE_CLOSE_MS = 5000;

/** At most one "Redis unreachable" line per this interval and message. */
const ERROR_LOG_INTERVAL_MS = 30_000;

/**
 * An `error` listener for queues and workers: while Redis is down they report
 * every reconnect attempt; this logs each distinct message, prefixed `what`,
 * once per {@link ERROR_LOG_INTERVAL_MS}.
 */
export function throttledErrorLog(log: Logger, what: string, fields: Record<string, unknown>, level: 'warn' | 'error' = 'warn'): (err: Error) => void {
  const lastLogged = new Map<string, number>();
  return (err: Error) => {
    const now = Date.now();
    if (now - (lastLogged.get(err.message) ?? -Infinity) < ERROR_LOG_INTERVAL_MS) return;
    lastLogged.set(err.message, now);
    log[level]({ ...fields, err: err.message }, `${what}: ${err.message}`);
  };
}

/**
 * A queue on a Redis connection of its own. BullMQ waits for Redis without
 * limit (the offline queue), so a process that only adds jobs would hang on
 * `close()` while Redis is down; this `close()` gives BullMQ a few seconds and
 * then drops the connection, which also ends the reconnect attempts. Redis
 * errors are logged, one line per message and interval, instead of printed raw.
 */
class OwnedConnectionQueue<Data, Result> extends Queue<Data, Result> {
  constructor(
    name: string,
    private readonly redis: Redis,
    options: Omit<QueueOptions, 'connection'>,
    log: Logger,
  ) {
    super(name, { ...options, connection: redis });
    this.on('error', throttledErrorLog(log, 'redis', { queue: name }));
  }

  override async close(): Promise<void> {
    const closed = await Promise.race([
      super.close().then(
        () => true,
        () => false,
      ),
      sleep(QUEUE_CLOSE_MS).then(() => false),
    ]);
    if (closed) await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }
}

/** A queue named `name` under this environment's prefix (see {@link OwnedConnectionQueue}). */
export function createQueue<Data = unknown, Result = unknown>(
  config: Pick<Config, 'redisUrl' | 'namespace'>,
  name: string,
  defaultJobOptions?: DefaultJobOptions,
  log: Logger = silentLogger,
): Queue<Data, Result> {
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  return new OwnedConnectionQueue<Data, Result>(name, redis, { prefix: queuePrefix(config), ...(defaultJobOptions ? { defaultJobOptions } : {}) }, log);
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
