/**
 * Integration-test helpers: every test environment gets its own three
 * databases, its own namespace (so topics `test-<id>.user.created`, consumer
 * groups and BullMQ queues are its own), its own roles when it asks for
 * them, and cleans all of it up.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig, waitFor, type Config } from '../../core/index.js';
import {
  applyRoles,
  closeDatabases,
  connectDatabases,
  dropDatabase,
  migrateAll,
  parseDatabaseUrl,
  roleNames,
  roleUrl,
  withDefaultUser,
  type Databases,
  type PoolOptions,
  type RolePurpose,
} from '../../db/index.js';
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
    // Compensations write the test's own databases, whatever the environment names (empty means unset).
    USERS_WRITER_DATABASE_URL: '',
    POINTS_WRITER_DATABASE_URL: '',
    RECON_NAMESPACE: `test-${id}`,
    // Roles are global to the cluster: each test's are its own.
    RECON_ROLE_PREFIX: `t${id}_`,
    // Fixtures write rows keyed hours ago just before a run; measured from their commit they would all wait a grace.
    // The tests of that measure (test/issues/grace-from-commit) ask for `commit`.
    RECON_GRACE_FROM: 'start',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...env,
  });
}

export interface TestEnv {
  /** What recon's code under test gets: with `roles`, URLs naming the least-privilege roles; else the same as `adminConfig`. */
  config: Config;
  /** The superuser's URLs (fixtures, assertions, and what the services' stand-ins, relay and consumers, connect with). */
  adminConfig: Config;
  /** Superuser handles: fixtures and assertions by SQL. */
  dbs: Databases;
  /** Handles connected with `config`: what in-process runs, workers and the API get (the least-privilege roles with `roles`). */
  app: Databases;
  /** The names of the reader, writer and owner roles (`roles` only). */
  roles: Record<RolePurpose, string> | undefined;
  /** Create a LOGIN role `<this test's role prefix><suffix>` (no privileges), dropped in cleanup. Returns its name. */
  createRole(suffix: string): Promise<string>;
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
  /**
   * Run recon's code as the least-privilege roles `recon migrate --roles`
   * creates (named after the test, dropped in cleanup): `config` and `app`
   * connect as them, `dbs` and `adminConfig` stay the superuser's. Default
   * false. The tests of runs, workers, the API and the CLI set it.
   */
  roles?: boolean;
}

/** Migrate fresh databases, create the namespace's topics (and roles), connect to all of it. */
export async function createTestEnv({ env = {}, pool, topics = true, roles = false }: TestEnvOptions = {}): Promise<TestEnv> {
  const adminConfig = testConfig(env);
  await migrateAll(adminConfig);
  const names = roles ? roleNames(adminConfig) : undefined;
  const created = new Set<string>(names ? Object.values(names) : []);
  if (roles) await applyRoles(adminConfig);
  const config: Config = names
    ? {
        ...adminConfig,
        databases: {
          users: roleUrl(adminConfig.databases.users, names.reader),
          points: roleUrl(adminConfig.databases.points, names.reader),
          recon: roleUrl(adminConfig.databases.recon, names.owner),
        },
        writerDatabases: { users: roleUrl(adminConfig.databases.users, names.writer), points: roleUrl(adminConfig.databases.points, names.writer) },
      }
    : adminConfig;
  const dbs = connectDatabases(adminConfig, pool);
  const app = names ? connectDatabases(config, pool) : dbs;
  const kafka = createKafka(config, { clientId: `test-${config.namespace}` });
  const admin = kafka.admin();
  await admin.connect();
  const topicList = topicNames(config);
  if (topics) await ensureTopics(admin, topicList.all);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  return {
    config,
    adminConfig,
    dbs,
    app,
    roles: names,
    kafka,
    admin,
    redis,
    topics: topicList,
    async createRole(suffix) {
      const name = `${adminConfig.rolePrefix}${suffix}`;
      created.add(name);
      await dbs.users.raw(`create role "${name}" login`);
      return name;
    },
    async cleanup() {
      if (app !== dbs) await closeDatabases(app);
      await closeDatabases(dbs);
      const ours = (await admin.listTopics()).filter((t) => t.startsWith(`${config.namespace}.`));
      if (ours.length) await admin.deleteTopics({ topics: ours, timeout: 30_000 }).catch(() => undefined);
      await admin.disconnect();
      await deleteRedisKeys(redis, `${config.namespace}*`);
      redis.disconnect();
      await Promise.all(Object.values(adminConfig.databases).map((url) => dropDatabase(url)));
      // After the databases: the roles' privileges lived in them, and nothing else depends on the roles.
      if (created.size) await dropRoles(adminConfig.databases.users, [...created]);
    },
  };
}

/** Drop roles (cluster-global) through the server's maintenance database. */
async function dropRoles(url: string, names: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: parseDatabaseUrl(withDefaultUser(url)).adminUrl });
  await client.connect();
  try {
    for (const name of names) await client.query(`drop role if exists "${name}"`);
  } finally {
    await client.end();
  }
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
