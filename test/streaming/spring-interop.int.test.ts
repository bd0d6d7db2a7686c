/**
 * A real Spring for Apache Kafka neighbour (test/fixtures/spring-welcome-mail:
 * a KafkaMessageListenerContainer with
 * `DefaultErrorHandler(new DeadLetterPublishingRecoverer(template), new FixedBackOff(0L, 2L))`)
 * beside recon's consumers, on the shared broker:
 *
 * 1. Spring reads the dead letters recon writes with RECON_DLT_HEADERS=spring
 *    through its own header constants and encodings.
 * 2. Declared with `offsets` evidence, the Spring group's dead letters (its
 *    own headers, read from the DLT) are reported as `dead_lettered_event`,
 *    exactly those, and none of its events as unconsumed.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun } from '../../batch/index.js';
import { CONSUMER_GROUPS, namespaced, silentLogger, userCreatedEvent } from '../../core/index.js';
import { insertOutboxEvents, insertUsers } from '../../db/index.js';
import { createProducer, startConsumers, startRelay, type ConsumersProcess, type Producer, type RelayProcess } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';
import { buildSpringFixture, startSpring, type SpringProcess } from '../helpers/spring-fixture.js';

const GRACE = 2;
let classPath: string;
beforeAll(() => {
  classPath = buildSpringFixture();
}, 600_000);

describe('Spring reads recon’s dead letters written in its dialect', () => {
  let env: TestEnv;
  let consumers: ConsumersProcess | undefined;
  let spring: SpringProcess | undefined;
  let producer: Producer;
  beforeAll(async () => {
    env = await createTestEnv({ env: { RECON_DLT_HEADERS: 'spring' } });
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await spring?.stop();
    await consumers?.stop();
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('decodes topic, partition, offset, timestamp, group and exception the way Spring does', { timeout: 300_000 }, async () => {
    consumers = await startConsumers(env.config, { groups: [CONSUMER_GROUPS.pointService], concurrency: 1 });
    const sent = await producer.send({
      topic: env.topics.userCreated,
      messages: [0, 3].map((partition) => ({ key: randomUUID(), partition, value: `poison ${partition}`, headers: { id: randomUUID() } })),
    });
    expect(sent).toHaveLength(2);
    spring = startSpring(classPath, ['read-dlt', env.config.kafkaBrokers.join(','), env.topics.userCreatedDlt, `${env.config.namespace}.dlt-reader`]);
    const letters = await spring.waitForLines(/^letter /, 2);
    const parsed = letters.map((l) => Object.fromEntries([...l.matchAll(/(\w+)=(\S*)/g)].map((m) => [m[1], m[2]])));
    expect(parsed.map((p) => `${p.partition}:${p.offset}`).sort()).toEqual(sent.map((s) => `${s.partition}:${s.baseOffset}`).sort());
    for (const p of parsed) {
      expect(p).toMatchObject({
        topic: env.topics.userCreated,
        type: 'CreateTime',
        group: namespaced(env.config, CONSUMER_GROUPS.pointService),
        fqcn: 'InvalidMessage',
      });
      expect(Number(p.timestamp)).toBeGreaterThan(Date.now() - 3600_000);
    }
  });
});

describe('a Spring consumer group declared with offsets evidence', () => {
  let env: TestEnv;
  let relay: RelayProcess | undefined;
  let consumers: ConsumersProcess | undefined;
  let spring: SpringProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'recon-spring-'));
  const blocklist = join(dir, 'blocklist.txt');
  beforeAll(async () => {
    env = await createTestEnv({
      env: {
        RECON_GRACE_SECONDS: String(GRACE),
        RECON_GRACE_FROM: 'start',
        RECON_SUBSCRIPTIONS: 'user.created:point-service:inbox,point.granted:user-service-balances:inbox,user.created:welcome-mail:offsets',
      },
    });
  });
  afterAll(async () => {
    await spring?.stop();
    await consumers?.stop();
    await relay?.stop();
    await env?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports exactly the events Spring dead-lettered as dead_lettered_event, and none as unconsumed', { timeout: 300_000 }, async () => {
    const group = namespaced(env.config, 'welcome-mail');
    const now = new Date();
    const users = Array.from({ length: 10 }, (_, i) => ({
      id: randomUUID(),
      email: `welcome-${i}-${randomUUID().slice(0, 8)}@example.test`,
      eventId: randomUUID(),
    }));
    const blocked = users.slice(0, 3);
    writeFileSync(blocklist, blocked.map((u) => u.email).join('\n') + '\n');
    await env.dbs.users.transaction(async (trx) => {
      await insertUsers(
        trx,
        users.map((u) => ({ id: u.id, email: u.email, created_at: now })),
      );
      await insertOutboxEvents(
        trx,
        users.map((u) => ({
          event_id: u.eventId,
          topic: env.topics.userCreated,
          message_key: u.id,
          occurred_at: now,
          payload: userCreatedEvent({ eventId: u.eventId, userId: u.id, email: u.email, occurredAt: now }),
        })),
      );
    });
    relay = await startRelay(env.config, { log: silentLogger });
    consumers = await startConsumers(env.config, { log: silentLogger });
    spring = startSpring(classPath, ['consume', env.config.kafkaBrokers.join(','), env.topics.userCreated, group, blocklist]);
    const processed = await spring.waitForLines(/^processed /, users.length - blocked.length);
    expect(new Set(processed.map((l) => l.split(' ')[1]))).toEqual(new Set(users.slice(blocked.length).map((u) => u.eventId)));
    // Spring committed past every record, the dead-lettered ones included (recovered counts as handled).
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
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    await waitFor(
      'recon’s own group to grant everyone',
      async () => Number((await env.dbs.points('point_ledger').count({ n: '*' }).first())?.n) === users.length,
      {
        timeoutMs: 60_000,
      },
    );
    const t = Date.now();
    await waitFor('the grace to pass', () => Date.now() > t + GRACE * 1000 + 1500, { intervalMs: 200 });

    const run = await executeRun({ config: env.config, dbs: env.dbs, log: silentLogger }, { checks: ['outbox-vs-consumed'], trigger: 'test' });
    expect(run.status).toBe('completed');
    const found: { kind: string; entity_id: string; details: Record<string, unknown> }[] = await env.dbs
      .recon('discrepancies')
      .select('kind', 'entity_id', 'details');
    const forSpring = found.filter((d) => d.entity_id.includes(`:${group}:`) || d.details.group === group);
    expect(forSpring.filter((d) => d.kind === 'unconsumed_event')).toEqual([]);
    const dead = forSpring.filter((d) => d.kind === 'dead_lettered_event');
    expect(new Set(dead.map((d) => d.entity_id.slice(d.entity_id.lastIndexOf(':') + 1)))).toEqual(new Set(blocked.map((u) => u.eventId)));
    expect(dead).toHaveLength(blocked.length);
    // recon's own group consumed everything: nothing is reported for it.
    expect(found.filter((d) => !forSpring.includes(d))).toEqual([]);
  });
});
