/**
 * Integration-test helpers: every test environment gets its own three
 * databases, its own namespace (so topics `test-<id>.user.created`, consumer
 * groups and BullMQ queues are its own), and cleans all of it up.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { loadConfig, waitFor, type Config } from '../../core/index.js';
import { closeDatabases, connectDatabases, dropDatabase, migrateAll, type Databases, type PoolOptions } from '../../db/index.js';
import { createKafka, ensureTopics, topicNames, type Admin, type KafkaClient } from '../../streaming/index.js';

export { waitFor };

/** A short unique id: `test-<8 hex>`. */
export function uniqueName(prefix = 'test'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

function databaseUrl(base: string, name: string): string {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * Configuration for one test: unique database names and namespace, on the
 * servers the environment points at, with `env` overriding variables.
 */
export function testConfig(env: Record<string, string> = {}): Config {
  const id = randomUUID().replaceAll('-', '').slice(0, 10);
  const base = loadConfig(process.env);
  return loadConfig({
    ...process.env,
    USERS_DATABASE_URL: databaseUrl(base.databases.users, `recon_t${id}_users`),
    POINTS_DATABASE_URL: databaseUrl(base.databases.points, `recon_t${id}_points`),
    RECON_DATABASE_URL: databaseUrl(base.databases.recon, `recon_t${id}_batch`),
    RECON_NAMESPACE: `test-${id}`,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...env,
  });
}

export interface TestEnv {
  config: Config;
  dbs: Databases;
  kafka: KafkaClient;
  admin: Admin;
  redis: Redis;
  topics: ReturnType<typeof topicNames>;
  /** Drop the databases, delete the topics and the namespace's Redis keys, close everything. */
  cleanup(): Promise<void>;
}

export interface TestEnvOptions {
  env?: Record<string, string>;
  pool?: PoolOptions;
  /** Create the topics of DESIGN.md (default true). */
  topics?: boolean;
}

/** Migrate fresh databases, create the namespace's topics, connect to all of it. */
export async function createTestEnv({ env = {}, pool, topics = true }: TestEnvOptions = {}): Promise<TestEnv> {
  const config = testConfig(env);
  await migrateAll(config);
  const dbs = connectDatabases(config, pool);
  const kafka = createKafka(config, { clientId: `test-${config.namespace}` });
  const admin = kafka.admin();
  await admin.connect();
  const names = topicNames(config);
  if (topics) await ensureTopics(admin, names.all);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  return {
    config,
    dbs,
    kafka,
    admin,
    redis,
    topics: names,
    async cleanup() {
      await closeDatabases(dbs);
      const ours = (await admin.listTopics()).filter((t) => t.startsWith(`${config.namespace}.`));
      if (ours.length) await admin.deleteTopics({ topics: ours, timeout: 30_000 }).catch(() => undefined);
      await admin.disconnect();
      await deleteRedisKeys(redis, `${config.namespace}*`);
      redis.disconnect();
      await Promise.all(Object.values(config.databases).map((url) => dropDatabase(url)));
    },
  };
}

/** Delete every Redis key matching `pattern` (SCAN, never KEYS). */
export async function deleteRedisKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** A loopback port nobody listens on (yet): for "the service is down" tests. */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
