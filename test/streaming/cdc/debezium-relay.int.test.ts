/**
 * The Debezium relay end to end, on a real Kafka Connect worker (started by
 * the project's own code, on its own port, home, group and topics) with
 * Debezium's Postgres connector and Outbox Event Router, the real broker and
 * recon's own consumers. No polling relay runs in this file
 * (RECON_RELAY=debezium). One worker and one registration serve the steps,
 * in order:
 *
 * 1. `recon connect register` twice (created, then updated), `status`;
 * 2. 10,000 users relayed: every user granted exactly once, messages shaped
 *    as the polling relay's (key, `id` header, value, partition), nulls and
 *    types kept, `published_at` left null, a run finds nothing;
 * 3. the worker killed with SIGKILL mid-stream and restarted: nothing lost,
 *    the re-sent messages counted and deduplicated;
 * 4. the connector paused through Connect's REST API while 200 users are
 *    created: a run finds exactly those 200 unpublished, compensations
 *    republish them, the resumed connector sends them again, consumers
 *    deduplicate, a second run finds nothing;
 * 5. with the outbox quiet and other tables written, the heartbeat query
 *    moves the slots past that WAL (a heartbeat alone does not: tried);
 * 6. `recon connect remove` drops the slots and publications.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compensationEnqueuer, createCompensationQueue, executeRun, startCompensationWorker, type CompensationQueue } from '../../../batch/index.js';
import { CONSUMER_GROUPS, namespaced, silentLogger, type CheckName } from '../../../core/index.js';
import { countConsumedEvents, insertOutboxEvents, type Knex } from '../../../db/index.js';
import { connectDown, connectStatus, connectUp, localConnectPaths, runningConnectPid, type LocalConnectPaths } from '../../../services/index.js';
import {
  connectClient,
  createProducer,
  ensureTopics,
  generateUsers,
  headerString,
  keyPartition,
  outboxConnectorNames,
  outboxConnectorStatus,
  startConsumers,
  type ConsumersProcess,
  type KafkaClient,
  type Producer,
} from '../../../streaming/index.js';
import { runCli } from '../../helpers/cli.js';
import { createTestEnv, unusedPort, waitFor, type TestEnv } from '../../helpers/env.js';

const GRACE = 2;
const N = 10_000;
const MORE = 5_000;
const PAUSED = 200;

interface OnTopic {
  partition: number;
  key: string | null;
  value: string | null;
  id: string | undefined;
}

/** Every message of `topic`, read once from the beginning up to the current end offsets. */
async function readTopic(kafka: KafkaClient, admin: TestEnv['admin'], topic: string): Promise<OnTopic[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const expected = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  const out: OnTopic[] = [];
  if (expected === 0) return out;
  const consumer = kafka.consumer({ groupId: `${topic}.reader-${randomUUID().slice(0, 8)}`, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        out.push({ partition, key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, id: headerString(message.headers, 'id') });
      },
    });
    await waitFor(`all ${expected} messages of ${topic}`, () => out.length >= expected, { timeoutMs: 60_000, intervalMs: 100 });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

async function count(db: Knex, sql: string, bindings: readonly unknown[] = []): Promise<number> {
  const { rows } = await db.raw<{ rows: { n: string }[] }>(sql, bindings as Knex.RawBinding[]);
  return Number(rows[0]!.n);
}

/** Past the grace, by the database's clock: a run then looks at everything written so far. */
async function graceElapsed(db: Knex): Promise<void> {
  const now = async () => (await db.raw<{ rows: { now: Date }[] }>('select clock_timestamp() as now')).rows[0]!.now.getTime();
  const from = await now();
  await waitFor('the grace period to pass', async () => (await now()) > from + GRACE * 1000 + 1500, { intervalMs: 200 });
}

describe('the Debezium relay on Kafka Connect', () => {
  let env: TestEnv;
  let home: string;
  let paths: LocalConnectPaths;
  let consumers: ConsumersProcess | undefined;
  let producer: Producer | undefined;
  let queue: CompensationQueue | undefined;
  let compensations: Awaited<ReturnType<typeof startCompensationWorker>> | undefined;
  const worker = { offsetFlushMs: 10_000, rebalanceDelayMs: 1000 };
  let pointGroup: string;
  let balanceGroup: string;

  /** Users, grants, consumed rows and balances agree: every user nets exactly B, once. */
  async function invariantsHold(users: number): Promise<void> {
    const B = env.config.signupBonusPoints;
    expect(await count(env.dbs.users, 'select count(*) as n from users')).toBe(users);
    expect(await count(env.dbs.points, `select count(*) as n from point_ledger where reason = 'signup_bonus'`)).toBe(users);
    expect(await count(env.dbs.points, `select count(*) as n from (select user_id from point_ledger group by user_id having sum(amount) <> ?) x`, [B])).toBe(0);
    expect(await count(env.dbs.points, 'select count(distinct user_id) as n from point_ledger')).toBe(users);
    expect(await countConsumedEvents(env.dbs.points, pointGroup)).toBe(users);
    expect(await count(env.dbs.users, 'select count(*) as n from user_balances where balance = ?', [B])).toBe(users);
  }

  async function run(checks: CheckName[]) {
    return executeRun(
      { config: env.config, dbs: env.app, log: silentLogger, enqueue: compensationEnqueuer({ db: env.app.recon, queue: queue!, config: env.config }) },
      { checks, trigger: 'test' },
    );
  }

  beforeAll(async () => {
    const port = await unusedPort();
    env = await createTestEnv({
      env: { RECON_RELAY: 'debezium', KAFKA_CONNECT_URL: `http://127.0.0.1:${port}`, RECON_GRACE_SECONDS: String(GRACE), RECON_WINDOW_SECONDS: '3600' },
    });
    pointGroup = namespaced(env.config, CONSUMER_GROUPS.pointService);
    balanceGroup = namespaced(env.config, CONSUMER_GROUPS.userServiceBalances);
    home = mkdtempSync(join(tmpdir(), 'recon-connect-'));
    paths = localConnectPaths(home);
    // Fetches the jars into .cache/connect on first use; the worker answers REST after about 12 s.
    const up = await connectUp(env.config, { paths, worker, timeoutMs: 240_000 });
    expect(up.action).toBe('started');
    consumers = await startConsumers(env.config, { concurrency: 3 });
    producer = createProducer(env.kafka);
    await producer.connect();
    queue = createCompensationQueue(env.config);
    compensations = await startCompensationWorker(
      { config: env.config, dbs: env.app, producer, log: silentLogger },
      { concurrency: 2, sweepIntervalSeconds: 0 },
    );
  }, 300_000);

  afterAll(async () => {
    await compensations?.close();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    await consumers?.stop();
    await producer?.disconnect();
    if (env) {
      // A database that still has a replication slot cannot be dropped.
      await runCli(env.config, ['connect', 'remove']).catch(() => undefined);
      await connectDown({ paths });
      await env.cleanup();
    }
    if (home) rmSync(home, { recursive: true, force: true });
  }, 180_000);

  it('registers both connectors idempotently and shows them running with their slots', async () => {
    // What `recon services status` shows about the worker.
    expect(await connectStatus(env.config, paths)).toEqual({
      url: env.config.connect.url,
      reachable: true,
      version: '3.9.1',
      managedPid: runningConnectPid(paths),
      logFile: join(home, 'worker.log'),
      jarsCached: true,
    });
    expect(runningConnectPid(paths)).toBeGreaterThan(0);
    const first = await runCli(env.config, ['connect', 'register', '--json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const created = JSON.parse(first.stdout) as { connector: string; action: string; publication: string }[];
    expect(created).toEqual([
      expect.objectContaining({ connector: `${env.config.namespace}.users-outbox`, action: 'created', publication: 'created' }),
      expect.objectContaining({ connector: `${env.config.namespace}.points-outbox`, action: 'created', publication: 'created' }),
    ]);
    const second = await runCli(env.config, ['connect', 'register', '--json']);
    expect(second.code).toBe(0);
    expect((JSON.parse(second.stdout) as { action: string; publication: string }[]).map((r) => [r.action, r.publication])).toEqual([
      ['updated', 'exists'],
      ['updated', 'exists'],
    ]);

    // Running once Debezium has created its slot and streams from it.
    await waitFor(
      'both connectors running on active slots',
      async () => {
        const s = await outboxConnectorStatus(env.config);
        return s.every((r) => r.state === 'RUNNING' && r.tasks.length === 1 && r.tasks[0]!.state === 'RUNNING' && r.slotActive === true);
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const status = await runCli(env.config, ['connect', 'status']);
    expect(status.code).toBe(0);
    const users = outboxConnectorNames(env.config, 'users');
    expect(status.stdout).toMatch(new RegExp(`${users.connector.replaceAll('.', '\\.')}\\s+RUNNING\\s+0:RUNNING\\s+${users.slot}\\s+yes\\s+\\d+`));
    for (const db of ['users', 'points'] as const) {
      const names = outboxConnectorNames(env.config, db);
      const { rows } = await env.dbs[db].raw<{ rows: { schemaname: string; tablename: string }[] }>(
        'select schemaname, tablename from pg_publication_tables where pubname = ?',
        [names.publication],
      );
      expect(rows.map((r) => `${r.schemaname}.${r.tablename}`).sort()).toEqual(['public.outbox', 'public.recon_cdc_heartbeat']);
      const { rows: pub } = await env.dbs[db].raw<{ rows: { pubinsert: boolean; pubupdate: boolean; pubdelete: boolean }[] }>(
        'select pubinsert, pubupdate, pubdelete from pg_publication where pubname = ?',
        [names.publication],
      );
      expect(pub).toEqual([{ pubinsert: true, pubupdate: false, pubdelete: false }]);
      expect(await count(env.dbs[db], `select count(*) as n from pg_replication_slots where slot_name = ? and plugin = 'pgoutput'`, [names.slot])).toBe(1);
    }
  });

  it(`relays ${N} users with no polling relay: each granted exactly once, messages as the polling relay sends them, published_at left null, a run finds nothing`, async () => {
    // A row of another shape on a topic of its own: no key, nulls, numbers, booleans, nesting.
    const shapesTopic = namespaced(env.config, 'cdc.shapes');
    await ensureTopics(env.admin, [shapesTopic]);
    const shape = {
      eventId: randomUUID(),
      none: null,
      n: 1.5,
      big: 12345678901234,
      s: 'é "q"',
      yes: false,
      list: [null, 1, 'a', {}],
      nested: { k: null, deep: { x: [] } },
    };
    await insertOutboxEvents(env.dbs.users, [{ event_id: shape.eventId, topic: shapesTopic, message_key: null as unknown as string, payload: shape }]);

    const load = await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, { count: N });
    expect(load.committed).toBe(N);
    await waitFor('every balance', async () => (await countConsumedEvents(env.dbs.users, balanceGroup)) >= N, { timeoutMs: 240_000, intervalMs: 500 });
    await invariantsHold(N);
    // Debezium never writes the outbox row back.
    expect(await count(env.dbs.users, 'select count(*) as n from outbox where published_at is not null or kafka_offset is not null')).toBe(0);
    expect(await count(env.dbs.points, 'select count(*) as n from outbox where published_at is not null')).toBe(0);
    expect(await count(env.dbs.points, 'select count(*) as n from outbox')).toBe(N);

    // What the consumers got is what the polling relay would have sent: key, `id` header, value, partition.
    const outbox = new Map(
      (await env.dbs.users('outbox').where({ topic: env.topics.userCreated }).select('event_id', 'message_key', 'payload')).map(
        (r: { event_id: string; message_key: string; payload: object }) => [r.event_id, r],
      ),
    );
    const messages = await readTopic(env.kafka, env.admin, env.topics.userCreated);
    expect(new Set(messages.map((m) => m.id)).size).toBe(N);
    for (const m of messages) {
      const row = outbox.get(m.id!);
      expect(row, `message ${m.id} has an outbox row`).toBeDefined();
      expect(m.key).toBe(row!.message_key);
      expect(JSON.parse(m.value!)).toEqual(row!.payload);
      expect(m.partition).toBe(keyPartition(m.key!));
    }
    const [odd] = await readTopic(env.kafka, env.admin, shapesTopic);
    expect(odd?.key).toBeNull();
    expect(odd?.id).toBe(shape.eventId);
    expect(JSON.parse(odd!.value!)).toStrictEqual(shape);
    // Heartbeats go to their own topic, untouched by the router.
    expect((await env.admin.listTopics()).filter((t) => t.startsWith(`${env.config.namespace}.recon-heartbeat.`)).sort()).toEqual(
      [outboxConnectorNames(env.config, 'points').heartbeatTopic, outboxConnectorNames(env.config, 'users').heartbeatTopic].sort(),
    );
    await env.dbs.users('outbox').where({ event_id: shape.eventId }).delete();

    await graceElapsed(env.dbs.users);
    const summary = await run(['users-vs-points', 'outbox-vs-consumed']);
    expect(summary.status).toBe('completed');
    expect(summary.counts['users-vs-points'] ?? {}).toEqual({});
    expect(summary.counts['outbox-vs-consumed'] ?? {}).toEqual({});
    expect(summary.queued).toEqual([]);
  });

  it('loses nothing when the worker is killed with SIGKILL mid-stream and restarted; re-sent messages are deduplicated', async () => {
    const before = await countConsumedEvents(env.dbs.points, pointGroup);
    const duplicatesBefore = consumers!.stats()[pointGroup]?.duplicates ?? 0;
    const load = generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, { count: MORE, rate: 1000, batchSize: 50 });
    await waitFor('the relay under way', async () => (await countConsumedEvents(env.dbs.points, pointGroup)) >= before + 1000, {
      timeoutMs: 120_000,
      intervalMs: 20,
    });
    const pid = runningConnectPid(paths)!;
    const killed = await connectDown({ paths, signal: 'SIGKILL' });
    expect(killed).toEqual({ action: 'stopped', pid, forced: true });
    expect(await connectClient(env.config.connect.url).reachable()).toBe(false);
    const atKill = await countConsumedEvents(env.dbs.points, pointGroup);
    expect(atKill).toBeLessThan(N + MORE);

    const again = await connectUp(env.config, { paths, worker, timeoutMs: 240_000 });
    expect(again.action).toBe('started');
    expect((await load).committed).toBe(MORE);
    await waitFor('every balance', async () => (await countConsumedEvents(env.dbs.users, balanceGroup)) >= N + MORE, { timeoutMs: 240_000, intervalMs: 500 });
    await invariantsHold(N + MORE);

    const messages = await readTopic(env.kafka, env.admin, env.topics.userCreated);
    const distinct = new Set(messages.map((m) => m.id));
    expect(distinct.size).toBe(N + MORE);
    const resent = messages.length - distinct.size;
    // What Debezium sent again (everything after the last offset commit before the kill) the consumer counted as duplicates.
    expect(resent).toBeGreaterThanOrEqual(0);
    expect((consumers!.stats()[pointGroup]?.duplicates ?? 0) - duplicatesBefore).toBeGreaterThanOrEqual(resent);
    process.stderr.write(`debezium SIGKILL: ${messages.length} messages on ${env.topics.userCreated} for ${distinct.size} events (${resent} sent again)\n`);
  });

  it(`publishes the ${PAUSED} users created while the connector was paused after resume; a run in between finds them, compensations republish them, consumers deduplicate`, async () => {
    const client = connectClient(env.config.connect.url);
    const { connector, slot } = outboxConnectorNames(env.config, 'users');
    await client.pause(connector);
    await waitFor('the connector and its task paused', async () => {
      const s = await client.status(connector);
      return s?.connector.state === 'PAUSED' && s.tasks.every((t) => t.state === 'PAUSED');
    });
    const onTopic = async () => (await env.admin.fetchTopicOffsets(env.topics.userCreated)).reduce((n, o) => n + Number(o.high), 0);
    const before = await onTopic();
    const consumed = await countConsumedEvents(env.dbs.points, pointGroup);

    expect((await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, { count: PAUSED })).committed).toBe(PAUSED);
    await graceElapsed(env.dbs.users);
    // Paused: the slot holds the rows' WAL and nothing reached the topic.
    const [held] = await outboxConnectorStatus(env.config, { databases: ['users'] });
    expect(held?.slot).toBe(slot);
    expect(held?.lagBytes).toBeGreaterThan(0);
    expect(await onTopic()).toBe(before);
    expect(await countConsumedEvents(env.dbs.points, pointGroup)).toBe(consumed);

    const found = await run(['outbox-vs-consumed']);
    expect(found.counts['outbox-vs-consumed']).toEqual({ unpublished_event: PAUSED });
    expect(found.queued).toHaveLength(PAUSED);
    await waitFor(
      'the republished events consumed and their discrepancies resolved',
      async () => (await count(env.dbs.recon, `select count(*) as n from discrepancies where kind = 'unpublished_event' and status = 'resolved'`)) === PAUSED,
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect(await onTopic()).toBe(before + PAUSED);

    const duplicatesBefore = consumers!.stats()[pointGroup]?.duplicates ?? 0;
    await client.resume(connector);
    await waitFor('Debezium to send the paused rows too', async () => (await onTopic()) >= before + 2 * PAUSED, { timeoutMs: 120_000, intervalMs: 250 });
    await waitFor('the consumer to see them again', () => (consumers!.stats()[pointGroup]?.duplicates ?? 0) - duplicatesBefore >= PAUSED, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    await waitFor('every balance', async () => (await countConsumedEvents(env.dbs.users, balanceGroup)) >= N + MORE + PAUSED, {
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    await invariantsHold(N + MORE + PAUSED);

    await graceElapsed(env.dbs.users);
    const second = await run(['users-vs-points', 'outbox-vs-consumed']);
    expect(second.counts['users-vs-points'] ?? {}).toEqual({});
    expect(second.counts['outbox-vs-consumed'] ?? {}).toEqual({});
  });

  it('advances the slots while the outbox is quiet and the database writes other tables (heartbeat query)', async () => {
    for (const db of ['users', 'points'] as const) {
      // WAL the connectors never see: rows of a table outside the publication.
      await env.dbs[db].raw('create table cdc_noise (id bigint, filler text)');
      await env.dbs[db].raw(`insert into cdc_noise select g, repeat('x', 200) from generate_series(1, 20000) g`);
    }
    const target = async (db: 'users' | 'points') =>
      (await env.dbs[db].raw<{ rows: { lsn: string }[] }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!.lsn;
    const marks = { users: await target('users'), points: await target('points') };
    await waitFor(
      "both slots confirmed past the other tables' WAL",
      async () => {
        for (const db of ['users', 'points'] as const) {
          const { slot } = outboxConnectorNames(env.config, db);
          const past = await count(env.dbs[db], `select count(*) as n from pg_replication_slots where slot_name = ? and confirmed_flush_lsn >= ?::pg_lsn`, [
            slot,
            marks[db],
          ]);
          if (past !== 1) return false;
        }
        return true;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
  });

  it('removes the connectors, their slots and publications', async () => {
    const removed = await runCli(env.config, ['connect', 'remove', '--json']);
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual(
      ['users', 'points'].map((db) => ({ connector: `${env.config.namespace}.${db}-outbox`, deleted: true, slot: 'dropped', publication: 'dropped' })),
    );
    for (const db of ['users', 'points'] as const) {
      const names = outboxConnectorNames(env.config, db);
      expect(await count(env.dbs[db], 'select count(*) as n from pg_replication_slots where slot_name = ?', [names.slot])).toBe(0);
      expect(await count(env.dbs[db], 'select count(*) as n from pg_publication where pubname = ?', [names.publication])).toBe(0);
      expect(await count(env.dbs[db], `select count(*) as n from pg_tables where tablename = 'recon_cdc_heartbeat'`)).toBe(0);
    }
    const status = await runCli(env.config, ['connect', 'status', '--json']);
    expect(status.code).toBe(1);
    expect((JSON.parse(status.stdout) as { state: string; slotActive?: boolean }[]).map((r) => [r.state, r.slotActive ?? null])).toEqual([
      ['MISSING', null],
      ['MISSING', null],
    ]);
  });
});
