/**
 * `npm run bench -- topic-evidence`: what topic evidence costs a clean window.
 *
 * - (a) the outbox check's topic evidence over a clean window of N events
 *   (`RECON_BENCH_TOPIC_EVENTS`, default 100,000) under `RECON_RELAY=debezium`
 *   (so every row must be found on the topic), divided by reading those N
 *   messages once with a plain kafkajs consumer (the floor);
 * - (b) the same window on a topic that also holds 10× N older messages,
 *   divided by (a)'s check: flat in the topic's history when it is close to 1.
 *
 * The check runs as it does in a run: `outboxVsConsumed.compare` with one
 * topic-evidence reader, here with no consumer groups declared, so what is
 * timed is the topic pass (two ListOffsets by timestamp per topic, the
 * window's Fetches, the outbox rows of the window, the matching). Each
 * scenario has its own databases and namespace (dropped afterwards); message
 * timestamps are set by the producer (CreateTime), as a relay's are.
 */
import { createHash, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { formatSubscriptions, type Config, type Window } from '../core/index.js';
import { closeDatabases, connectDatabases, dropDatabase, migrateAll, type Databases } from '../db/index.js';
import { outboxVsConsumed } from '../reconcile/index.js';
import { createConsumer, createKafka, createProducer, createTopicEvidence, waitForTopicLeaders, type KafkaClient } from '../streaming/index.js';
import type { BenchContext, BenchResult } from './index.js';
import { isolatedConfig, median } from './index.js';

const HISTORY = 10;
const REPEAT = 5;
const SEND_CHUNK = 5000;

function eventId(i: number): string {
  const h = createHash('md5').update(`e${i}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

interface Scenario {
  name: 'clean' | 'history';
  config: Config;
  dbs: Databases;
  topic: string;
}

function benchConfig(base: Config, name: string): Config {
  return {
    ...isolatedConfig(base, name),
    graceSeconds: 60,
    relay: 'debezium',
    // No consumer group: the topic pass alone is timed.
    subscriptions: [],
    logLevel: 'warn',
  };
}

async function produce(kafka: KafkaClient, topic: string, from: number, to: number, start: number, spanMs: number, log: (l: string) => void): Promise<void> {
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    const n = to - from;
    for (let i = from; i < to; i += SEND_CHUNK) {
      const messages = [];
      for (let j = i; j < Math.min(to, i + SEND_CHUNK); j++) {
        const id = eventId(j);
        const at = start + Math.floor(((j - from) * spanMs) / n);
        const userId = eventId(-j - 1);
        messages.push({
          key: userId,
          timestamp: String(at),
          headers: { id },
          value: JSON.stringify({
            eventId: id,
            type: 'user.created',
            schemaVersion: 1,
            occurredAt: new Date(at).toISOString(),
            userId,
            email: `u${j}@bench.test`,
          }),
        });
      }
      await producer.send({ topic, messages });
      if ((i - from) % (SEND_CHUNK * 40) === 0) log(`  ${topic}: ${i - from}/${n} sent`);
    }
  } finally {
    await producer.disconnect();
  }
}

/** The window's outbox rows, as the messages carry them (event ids and times match). */
async function loadOutbox(dbs: Databases, topic: string, n: number, w: Window): Promise<void> {
  const span = w.end.getTime() - w.start.getTime();
  await dbs.users.raw(
    `insert into outbox (event_id, topic, message_key, payload, headers, occurred_at)
     select md5('e' || i)::uuid, ?, md5('x' || i), '{}'::jsonb, '{}'::jsonb, to_timestamp((? + floor(i::float8 * ? / ?)) / 1000.0)
     from generate_series(0, ?) i`,
    [topic, w.start.getTime(), span, n, n - 1],
  );
  await dbs.users.raw('vacuum (analyze) outbox');
}

/** Read the window's N messages once with a plain consumer of a fresh group (connect, join, fetch). */
async function floor(kafka: KafkaClient, topic: string, n: number): Promise<number> {
  const consumer = createConsumer(kafka, `bench-floor-${randomUUID()}`, { maxBytesPerPartition: 4 * 1024 * 1024, maxWaitTimeInMs: 100 });
  const t0 = performance.now();
  await consumer.connect();
  let seen = 0;
  let done: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      seen += batch.messages.length;
      if (seen >= n) done();
    },
  });
  await finished;
  const ms = performance.now() - t0;
  await consumer.disconnect();
  return ms;
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const n = Number(process.env.RECON_BENCH_TOPIC_EVENTS ?? 100_000);
  if (!Number.isInteger(n) || n < 100)
    throw new Error(`RECON_BENCH_TOPIC_EVENTS must be a whole number of at least 100, got ${process.env.RECON_BENCH_TOPIC_EVENTS}`);
  const notes: string[] = [];
  const kafka = createKafka(ctx.config, { clientId: 'recon-bench' });
  const admin = kafka.admin();
  await admin.connect();
  const scenarios: Scenario[] = [];
  try {
    for (const name of ['clean', 'history'] as const) {
      const config = benchConfig(ctx.config, name);
      await migrateAll(config);
      const topic = `${config.namespace}.user.created`;
      // Kept whatever the broker's retention: the history's timestamps are days old.
      await admin.createTopics({
        waitForLeaders: false,
        topics: [{ topic, numPartitions: 6, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] }],
      });
      await waitForTopicLeaders(admin, [topic]);
      scenarios.push({ name, config, dbs: connectDatabases(config, { max: 4, applicationName: 'recon-bench' }), topic });
    }
    const hour = 3600_000;
    const now = Date.now();
    const w: Window = { start: new Date(now - (now % hour) - 3 * hour), end: new Date(now - (now % hour) - 2 * hour) };
    const [clean, history] = scenarios as [Scenario, Scenario];
    const t0 = performance.now();
    // History first (older timestamps, lower offsets), then the window: as a topic that has run for days.
    const days = 2 * 24 * hour;
    await produce(kafka, history.topic, n, n + HISTORY * n, w.start.getTime() - days, days - hour, ctx.log);
    for (const s of scenarios) await produce(kafka, s.topic, 0, n, w.start.getTime(), hour, ctx.log);
    notes.push(
      `produced ${n} window messages per topic and ${HISTORY * n} older ones (2 days before the window) in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
    for (const s of scenarios) await loadOutbox(s.dbs, s.topic, n, w);

    const reader = await createTopicEvidence(kafka);
    const times = { clean: [] as number[], history: [] as number[], floor: [] as number[] };
    try {
      const check = async (s: Scenario) => {
        const started = performance.now();
        const cmp = await outboxVsConsumed.compare({ dbs: s.dbs, config: s.config, topics: reader }, w);
        const ms = performance.now() - started;
        if (cmp.found.length) throw new Error(`${s.name}: the clean window has ${cmp.found.length} discrepancies (${cmp.found[0]?.kind})`);
        return ms;
      };
      const before = reader.messagesRead;
      await check(clean);
      const perCheck = reader.messagesRead - before;
      await check(history);
      notes.push(`one check of the window read ${perCheck} messages (the window's ${n} plus what the skew and grace margins add)`);
      for (let i = 0; i < REPEAT; i++) {
        times.floor.push(await floor(kafka, clean.topic, n));
        times.clean.push(await check(clean));
        times.history.push(await check(history));
        ctx.log(
          `  round ${i + 1}: floor ${times.floor.at(-1)!.toFixed(0)} ms, clean ${times.clean.at(-1)!.toFixed(0)} ms, history ${times.history.at(-1)!.toFixed(0)} ms`,
        );
      }
    } finally {
      await reader.close();
    }
    const [f, c, h] = [median(times.floor), median(times.clean), median(times.history)];
    notes.push(
      `medians of ${REPEAT} interleaved rounds after a warm-up: floor (plain consumer, fresh group: connect, join, read ${n}) ${f.toFixed(0)} ms; check, clean topic ${c.toFixed(0)} ms; check, ${HISTORY}× history ${h.toFixed(0)} ms`,
      `the check reads the window's outbox rows too (${n} rows by the occurred_at index); subscriptions: ${formatSubscriptions([]) || 'none'}, relay debezium`,
    );
    return {
      name: 'topic-evidence',
      metrics: [
        { name: `clean window of ${n} events: check ÷ plain consumer`, value: c / f, unit: 'ratio' },
        { name: `same window, ${HISTORY}× older messages on the topic ÷ clean`, value: h / c, unit: 'ratio', aim: '<= 1.2', met: h / c <= 1.2 },
        { name: 'check, clean window', value: c, unit: 'ms' },
        { name: 'plain consumer read', value: f, unit: 'ms' },
      ],
      notes,
    };
  } finally {
    for (const s of scenarios) {
      await closeDatabases(s.dbs);
      await Promise.all(Object.values(s.config.databases).map((url) => dropDatabase(url)));
    }
    await admin.deleteTopics({ topics: scenarios.map((s) => s.topic) }).catch(() => undefined);
    await admin.disconnect();
  }
}
