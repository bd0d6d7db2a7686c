/**
 * `recon dlq list` and `recon dlq replay --group` with a real Spring for
 * Apache Kafka neighbour (test/fixtures/spring-welcome-mail): Spring's
 * letters are listed beside recon's own, replayed once to the original
 * topic, processed by Spring once the cause is lifted, no longer reported by
 * a run; a letter that dies again after its replay is not replayed again
 * without --force.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun } from '../../batch/index.js';
import { namespaced, silentLogger, userCreatedEvent } from '../../core/index.js';
import { insertOutboxEvents, insertUsers } from '../../db/index.js';
import { createProducer, startConsumers, startRelay, type ConsumersProcess, type Producer, type RelayProcess } from '../../streaming/index.js';
import { runCli } from '../helpers/cli.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';
import { buildSpringFixture, startSpring, type SpringProcess } from '../helpers/spring-fixture.js';

const GRACE = 2;

describe('recon dlq with a Spring consumer group', () => {
  let classPath: string;
  let env: TestEnv;
  let relay: RelayProcess | undefined;
  let consumers: ConsumersProcess | undefined;
  let spring: SpringProcess | undefined;
  let producer: Producer;
  const dir = mkdtempSync(join(tmpdir(), 'recon-spring-dlq-'));
  const blocklist = join(dir, 'blocklist.txt');
  beforeAll(async () => {
    classPath = buildSpringFixture();
    env = await createTestEnv({
      env: {
        RECON_GRACE_SECONDS: String(GRACE),
        RECON_GRACE_FROM: 'start',
        RECON_SUBSCRIPTIONS: 'user.created:point-service:inbox,point.granted:user-service-balances:inbox,user.created:welcome-mail:offsets',
      },
    });
    producer = createProducer(env.kafka);
    await producer.connect();
  }, 600_000);
  afterAll(async () => {
    await spring?.stop();
    await consumers?.stop();
    await relay?.stop();
    await producer?.disconnect();
    await env?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Wait until the Spring group has committed to the end of user.created. */
  async function springAtEnd(group: string): Promise<void> {
    await waitFor(
      'the Spring group to commit to the end',
      async () => {
        const [ends, committed] = await Promise.all([
          env.admin.fetchTopicOffsets(env.topics.userCreated),
          env.admin.fetchOffsets({ groupId: group, topics: [env.topics.userCreated] }),
        ]);
        const at = new Map(committed[0]!.partitions.map((p) => [p.partition, Number(p.offset)]));
        return ends.every((e) => Number(e.high) === 0 || at.get(e.partition) === Number(e.high));
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
  }

  async function springFindings(runId: string, group: string) {
    const rows: { kind: string; entity_id: string; details: Record<string, unknown> }[] = await env.dbs
      .recon('discrepancies')
      .where('last_run_id', runId)
      .select('kind', 'entity_id', 'details');
    return rows.filter((d) => d.details.group === group || d.entity_id.includes(`:${group}:`));
  }

  const eventIdOf = (entityId: string) => entityId.slice(entityId.lastIndexOf(':') + 1);

  it('lists, replays once, stops reporting what Spring then processed, and refuses to replay a letter that died again', { timeout: 600_000 }, async () => {
    const group = namespaced(env.config, 'welcome-mail');
    const start = new Date();
    const users = Array.from({ length: 6 }, (_, i) => ({
      id: randomUUID(),
      email: `dlq-${i}-${randomUUID().slice(0, 8)}@example.test`,
      eventId: randomUUID(),
    }));
    const blocked = users.slice(0, 3);
    const stubborn = blocked[0]!;
    writeFileSync(blocklist, blocked.map((u) => u.email).join('\n') + '\n');
    await env.dbs.users.transaction(async (trx) => {
      await insertUsers(
        trx,
        users.map((u) => ({ id: u.id, email: u.email, created_at: start })),
      );
      await insertOutboxEvents(
        trx,
        users.map((u) => ({
          event_id: u.eventId,
          topic: env.topics.userCreated,
          message_key: u.id,
          occurred_at: start,
          payload: userCreatedEvent({ eventId: u.eventId, userId: u.id, email: u.email, occurredAt: start }),
        })),
      );
    });
    relay = await startRelay(env.config, { log: silentLogger });
    consumers = await startConsumers(env.config, { log: silentLogger });
    // One of recon's own letters, beside Spring's: a poison point.granted that user-service-balances dead-letters.
    await producer.send({ topic: env.topics.pointGranted, messages: [{ key: randomUUID(), value: 'not json', headers: { id: randomUUID() } }] });

    // Phase 1: Spring dead-letters the blocked three.
    spring = startSpring(classPath, ['consume', env.config.kafkaBrokers.join(','), env.topics.userCreated, group, blocklist]);
    await spring.waitForLines(/^processed /, users.length - blocked.length);
    await springAtEnd(group);
    await spring.stop();
    await waitFor('recon’s own letter', async () => Number((await env.dbs.users('dead_letters').count({ n: '*' }).first())?.n) === 1, { timeoutMs: 60_000 });
    await waitFor(
      'recon’s own group to grant everyone',
      async () => Number((await env.dbs.points('point_ledger').count({ n: '*' }).first())?.n) === users.length,
      {
        timeoutMs: 60_000,
      },
    );

    const listed = await runCli(env.config, ['dlq', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = listed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const ours = rows.filter((r) => r.source === 'database');
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatchObject({ topic: env.topics.pointGranted, consumer_group: namespaced(env.config, 'user-service-balances') });
    const theirs = rows.filter((r) => r.source === 'dlt');
    expect(new Set(theirs.map((r) => r.event_id))).toEqual(new Set(blocked.map((u) => u.eventId)));
    for (const r of theirs) {
      const user = blocked.find((u) => u.eventId === r.event_id)!;
      expect(r).toMatchObject({
        consumer_group: group,
        topic: env.topics.userCreated,
        dialect: 'spring',
        error_message: expect.stringContaining(`recipient ${user.email} is on the blocklist`),
        dlt_topic: env.topics.userCreatedDlt,
        replayed_at: null,
        prior_replays: 0,
      });
      // Spring wraps the listener's exception; the class is Spring's or the cause's, named in full.
      expect(String(r.error_class)).toMatch(/^[a-z]+(\.[A-Za-z0-9$]+)+$/);
    }
    const table = await runCli(env.config, ['dlq', 'list']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(group);
    expect(table.stdout).toContain(String(theirs[0]!.error_class).split('.').pop());
    expect(table.stdout).toContain('InvalidMessage: not JSON');

    const t = Date.now();
    await waitFor('the grace to pass', () => Date.now() > t + GRACE * 1000 + 1500, { intervalMs: 200 });
    const run1 = await executeRun({ config: env.config, dbs: env.dbs, log: silentLogger }, { checks: ['outbox-vs-consumed'], trigger: 'test' });
    expect(run1.status).toBe('completed');
    const found1 = await springFindings(run1.runId, group);
    expect(found1.filter((d) => d.kind !== 'dead_lettered_event')).toEqual([]);
    expect(found1.map((d) => eventIdOf(d.entity_id)).sort()).toEqual(blocked.map((u) => u.eventId).sort());

    // Phase 2: lift the cause for two of them, replay, Spring processes the two and dead-letters the stubborn one again.
    writeFileSync(blocklist, stubborn.email + '\n');
    const replay = await runCli(env.config, ['dlq', 'replay', '--group', 'welcome-mail']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(`replayed ${blocked.length} dead letters of ${group}`);
    spring = startSpring(classPath, ['consume', env.config.kafkaBrokers.join(','), env.topics.userCreated, group, blocklist]);
    const processed = await spring.waitForLines(/^processed /, 2);
    expect(new Set(processed.map((l) => l.split(' ')[1]))).toEqual(new Set(blocked.slice(1).map((u) => u.eventId)));
    await springAtEnd(group);
    await waitFor(
      'the stubborn letter to die again',
      async () => {
        const ends = await env.admin.fetchTopicOffsets(env.topics.userCreatedDlt);
        return ends.reduce((n, e) => n + Number(e.high) - Number(e.low), 0) === blocked.length + 1;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    await spring.stop();
    expect(spring.lines().filter((l) => l.startsWith('processed '))).toHaveLength(2);

    // The next run over the same windows: the two consumed replays are not reported; the stubborn one is, dead again.
    const run2 = await executeRun(
      { config: env.config, dbs: env.dbs, log: silentLogger },
      { checks: ['outbox-vs-consumed'], trigger: 'test', from: new Date(start.getTime() - 3600_000), to: new Date(Date.now() - GRACE * 1000 - 1000) },
    );
    expect(run2.status).toBe('completed');
    const found2 = await springFindings(run2.runId, group);
    expect(found2.map((d) => `${d.kind} ${eventIdOf(d.entity_id)}`)).toEqual([`dead_lettered_event ${stubborn.eventId}`]);
    expect(found2[0]!.details).toMatchObject({ replays: 1 });
    // And the next ordinary run (past the watermark, where the replayed records landed) finds nothing new.
    const run3 = await executeRun({ config: env.config, dbs: env.dbs, log: silentLogger }, { checks: ['outbox-vs-consumed'], trigger: 'test' });
    expect(run3.status).toBe('completed');
    expect(await env.dbs.recon('discrepancies').where('first_run_id', run3.runId).select('kind', 'entity_id')).toEqual([]);

    // A second replay resends nothing: the three are recorded as replayed, the new letter died again after a replay.
    const again = await runCli(env.config, ['dlq', 'replay', '--group', 'welcome-mail']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^replayed 0 dead letters of ${group}, ${blocked.length} already replayed, refused 1 that died again`));
    expect(Number((await env.dbs.recon('dlq_replays').count({ n: '*' }).first())?.n)).toBe(blocked.length);
    const endsBefore = await env.admin.fetchTopicOffsets(env.topics.userCreated);
    const listed2 = await runCli(env.config, ['dlq', 'list', '--json']);
    const theirs2 = listed2.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.source === 'dlt');
    expect(theirs2.filter((r) => r.replayed_at !== null)).toHaveLength(blocked.length);
    expect(theirs2.filter((r) => r.prior_replays === 1).map((r) => r.event_id)).toEqual([stubborn.eventId]);
    // The replayed record carried the replay header, and Spring copied it onto its new letter.
    const first = theirs.find((r) => r.event_id === stubborn.eventId)!;
    const diedAgain = theirs2.find((r) => r.prior_replays === 1)!;
    expect(diedAgain.replayed_from).toBe(`${env.topics.userCreatedDlt}:${String(first.dlt_partition)}:${String(first.dlt_offset)}`);
    expect(diedAgain).toMatchObject({ kafka_partition: first.kafka_partition, replayed_at: null });
    expect(Number(diedAgain.kafka_offset)).toBeGreaterThan(Number(first.kafka_offset));

    // --force replays it (once more, counted).
    const forced = await runCli(env.config, ['dlq', 'replay', '--group', 'welcome-mail', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(new RegExp(`^replayed 1 dead letters of ${group}, ${blocked.length} already replayed\\n$`));
    const endsAfter = await env.admin.fetchTopicOffsets(env.topics.userCreated);
    const total = (o: typeof endsAfter) => o.reduce((n, e) => n + Number(e.high), 0);
    expect(total(endsAfter) - total(endsBefore)).toBe(1);
    const row = await env.dbs.recon('dlq_replays').where('event_id', stubborn.eventId).orderBy('replay_count', 'desc').first();
    expect(row.replay_count).toBe(2);
  });

  it('rejects --force without --group and a recon group as --group (exit 2, naming the flag)', { timeout: 60_000 }, async () => {
    const a = await runCli(env.config, ['dlq', 'replay', '--force']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--force');
    const b = await runCli(env.config, ['dlq', 'replay', '--group', 'point-service']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--group');
  });
});
