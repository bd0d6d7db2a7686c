/**
 * Streaming benchmark: end-to-end throughput (user committed → grant
 * committed) and latency at a fixed rate, on fresh databases and a fresh
 * namespace per repetition. The relay and the consumers run as child
 * processes (the start functions of `recon stream relay` / `recon stream
 * consume`), as in production, so generator, relay and consumers spread over
 * both cores.
 *
 * - throughput: `THROUGHPUT_USERS` users created as fast as possible;
 *   throughput = users / (last grant − first user commit).
 * - latency: `LATENCY_RATE` users/s for `LATENCY_SECONDS`; per user
 *   grant time − `users.created_at`, p50/p99, split into relay
 *   (`outbox.published_at − occurred_at`) and consumer (grant − published).
 *
 * - end to end ÷ generator: per repetition, the throughput above divided by
 *   the load generator's own rate in the same run (the machine is shared, so
 *   the ratio says more than either figure).
 * - sustained rate: the generator paced at fixed rates (3,000 users/s, then
 *   1,000 more each step, `SUSTAIN_SECONDS` each, one stage for all steps)
 *   until end to end falls below 0.95 of the rate written; the highest rate
 *   kept up with. Unlike the ratio above, the generator takes only the CPU
 *   its rate needs, so a lighter pipeline cannot lower it by leaving the
 *   generator more of the two cores.
 * - scaling of the stream itself, each stage alone, in separate OS
 *   processes: 1 vs 2 relay processes draining a backlog of
 *   `SCALING_EVENTS` outbox rows committed at once (no consumers running),
 *   and 1 vs 2 consumer processes draining `SCALING_EVENTS` messages
 *   already on the topic (the consumers are stopped with SIGSTOP while the
 *   relay publishes them, and continued with SIGCONT; the stop is far below
 *   the session timeout, so the group does not rebalance).
 *
 * - CPU per 1,000 users during the throughput run, per process (Linux
 *   `/proc`): every Postgres process, the broker, the relay and the consumer
 *   process, and this process (the load generator and the benchmark's own
 *   polling); and how idle the machine was. On two shared cores the stream
 *   is bound by CPU, so these say where a faster stream has to come from.
 *
 * Grant time is `point_ledger.created_at`, the consumer transaction's start
 * (a few ms before its commit): the figures slightly flatter the consumer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONSUMER_GROUPS, configEnv, createLogger, loadConfig, namespaced, waitFor, type Config } from '../core/index.js';
import { closeDatabases, connectDatabases, countConsumedEvents, countUnpublished, dropDatabase, migrateAll, type Databases } from '../db/index.js';
import { createKafka, ensureTopics, generateUsers, startConsumers, startRelay, topicNames } from '../streaming/index.js';
import { isolatedConfig, median, percentile, type BenchContext, type BenchResult } from './index.js';

const THROUGHPUT_USERS = 100_000;
const LATENCY_RATE = 1000;
const LATENCY_SECONDS = 20;
const REPETITIONS = 3;
const RELAY_CONCURRENCY = 3;
const CONSUMER_CONCURRENCY = 3;
const SCALING_EVENTS = 40_000;
const SCALING_REPETITIONS = 3;
/** The sustained-rate search: fixed generator rates from `SUSTAIN_START` up by `SUSTAIN_STEP`, `SUSTAIN_SECONDS` each. */
const SUSTAIN_START = 3000;
const SUSTAIN_STEP = 1000;
const SUSTAIN_MAX = 12_000;
const SUSTAIN_SECONDS = 12;
/** A rate is kept up with when end to end reaches this share of what the generator wrote at it. */
const KEPT_UP = 0.95;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Relay or consumers in a child process of their own (this module run with
 * `--child relay|consume`): the same start functions `recon stream` uses,
 * without loading the whole command line.
 */
export function spawnStage(config: Config, role: 'relay' | 'consume'): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...configEnv(config), LOG_LEVEL: 'error' };
  return spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', role], {
    env,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    cwd: ROOT,
  });
}

/** Resolves when the child has started its stage (it sends `ready`). */
function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`a ${child.spawnargs.at(-1)} child exited (${code}) before it was ready`)));
  });
}

async function child(role: string): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config);
  const relay = role === 'relay' ? await startRelay(config, { concurrency: RELAY_CONCURRENCY, log }) : undefined;
  const stage = relay ?? (await startConsumers(config, { concurrency: CONSUMER_CONCURRENCY, log }));
  process.send?.('ready');
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  await stage.stop();
  // Failed rounds are retried and end well, so nothing else shows them: the parent counts them.
  if (relay && process.connected) await new Promise((resolve) => process.send?.({ relayFailures: relay.stats().failures }, resolve) ?? resolve(null));
  process.disconnect?.();
}

if (process.argv[2] === '--child') await child(process.argv[3] ?? '');

interface Stage {
  config: Config;
  dbs: Databases;
  children: ChildProcess[];
  /** Failed relay rounds per database, reported by the relay processes when they stop. */
  relayFailures: Record<string, number>;
}

/**
 * Fresh databases and topics, `relays` relay and `consumers` consumer
 * processes running and warmed up (a first grant went through, or with no
 * consumers a first batch was published).
 */
async function setUp(base: Config, { relays = 1, consumers = 1 }: { relays?: number; consumers?: number } = {}): Promise<Stage> {
  const config = isolatedConfig(base);
  await migrateAll(config);
  const admin = createKafka(config).admin();
  await admin.connect();
  await ensureTopics(admin, topicNames(config).all);
  await admin.disconnect();
  const dbs = connectDatabases(config, { max: 4 });
  const children = [
    ...Array.from({ length: relays }, () => spawnStage(config, 'relay')),
    ...Array.from({ length: consumers }, () => spawnStage(config, 'consume')),
  ];
  const stage: Stage = { config, dbs, children, relayFailures: {} };
  for (const c of children) {
    c.on('message', (m: { relayFailures?: Record<string, number> }) => {
      for (const [source, n] of Object.entries(m?.relayFailures ?? {})) stage.relayFailures[source] = (stage.relayFailures[source] ?? 0) + n;
    });
  }
  try {
    await Promise.all(children.map(ready));
    await generateUsers({ db: dbs.users, userCreatedTopic: topicNames(config).userCreated }, { count: 100 });
    if (consumers > 0) {
      await waitGroupsJoined(config, consumers);
      await waitFor('warm-up grants', async () => (await countConsumedEvents(dbs.points, namespaced(config, CONSUMER_GROUPS.pointService))) >= 100, {
        timeoutMs: 120_000,
        intervalMs: 200,
      });
      await dbs.points('point_ledger').count();
    } else {
      await waitFor('warm-up published', async () => (await countUnpublished(dbs.users)) === 0, { timeoutMs: 120_000, intervalMs: 200 });
    }
    return stage;
  } catch (err) {
    await tearDown(stage);
    throw err;
  }
}

/** Both consumer groups are stable with `members` members (one per consumer process). */
async function waitGroupsJoined(config: Config, members: number): Promise<void> {
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    const groups = [CONSUMER_GROUPS.pointService, CONSUMER_GROUPS.userServiceBalances].map((g) => namespaced(config, g));
    await waitFor(
      `${members} members in each consumer group`,
      async () => (await admin.describeGroups(groups)).groups.every((g) => g.state === 'Stable' && g.members.length === members),
      { timeoutMs: 120_000, intervalMs: 500 },
    );
  } finally {
    await admin.disconnect();
  }
}

async function tearDown({ config, dbs, children }: Stage): Promise<void> {
  // `close`, not `exit`: the IPC channel is drained by then, so a relay's last message (its failed rounds) has arrived.
  await Promise.all(
    children.map(
      (c) => new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(null) : (c.once('close', resolve), c.kill('SIGTERM')))),
    ),
  );
  await closeDatabases(dbs);
  const admin = createKafka(config).admin();
  await admin.connect();
  const ours = (await admin.listTopics()).filter((t) => t.startsWith(`${config.namespace}.`));
  await admin.deleteTopics({ topics: ours }).catch(() => undefined);
  await admin.disconnect();
  await Promise.all(Object.values(config.databases).map((u) => dropDatabase(u)));
}

/** Users created after `since`, with their grant and publication times (ms). */
async function timings(dbs: Databases, since: Date): Promise<{ created: number; published: number; granted: number }[]> {
  const users: { id: string; created_at: Date; published_at: Date }[] = await dbs
    .users('users as u')
    .joinRaw('join outbox o on o.message_key = u.id::text')
    .where('u.created_at', '>', since)
    .select('u.id', 'u.created_at', 'o.published_at');
  const grants: { user_id: string; created_at: Date }[] = await dbs.points('point_ledger').where('user_created_at', '>', since).select('user_id', 'created_at');
  const grantedAt = new Map(grants.map((g) => [g.user_id, g.created_at.getTime()]));
  return users.map((u) => ({ created: u.created_at.getTime(), published: u.published_at.getTime(), granted: grantedAt.get(u.id) ?? NaN }));
}

/**
 * Relay processes alone: the rate at which `relays` processes publish a
 * backlog of `SCALING_EVENTS` rows committed in one transaction, from that
 * commit to the last `published_at`.
 */
async function relayDrain(base: Config, relays: number): Promise<number> {
  const stage = await setUp(base, { relays, consumers: 0 });
  try {
    await generateUsers(
      { db: stage.dbs.users, userCreatedTopic: topicNames(stage.config).userCreated },
      { count: SCALING_EVENTS, batchSize: SCALING_EVENTS, concurrency: 1 },
    );
    const committed = Date.now();
    await waitFor('the backlog published', async () => (await countUnpublished(stage.dbs.users)) === 0, { timeoutMs: 600_000, intervalMs: 100 });
    const [row] = await stage.dbs.users('outbox').max<{ at: Date }[]>({ at: 'published_at' });
    return SCALING_EVENTS / ((row!.at.getTime() - committed) / 1000);
  } finally {
    await tearDown(stage);
  }
}

/**
 * Consumer processes alone: the rate at which `consumers` processes turn
 * `SCALING_EVENTS` messages already on `user.created` into grants (both
 * groups run, as in `recon stream consume`), from SIGCONT to the last
 * point-service transaction. One relay process publishes the backlog while
 * the consumers are stopped, and the grants' events afterwards.
 */
async function consumerDrain(base: Config, consumers: number): Promise<number> {
  const stage = await setUp(base, { relays: 1, consumers });
  const consumerProcesses = stage.children.slice(1);
  try {
    const group = namespaced(stage.config, CONSUMER_GROUPS.pointService);
    for (const c of consumerProcesses) c.kill('SIGSTOP');
    try {
      await generateUsers(
        { db: stage.dbs.users, userCreatedTopic: topicNames(stage.config).userCreated },
        { count: SCALING_EVENTS, batchSize: 5000, concurrency: 2 },
      );
      await waitFor('the backlog published', async () => (await countUnpublished(stage.dbs.users)) === 0, { timeoutMs: 20_000, intervalMs: 100 });
    } finally {
      for (const c of consumerProcesses) c.kill('SIGCONT');
    }
    const continued = Date.now();
    await waitFor('the backlog consumed', async () => (await countConsumedEvents(stage.dbs.points, group)) >= 100 + SCALING_EVENTS, {
      timeoutMs: 600_000,
      intervalMs: 500,
    });
    const [row] = await stage.dbs.points('consumed_events').where({ consumer_group: group }).max<{ at: Date }[]>({ at: 'consumed_at' });
    return SCALING_EVENTS / ((row!.at.getTime() - continued) / 1000);
  } finally {
    await tearDown(stage);
  }
}

/** Linux only: CPU seconds (user + system) used so far by `pids`; a process gone meanwhile counts nothing. */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return ticks / 100;
}

/** Pids whose command name or command line `match` accepts (Linux `/proc`). */
function pidsWhere(match: (comm: string, cmdline: string) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (match(comm, readFileSync(`/proc/${entry}/cmdline`, 'utf8'))) pids.push(Number(entry));
    } catch {
      // exited
    }
  }
  return pids;
}

/** Idle core-seconds of the whole machine so far (`/proc/stat`: idle + iowait). */
function idleSeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (fields[3]! + fields[4]!) / 100;
}

interface CpuSplit {
  postgres: number;
  broker: number;
  relay: number;
  consumers: number;
  generator: number;
  idle: number;
}

/** Starts counting CPU per process; the returned function gives the seconds each used since. Undefined without `/proc`. */
function countCpu(stage: Stage): (() => CpuSplit) | undefined {
  if (!existsSync('/proc/stat')) return undefined;
  const [relay, ...consumers] = stage.children.map((c) => c.pid!);
  const postgresNow = () => pidsWhere((comm) => comm.startsWith('postgres'));
  const brokers = pidsWhere((_, cmdline) => cmdline.includes('kafka.Kafka'));
  const before = new Map(postgresNow().map((pid) => [pid, cpuSeconds([pid])]));
  const start = {
    broker: cpuSeconds(brokers),
    relay: cpuSeconds([relay!]),
    consumers: cpuSeconds(consumers),
    self: process.cpuUsage(),
    idle: idleSeconds(),
  };
  return () => {
    const self = process.cpuUsage(start.self);
    // Backends that started meanwhile count from zero; those that ended meanwhile are lost (the pools keep theirs open).
    const postgres = postgresNow().reduce((sum, pid) => sum + cpuSeconds([pid]) - (before.get(pid) ?? 0), 0);
    return {
      postgres,
      broker: cpuSeconds(brokers) - start.broker,
      relay: cpuSeconds([relay!]) - start.relay,
      consumers: cpuSeconds(consumers) - start.consumers,
      generator: (self.user + self.system) / 1e6,
      idle: idleSeconds() - start.idle,
    };
  };
}

async function waitGranted(stage: Stage, total: number, timeoutMs: number): Promise<void> {
  const group = namespaced(stage.config, CONSUMER_GROUPS.pointService);
  // The count walks consumed_events, so it polls twice a second, not ten times: a busier poll took about a tenth of a
  // core from the stream it measures (the figures come from the rows' own times, not from when the wait ends).
  await waitFor(`${total} grants`, async () => (await countConsumedEvents(stage.dbs.points, group)) >= total, { timeoutMs, intervalMs: 500 });
  // A relay marks its rows published after the broker took them, so the last grants can commit before the last
  // mark: the timings need every row's published_at.
  await waitFor('every outbox row marked published', async () => (await countUnpublished(stage.dbs.users)) === 0, { timeoutMs, intervalMs: 200 });
}

interface SustainStep {
  rate: number;
  written: number;
  endToEnd: number;
  p99: number;
}

/** The fixed-rate steps of the sustained-rate search, up to the first one not kept up with. */
async function sustainedRate(ctx: BenchContext): Promise<SustainStep[]> {
  const stage = await setUp(ctx.config);
  const steps: SustainStep[] = [];
  try {
    let total = 100;
    for (let rate = SUSTAIN_START; rate <= SUSTAIN_MAX; rate += SUSTAIN_STEP) {
      const count = rate * SUSTAIN_SECONDS;
      const since = new Date(Date.now() - 1);
      const gen = await generateUsers(
        { db: stage.dbs.users, userCreatedTopic: topicNames(stage.config).userCreated },
        { count, rate, batchSize: 500, concurrency: 2 },
      );
      total += count;
      await waitGranted(stage, total, 600_000);
      const t = await timings(stage.dbs, since);
      const endToEnd = t.length / ((Math.max(...t.map((x) => x.granted)) - Math.min(...t.map((x) => x.created))) / 1000);
      const step = {
        rate,
        written: count / (gen.ms / 1000),
        endToEnd,
        p99: percentile(
          t.map((x) => x.granted - x.created),
          99,
        ),
      };
      steps.push(step);
      ctx.log(
        `streaming sustained: ${rate}/s asked, ${step.written.toFixed(0)}/s written, end to end ${endToEnd.toFixed(0)} events/s (${(endToEnd / step.written).toFixed(2)}), p99 ${step.p99} ms`,
      );
      if (endToEnd < KEPT_UP * step.written) break;
    }
  } finally {
    await tearDown(stage);
  }
  return steps;
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const throughputs: number[] = [];
  const p50s: number[] = [];
  const p99s: number[] = [];
  const relayP50s: number[] = [];
  const consumerP50s: number[] = [];
  const genRates: number[] = [];
  const ratios: number[] = [];
  const cpu: CpuSplit[] = [];
  /** Per end-to-end repetition (both loops below), the relay's failed rounds per database. */
  const failedRounds: Record<string, number>[] = [];
  const idleShares: number[] = [];
  for (let rep = 1; rep <= REPETITIONS; rep++) {
    const stage = await setUp(ctx.config);
    try {
      const topic = topicNames(stage.config).userCreated;
      // Throughput.
      const since = new Date(Date.now() - 1);
      const cpuSince = countCpu(stage);
      const wall = Date.now();
      const gen = await generateUsers({ db: stage.dbs.users, userCreatedTopic: topic }, { count: THROUGHPUT_USERS, batchSize: 1000, concurrency: 2 });
      genRates.push(THROUGHPUT_USERS / (gen.ms / 1000));
      await waitGranted(stage, 100 + THROUGHPUT_USERS, 600_000);
      const used = cpuSince?.();
      if (used) {
        cpu.push(used);
        idleShares.push(used.idle / (((Date.now() - wall) / 1000) * cpus().length));
      }
      const t = await timings(stage.dbs, since);
      const first = Math.min(...t.map((x) => x.created));
      const last = Math.max(...t.map((x) => x.granted));
      const throughput = t.length / ((last - first) / 1000);
      throughputs.push(throughput);
      ratios.push(throughput / genRates.at(-1)!);
      ctx.log(
        `streaming rep ${rep}: ${THROUGHPUT_USERS} users, generator ${genRates.at(-1)!.toFixed(0)}/s, end-to-end ${throughput.toFixed(0)} events/s, ratio ${ratios.at(-1)!.toFixed(2)}`,
      );

      // Latency at a fixed rate.
      const since2 = new Date();
      await generateUsers(
        { db: stage.dbs.users, userCreatedTopic: topic },
        { count: LATENCY_RATE * LATENCY_SECONDS, rate: LATENCY_RATE, batchSize: 100, concurrency: 2 },
      );
      await waitGranted(stage, 100 + THROUGHPUT_USERS + LATENCY_RATE * LATENCY_SECONDS, 120_000);
      const l = await timings(stage.dbs, since2);
      const latencies = l.map((x) => x.granted - x.created);
      p50s.push(percentile(latencies, 50));
      p99s.push(percentile(latencies, 99));
      relayP50s.push(
        percentile(
          l.map((x) => x.published - x.created),
          50,
        ),
      );
      consumerP50s.push(
        percentile(
          l.map((x) => x.granted - x.published),
          50,
        ),
      );
      ctx.log(
        `streaming rep ${rep}: ${LATENCY_RATE}/s latency p50 ${p50s.at(-1)} ms, p99 ${p99s.at(-1)} ms (relay p50 ${relayP50s.at(-1)} ms, consumer p50 ${consumerP50s.at(-1)} ms)`,
      );
    } finally {
      await tearDown(stage);
    }
    failedRounds.push(stage.relayFailures);
  }
  // End to end with two consumer processes (the stage the scaling runs below find to be the limit): throughput only.
  const twoConsumerRatios: number[] = [];
  for (let rep = 1; rep <= REPETITIONS; rep++) {
    const stage = await setUp(ctx.config, { relays: 1, consumers: 2 });
    try {
      const since = new Date(Date.now() - 1);
      const gen = await generateUsers(
        { db: stage.dbs.users, userCreatedTopic: topicNames(stage.config).userCreated },
        { count: THROUGHPUT_USERS, batchSize: 1000, concurrency: 2 },
      );
      await waitGranted(stage, 100 + THROUGHPUT_USERS, 600_000);
      const t = await timings(stage.dbs, since);
      const throughput = t.length / ((Math.max(...t.map((x) => x.granted)) - Math.min(...t.map((x) => x.created))) / 1000);
      twoConsumerRatios.push(throughput / (THROUGHPUT_USERS / (gen.ms / 1000)));
      ctx.log(`streaming rep ${rep}, 2 consumer processes: end-to-end ${throughput.toFixed(0)} events/s, ratio ${twoConsumerRatios.at(-1)!.toFixed(2)}`);
    } finally {
      await tearDown(stage);
    }
    failedRounds.push(stage.relayFailures);
  }

  const sustained = await sustainedRate(ctx);
  const keptUp = sustained.filter((st) => st.endToEnd >= KEPT_UP * st.written);

  // Scaling of each stage, 1 vs 2 processes, interleaved so load changes hit both alike.
  const relayRates: Record<1 | 2, number[]> = { 1: [], 2: [] };
  const consumerRates: Record<1 | 2, number[]> = { 1: [], 2: [] };
  for (let rep = 1; rep <= SCALING_REPETITIONS; rep++) {
    for (const n of [1, 2] as const) {
      relayRates[n].push(await relayDrain(ctx.config, n));
      ctx.log(`streaming scaling rep ${rep}: ${n} relay process(es), ${relayRates[n].at(-1)!.toFixed(0)} events/s`);
    }
    for (const n of [1, 2] as const) {
      consumerRates[n].push(await consumerDrain(ctx.config, n));
      ctx.log(`streaming scaling rep ${rep}: ${n} consumer process(es), ${consumerRates[n].at(-1)!.toFixed(0)} events/s`);
    }
  }
  const runs = (xs: readonly number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  const perThousand = (k: keyof CpuSplit) => median(cpu.map((c) => (c[k] * 1000 * 1000) / THROUGHPUT_USERS));
  const cpuMetrics = cpu.length
    ? [
        { name: 'CPU per 1000 users, throughput run: Postgres (all its processes)', value: perThousand('postgres'), unit: 'ms' },
        { name: 'CPU per 1000 users: relay process', value: perThousand('relay'), unit: 'ms' },
        { name: 'CPU per 1000 users: consumer process', value: perThousand('consumers'), unit: 'ms' },
        { name: 'CPU per 1000 users: load generator (this process)', value: perThousand('generator'), unit: 'ms' },
        { name: 'CPU per 1000 users: broker', value: perThousand('broker'), unit: 'ms' },
        { name: 'machine idle during the throughput run', value: Math.round(median(idleShares) * 1000) / 10, unit: '%' },
      ]
    : [];
  return {
    name: 'streaming',
    metrics: [
      { name: 'end-to-end throughput (user committed → grant)', value: median(throughputs), unit: 'events/s', aim: '>= 10000' },
      { name: 'end to end ÷ load generator, same run', value: median(ratios), unit: 'ratio', aim: '>= 0.7' },
      { name: 'end to end ÷ load generator, 2 consumer processes', value: median(twoConsumerRatios), unit: 'ratio', aim: '>= 0.7' },
      {
        name: `highest fixed rate kept up with (end to end ≥ ${KEPT_UP} × written, ${SUSTAIN_SECONDS} s per step)`,
        value: keptUp.at(-1)?.written ?? 0,
        unit: 'users/s',
      },
      { name: `latency p50 at ${LATENCY_RATE}/s`, value: median(p50s), unit: 'ms' },
      { name: `latency p99 at ${LATENCY_RATE}/s`, value: median(p99s), unit: 'ms', aim: '< 250' },
      { name: 'latency p50, user commit → published (relay)', value: median(relayP50s), unit: 'ms' },
      { name: 'latency p50, published → grant (consumer)', value: median(consumerP50s), unit: 'ms' },
      { name: 'load generator alone (outbox inserts)', value: median(genRates), unit: 'users/s' },
      ...cpuMetrics,
      {
        name: 'relay rounds that failed and were retried, all end-to-end runs',
        value: failedRounds.reduce((sum, f) => sum + Object.values(f).reduce((a, b) => a + b, 0), 0),
        unit: 'rounds',
      },
      { name: `relay alone, 1 process (${SCALING_EVENTS} rows backlog)`, value: median(relayRates[1]), unit: 'events/s' },
      { name: `relay alone, 2 processes (${SCALING_EVENTS} rows backlog)`, value: median(relayRates[2]), unit: 'events/s' },
      { name: 'relay, 2 processes ÷ 1', value: median(relayRates[2].map((r, i) => r / relayRates[1][i]!)), unit: 'ratio' },
      { name: `consumers, 1 process (${SCALING_EVENTS} messages backlog)`, value: median(consumerRates[1]), unit: 'events/s' },
      { name: `consumers, 2 processes (${SCALING_EVENTS} messages backlog)`, value: median(consumerRates[2]), unit: 'events/s' },
      { name: 'consumers, 2 processes ÷ 1', value: median(consumerRates[2].map((r, i) => r / consumerRates[1][i]!)), unit: 'ratio' },
    ],
    notes: [
      `medians of ${REPETITIONS} repetitions; each on fresh databases and topics; relay (3 loops per database) and consumers (3 partitions at a time per group) as child processes`,
      `throughput: ${THROUGHPUT_USERS} users in transactions of 1000 (2 in flight), measured from the first user's commit to the last grant; runs: ${throughputs.map((x) => x.toFixed(0)).join(', ')}`,
      `latency: ${LATENCY_RATE} users/s for ${LATENCY_SECONDS} s; p99 runs: ${p99s.join(', ')} ms`,
      `end to end ÷ generator per run: ${ratios.map((r) => r.toFixed(2)).join(', ')}; generator runs: ${runs(genRates)} users/s`,
      `the same with one relay process and two consumer processes (throughput only): ${twoConsumerRatios.map((r) => r.toFixed(2)).join(', ')}`,
      `sustained rate, per step (asked / written / end to end, users/s; p99 ms): ${sustained
        .map((st) => `${st.rate} / ${st.written.toFixed(0)} / ${st.endToEnd.toFixed(0)}; ${st.p99}`)
        .join(' · ')}; one run, one stage for all steps (relay and consumers as above)`,
      `relay scaling: a backlog of ${SCALING_EVENTS} users committed in one transaction, drained by 1 or 2 relay processes (${RELAY_CONCURRENCY} loops per database each), no consumer running; from the commit to the last published_at; runs, 1 process: ${runs(relayRates[1])}; 2 processes: ${runs(relayRates[2])} events/s`,
      `consumer scaling: ${SCALING_EVENTS} user.created messages published while 1 or 2 consumer processes (both groups, ${CONSUMER_CONCURRENCY} partitions at a time each) were stopped (SIGSTOP), from SIGCONT to the last point-service transaction; one relay process keeps publishing the grants' point.granted events meanwhile; runs, 1 process: ${runs(consumerRates[1])}; 2 processes: ${runs(consumerRates[2])} events/s`,
      `${SCALING_REPETITIONS} interleaved repetitions of the scaling runs; 2 cores shared by Postgres, the broker and every process: a second process adds parallelism only where a stage waits on I/O`,
      'grant time = point_ledger.created_at (the consumer transaction start)',
      `failed relay rounds per run (users / points): ${failedRounds.map((f) => `${f.users ?? 0} / ${f.points ?? 0}`).join('; ')}; a failed round is rolled back and sent again, so only this count shows one (a round over the broker's record-batch limit did, until sends were split per partition)`,
      ...(cpu.length
        ? [
            `CPU per run of ${THROUGHPUT_USERS} users (s; Postgres, relay, consumers, generator, broker, machine idle): ${cpu
              .map((c) => [c.postgres, c.relay, c.consumers, c.generator, c.broker, c.idle].map((x) => x.toFixed(1)).join(' / '))
              .join('; ')}; Postgres is every postgres process (backends of all stages, WAL writer, checkpointer, autovacuum)`,
          ]
        : []),
    ],
  };
}
