/**
 * The Debezium relay against the polling relay, in the same run on the same
 * machine: end-to-end throughput (first user committed → last grant
 * committed) of `RECON_BENCH_DEBEZIUM_USERS` users (default 50,000) through
 * each relay, as a ratio. Each repetition runs both, alternately, on fresh
 * databases and a fresh namespace; the consumers run as a child process in
 * both, the polling relay as a child process too, Debezium on one Kafka
 * Connect worker started for the benchmark (its own port and home).
 *
 * Grant time is `point_ledger.created_at` (the consumer transaction's start),
 * user commit time `users.created_at` (the generator's transaction start).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CONSUMER_GROUPS, configEnv, loadConfig, namespaced, waitFor, type Config } from '../core/index.js';
import { closeDatabases, connectDatabases, countConsumedEvents, dropDatabase, migrateAll, type Databases } from '../db/index.js';
import { connectDown, connectUp, localConnectPaths } from '../services/index.js';
import {
  createKafka,
  ensureTopics,
  generateUsers,
  outboxConnectorStatus,
  registerOutboxConnectors,
  removeOutboxConnectors,
  startConsumers,
  startRelay,
  topicNames,
} from '../streaming/index.js';
import { isolatedConfig, median, type BenchContext, type BenchResult } from './index.js';

const REPETITIONS = 2;
const WARM_UP = 100;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

type Relay = 'polling' | 'debezium';

function stageConfig(base: Config, relay: Relay, connectUrl: string): Config {
  return {
    ...isolatedConfig(base),
    relay,
    connect: { ...base.connect, url: connectUrl, databases: {} },
  };
}

function spawnStage(config: Config, role: 'relay' | 'consume'): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', role], {
    env: { ...process.env, ...configEnv(config), LOG_LEVEL: 'error' },
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd: ROOT,
  });
}

async function child(role: string): Promise<void> {
  const config = loadConfig();
  const stage = role === 'relay' ? await startRelay(config, { concurrency: 3 }) : await startConsumers(config, { concurrency: 3 });
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  await stage.stop();
}

if (process.argv[2] === '--child') await child(process.argv[3] ?? '');

/** A loopback port nobody listens on (yet): the worker's REST port. */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One relay's throughput on fresh databases: users per second from the first user's commit to the last grant. */
async function measure(ctx: BenchContext, config: Config, users: number): Promise<number> {
  await migrateAll(config);
  const admin = createKafka(config).admin();
  await admin.connect();
  await ensureTopics(admin, topicNames(config).all);
  const dbs: Databases = connectDatabases(config, { max: 4 });
  const children: ChildProcess[] = [];
  try {
    if (config.relay === 'debezium') {
      await registerOutboxConnectors(config);
      await waitFor(
        'both connectors streaming',
        async () => (await outboxConnectorStatus(config)).every((r) => r.state === 'RUNNING' && r.tasks[0]?.state === 'RUNNING' && r.slotActive === true),
        { timeoutMs: 120_000, intervalMs: 500 },
      );
    } else {
      children.push(spawnStage(config, 'relay'));
    }
    children.push(spawnStage(config, 'consume'));
    const group = namespaced(config, CONSUMER_GROUPS.pointService);
    const granted = (n: number, timeoutMs: number) =>
      waitFor(`${n} grants`, async () => (await countConsumedEvents(dbs.points, group)) >= n, { timeoutMs, intervalMs: 100 });
    const topic = topicNames(config).userCreated;
    await generateUsers({ db: dbs.users, userCreatedTopic: topic }, { count: WARM_UP });
    await granted(WARM_UP, 120_000);
    const since = new Date();
    await generateUsers({ db: dbs.users, userCreatedTopic: topic }, { count: users, batchSize: 1000, concurrency: 2 });
    await granted(WARM_UP + users, 900_000);
    const { rows } = await dbs.users.raw<{ rows: { first: Date }[] }>('select min(created_at) as first from users where created_at > ?', [since]);
    const last = await dbs.points('point_ledger').where('user_created_at', '>', since).max({ at: 'created_at' }).first<{ at: Date }>();
    const throughput = users / ((last!.at.getTime() - rows[0]!.first.getTime()) / 1000);
    ctx.log(`debezium bench: ${config.relay} relay, ${users} users, ${throughput.toFixed(0)} events/s end to end`);
    return throughput;
  } finally {
    await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : (c.once('exit', resolve), c.kill('SIGTERM'))))));
    // Slots first: a database with a replication slot cannot be dropped.
    if (config.relay === 'debezium') await removeOutboxConnectors(config).catch((err: Error) => ctx.log(`debezium bench: remove failed: ${err.message}`));
    await closeDatabases(dbs);
    const ours = (await admin.listTopics()).filter((t) => t.startsWith(`${config.namespace}.`));
    await admin.deleteTopics({ topics: ours }).catch(() => undefined);
    await admin.disconnect();
    await Promise.all(Object.values(config.databases).map((u) => dropDatabase(u)));
  }
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const users = ctx.config.benchDebeziumUsers;
  const home = mkdtempSync(join(tmpdir(), 'recon-bench-connect-'));
  const paths = localConnectPaths(home);
  const connectUrl = `http://127.0.0.1:${await unusedPort()}`;
  const workerConfig = { ...ctx.config, namespace: `bench-connect-${randomUUID().slice(0, 8)}`, connect: { ...ctx.config.connect, url: connectUrl } };
  const polling: number[] = [];
  const debezium: number[] = [];
  try {
    const up = await connectUp(workerConfig, { paths, timeoutMs: 240_000 });
    ctx.log(`debezium bench: Kafka Connect worker at ${connectUrl} (${up.action})`);
    for (let rep = 1; rep <= REPETITIONS; rep++) {
      // Alternate the order, so neither relay always runs on a warmer machine.
      const order: Relay[] = rep % 2 ? ['polling', 'debezium'] : ['debezium', 'polling'];
      for (const relay of order) {
        const t = await measure(ctx, stageConfig(ctx.config, relay, connectUrl), users);
        (relay === 'polling' ? polling : debezium).push(t);
      }
    }
  } finally {
    await connectDown({ paths });
    const admin = createKafka(ctx.config).admin();
    await admin.connect();
    const ours = (await admin.listTopics()).filter((t) => t.startsWith(`${workerConfig.namespace}.`));
    await admin.deleteTopics({ topics: ours }).catch(() => undefined);
    await admin.disconnect();
    rmSync(home, { recursive: true, force: true });
  }
  const ratio = median(debezium) / median(polling);
  return {
    name: 'debezium',
    metrics: [
      { name: 'Debezium relay ÷ polling relay, end-to-end throughput', value: ratio, unit: '×' },
      { name: 'end-to-end throughput, Debezium relay', value: median(debezium), unit: 'events/s' },
      { name: 'end-to-end throughput, polling relay', value: median(polling), unit: 'events/s' },
    ],
    notes: [
      `${users} users per relay (RECON_BENCH_DEBEZIUM_USERS), ${REPETITIONS} repetitions, both relays in each, alternating which goes first; medians`,
      `runs: Debezium ${debezium.map((x) => x.toFixed(0)).join(', ')}; polling ${polling.map((x) => x.toFixed(0)).join(', ')} events/s`,
      'consumers (3 partitions at a time per group) as a child process in both; the polling relay (3 loops per database) as a child process; Debezium on one Kafka Connect worker (one task per outbox)',
      'measured from the first user commit to the last grant (point_ledger.created_at)',
    ],
  };
}
