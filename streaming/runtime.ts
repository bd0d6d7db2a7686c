/**
 * In-process start functions: what `recon stream relay` / `recon stream
 * consume` run, also used by the demo, the chaos suite and the benchmark.
 * Each builds its own Kafka clients and right-sized database pools from the
 * configuration, and returns a handle whose `stop()` finishes the work in
 * hand and closes everything it opened.
 */
import { CONSUMER_GROUPS, POLLING_RELAY_REFUSED, UsageError, namespaced, silentLogger, type Config, type Logger } from '../core/index.js';
import { connect } from '../db/index.js';
import { balanceHandler } from './balance-consumer.js';
import { startHealthServer, type HealthServer } from './consumer-health.js';
import { runBatchConsumer, type ConsumerCrash, type ConsumerHandle, type ConsumerHealth, type ConsumerStats } from './idempotent-consumer.js';
import { createKafka, createProducer, ensureTopics, topicNames, waitForBrokers } from './kafka.js';
import { runOutboxRelay, type RelayOptions, type RelayStats } from './outbox-relay.js';
import { pointServiceHandler } from './point-consumer.js';
import type { ConsumerFault } from './faults.js';

export const STREAM_GROUPS = [CONSUMER_GROUPS.pointService, CONSUMER_GROUPS.userServiceBalances] as const;
export type StreamGroup = (typeof STREAM_GROUPS)[number];

export interface RelayProcess {
  stats(): RelayStats;
  stop(): Promise<void>;
}

/** Create missing topics (the broker does not auto-create them). */
async function ensureStreamTopics(config: Config, kafka: ReturnType<typeof createKafka>): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, topicNames(config).all);
  } finally {
    await admin.disconnect();
  }
}

/** Throws a {@link UsageError} when the configuration says the outbox is relayed by Debezium. */
export function assertPollingRelay(config: Pick<Config, 'relay'>): void {
  if (config.relay === 'debezium') throw new UsageError(POLLING_RELAY_REFUSED);
}

/**
 * Relay both outboxes (users → user.created, points → point.granted) until
 * `stop()`. Refuses under `RECON_RELAY=debezium`: whatever starts it in
 * process (the command, the demo, a benchmark) cannot run it beside Debezium.
 */
export async function startRelay(config: Config, options: RelayOptions & { log?: Logger } = {}): Promise<RelayProcess> {
  assertPollingRelay(config);
  const log = options.log ?? silentLogger;
  await waitForBrokers(config, { log });
  const kafka = createKafka(config, { clientId: 'recon-relay', logger: log });
  await ensureStreamTopics(config, kafka);
  const concurrency = options.concurrency ?? 2;
  // An idempotent producer has one request in flight: one producer per loop, so the users and points loops never queue behind each other's sends.
  const producers = Array.from({ length: concurrency * 2 }, () => createProducer(kafka));
  await Promise.all(producers.map((p) => p.connect()));
  // One connection per loop (plus one for failure bookkeeping), per database.
  const users = connect(config.databases.users, { max: concurrency + 1, applicationName: 'recon-relay' });
  const points = connect(config.databases.points, { max: concurrency + 1, applicationName: 'recon-relay' });
  const relay = runOutboxRelay(
    [
      { name: 'users', db: users },
      { name: 'points', db: points },
    ],
    producers,
    { ...options, concurrency },
  );
  let stopped: Promise<void> | undefined;
  return {
    stats: relay.stats,
    stop() {
      stopped ??= (async () => {
        await relay.stop();
        await Promise.all(producers.map((p) => p.disconnect()));
        await Promise.all([users.destroy(), points.destroy()]);
      })();
      return stopped;
    },
  };
}

export interface ConsumersOptions {
  /** Which groups to run. Default both. */
  groups?: readonly StreamGroup[];
  /** Partitions consumed concurrently per group; each database pool gets about this many connections. Default 2. */
  concurrency?: number;
  /** Tries of a batch with a retryable failure. Default 5. */
  maxAttempts?: number;
  /** Serve `/healthz` and `/metrics` on this port (0: any free one; see consumer-health.ts). Default: no endpoint. */
  healthPort?: number | undefined;
  /** A consumer fault to inject (tests only; see `CONSUMER_FAULTS`). */
  fault?: ConsumerFault;
  /** Group names instead of the namespaced defaults, e.g. to run the same consumer under a second group. */
  groupNames?: Partial<Record<StreamGroup, string>>;
  log?: Logger;
}

export interface ConsumersProcess {
  stats(): Record<string, ConsumerStats>;
  health(): ConsumerHealth[];
  /** Settles when one of the consumers crashed for good (kafkajs will not restart it); never, otherwise. */
  crashed: Promise<ConsumerCrash>;
  /** Port of the health endpoint, when one was asked for. */
  healthPort: number | undefined;
  stop(): Promise<void>;
}

/** Run the point-service and/or user-service-balances consumers until `stop()`. */
export async function startConsumers(config: Config, options: ConsumersOptions = {}): Promise<ConsumersProcess> {
  const { groups = STREAM_GROUPS, concurrency = 2, maxAttempts = 5 } = options;
  const log = options.log ?? silentLogger;
  const topics = topicNames(config);
  await waitForBrokers(config, { log });
  const kafka = createKafka(config, { clientId: 'recon-consumer', logger: log });
  await ensureStreamTopics(config, kafka);
  const producer = createProducer(kafka);
  await producer.connect();
  const pools = [] as ReturnType<typeof connect>[];
  const handles: ConsumerHandle[] = [];
  let health: HealthServer | undefined;
  const pool = (url: string) => {
    const db = connect(url, { max: concurrency + 1, applicationName: 'recon-consumer' });
    pools.push(db);
    return db;
  };
  try {
    if (groups.includes(CONSUMER_GROUPS.pointService)) {
      const handler = pointServiceHandler({
        db: pool(config.databases.points),
        group: options.groupNames?.[CONSUMER_GROUPS.pointService] ?? namespaced(config, CONSUMER_GROUPS.pointService),
        userCreatedTopic: topics.userCreated,
        pointGrantedTopic: topics.pointGranted,
        signupBonusPoints: config.signupBonusPoints,
      });
      handles.push(
        await runBatchConsumer(kafka, handler, {
          concurrency,
          maxAttempts,
          producer,
          log,
          dltHeaders: config.dltHeaders,
          ...(options.fault ? { fault: options.fault } : {}),
        }),
      );
    }
    if (groups.includes(CONSUMER_GROUPS.userServiceBalances)) {
      const handler = balanceHandler({
        db: pool(config.databases.users),
        group: options.groupNames?.[CONSUMER_GROUPS.userServiceBalances] ?? namespaced(config, CONSUMER_GROUPS.userServiceBalances),
        pointGrantedTopic: topics.pointGranted,
      });
      handles.push(
        await runBatchConsumer(kafka, handler, {
          concurrency,
          maxAttempts,
          producer,
          log,
          dltHeaders: config.dltHeaders,
          ...(options.fault ? { fault: options.fault } : {}),
        }),
      );
    }
    if (options.healthPort !== undefined) health = await startHealthServer({ port: options.healthPort, health: () => handles.map((h) => h.health()), log });
  } catch (err) {
    await Promise.all(handles.map((h) => h.stop().catch(() => undefined)));
    await producer.disconnect().catch(() => undefined);
    await Promise.all(pools.map((p) => p.destroy()));
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    stats: () => Object.fromEntries(handles.map((h) => [h.group, h.stats()])),
    health: () => handles.map((h) => h.health()),
    crashed: Promise.race(handles.map((h) => h.crashed)),
    healthPort: health?.port,
    stop() {
      stopped ??= (async () => {
        await Promise.all(handles.map((h) => h.stop()));
        await producer.disconnect();
        await Promise.all(pools.map((p) => p.destroy()));
        // Last: a probe sees the state until the very end.
        await health?.close();
      })();
      return stopped;
    },
  };
}
