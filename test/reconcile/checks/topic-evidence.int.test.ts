/**
 * Topic evidence of outbox-vs-consumed against the real broker: phantoms found
 * on the topic although nobody consumed them (a rolled-back `direct`
 * producer), records lost from the topic although their rows say published
 * (deleted with the broker's DeleteRecords) found unpublished and brought
 * back by the republish, and a Spring-style dead letter of a group with
 * `offsets` evidence reported as dead-lettered, not unconsumed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun } from '../../../batch/index.js';
import { silentLogger } from '../../../core/index.js';
import { getDiscrepancies } from '../../../db/index.js';
import { compensate, type MessageSender } from '../../../reconcile/index.js';
import {
  createProducer,
  createTopicEvidence,
  FaultInjector,
  generateUsers,
  int32BE,
  int64BE,
  startRelay,
  type Producer,
  type RelayProcess,
} from '../../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';

const GRACE = 2;

/** Wait until the database clock is past the grace after now, so every row written so far may be reconciled. */
async function pastGrace(env: TestEnv): Promise<void> {
  const now = async () => ((await env.dbs.users.raw<{ rows: { now: Date }[] }>('select clock_timestamp() as now')).rows[0]!.now as Date).getTime();
  const from = await now();
  await waitFor('the grace to pass', async () => (await now()) > from + GRACE * 1000 + 1500, { intervalMs: 200 });
}

async function kinds(env: TestEnv, kind: string): Promise<{ id: string; entity_id: string; details: Record<string, unknown> }[]> {
  return env.dbs.recon('discrepancies').where({ kind }).select('id', 'entity_id', 'details');
}

describe('phantoms found at the topic: direct mode with rollbacks, no consumer running', () => {
  let env: TestEnv;
  let producer: Producer;
  beforeAll(async () => {
    env = await createTestEnv({ roles: true, env: { RECON_GRACE_SECONDS: String(GRACE), RECON_GRACE_FROM: 'start' } });
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('reports exactly the rolled-back events as phantom_event, and nothing new on a second run', async () => {
    const faults = new FaultInjector({ rollback: 0.25, seed: 77 });
    const made = await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated, producer, faults }, { count: 80, mode: 'direct' });
    const rolledBack = faults.injected.rollback;
    expect(rolledBack).toBeGreaterThan(0);
    expect(made.committed).toBe(80 - rolledBack);
    await pastGrace(env);

    const run = await executeRun({ config: env.config, dbs: env.app, log: silentLogger }, { checks: ['outbox-vs-consumed'], trigger: 'test' });
    expect(run.status).toBe('completed');
    // No consumer ran: every committed event is unconsumed by point-service; the rolled-back ones are on the topic only.
    expect(run.counts['outbox-vs-consumed']).toEqual({ phantom_event: rolledBack, unconsumed_event: made.committed });
    const phantoms = await kinds(env, 'phantom_event');
    const userIds = phantoms.map((p) => p.details.userId as string);
    const eventIds = phantoms.map((p) => p.details.eventId as string);
    // Exactly the rolled-back ones: no user, no outbox row, and on the topic where the details say.
    expect(Number((await env.dbs.users('users').whereIn('id', userIds).count({ n: '*' }))[0]!.n)).toBe(0);
    expect(Number((await env.dbs.users('outbox').whereIn('event_id', eventIds).count({ n: '*' }))[0]!.n)).toBe(0);
    expect(phantoms.every((p) => p.details.foundAt === 'topic' && typeof p.details.offset === 'number')).toBe(true);
    // Every message on the topic is either a committed user's or one of these phantoms.
    const reader = await createTopicEvidence(env.kafka);
    try {
      const all = await reader.readByTime(env.topics.userCreated, new Date(0), new Date(Date.now() + 60_000));
      expect(all.messages).toHaveLength(80);
      const committed = new Set(await env.dbs.users('outbox').pluck('event_id'));
      expect(new Set(all.messages.map((m) => m.eventId).filter((id) => !committed.has(id!)))).toEqual(new Set(eventIds));
    } finally {
      await reader.close();
    }

    const wm: Date = (await env.dbs.recon('watermarks').where({ check_name: 'outbox-vs-consumed' }).first('watermark')).watermark;
    const again = await executeRun(
      { config: env.config, dbs: env.app, log: silentLogger },
      { checks: ['outbox-vs-consumed'], trigger: 'test', from: new Date(wm.getTime() - 3 * 3600_000), to: wm },
    );
    expect(again.counts).toEqual(run.counts);
    expect(again.queued).toEqual([]);
  });
});

describe('records lost from the topic under the polling relay', () => {
  let env: TestEnv;
  let relay: RelayProcess | undefined;
  let producer: Producer;
  beforeAll(async () => {
    env = await createTestEnv({ roles: true, env: { RECON_GRACE_SECONDS: String(GRACE), RECON_GRACE_FROM: 'start' } });
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await relay?.stop();
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('are unpublished_event though their rows say published, and the republish brings them back', async () => {
    await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, { count: 60, mode: 'outbox' });
    relay = await startRelay(env.adminConfig);
    await waitFor('the relay to publish', async () => Number((await env.dbs.users('outbox').whereNull('published_at').count({ n: '*' }))[0]!.n) === 0, {
      timeoutMs: 60_000,
    });
    await relay.stop();
    relay = undefined;
    // Partition 0 loses everything it held (as a leader failover with weak acks, or an operator's DeleteRecords, would).
    const [p0] = (await env.admin.fetchTopicOffsets(env.topics.userCreated)).filter((p) => p.partition === 0);
    await env.admin.deleteTopicRecords({ topic: env.topics.userCreated, partitions: [{ partition: 0, offset: p0!.high }] });
    const lost: string[] = await env.dbs.users('outbox').where({ kafka_partition: 0 }).pluck('event_id');
    expect(lost.length).toBeGreaterThan(0);
    await pastGrace(env);

    const deps = { config: env.config, dbs: env.app, log: silentLogger };
    const run = await executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test' });
    // No consumer ran: the rest are unconsumed by point-service; the lost ones are unpublished (republished), not also unconsumed.
    expect(run.counts['outbox-vs-consumed']).toEqual({ unpublished_event: lost.length, unconsumed_event: 60 - lost.length });
    const unpublished = await kinds(env, 'unpublished_event');
    expect(new Set(unpublished.map((u) => u.details.eventId))).toEqual(new Set(lost));
    expect(unpublished.every((u) => u.details.lostFromTopic === true && u.details.recordedPartition === 0)).toBe(true);

    const rows = await getDiscrepancies(
      env.dbs.recon,
      unpublished.map((u) => u.id),
    );
    const outcomes = await compensate({ dbs: env.app, config: env.config, producer: producer as MessageSender }, rows);
    expect(outcomes.map((o) => o.result)).toEqual(lost.map(() => 'resolved'));
    // Back on the topic at new positions, past what was deleted.
    const moved = await env.dbs.users('outbox').whereIn('event_id', lost).select('kafka_partition', 'kafka_offset');
    expect(moved.every((m) => m.kafka_partition === 0 && Number(m.kafka_offset) >= Number(p0!.high))).toBe(true);
    const reader = await createTopicEvidence(env.kafka);
    try {
      const all = await reader.readByTime(env.topics.userCreated, new Date(0), new Date(Date.now() + 60_000));
      const onTopic = new Set(all.messages.map((m) => m.eventId));
      expect(lost.every((id) => onTopic.has(id))).toBe(true);
    } finally {
      await reader.close();
    }
    const wm: Date = (await env.dbs.recon('watermarks').where({ check_name: 'outbox-vs-consumed' }).first('watermark')).watermark;
    const again = await executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test', from: new Date(wm.getTime() - 3 * 3600_000), to: wm });
    expect(again.counts['outbox-vs-consumed']).toEqual({ unconsumed_event: 60 });
  });
});

describe('a dead letter in Spring’s dialect for a group with offsets evidence', () => {
  let env: TestEnv;
  let relay: RelayProcess | undefined;
  let producer: Producer;
  const group = 'mail-service';
  beforeAll(async () => {
    env = await createTestEnv({
      roles: true,
      env: {
        RECON_GRACE_SECONDS: String(GRACE),
        RECON_GRACE_FROM: 'start',
        RECON_SUBSCRIPTIONS: `user.created:${group}:offsets`,
      },
    });
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await relay?.stop();
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('is dead_lettered_event for that group, not unconsumed_event', async () => {
    await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, { count: 12, mode: 'outbox' });
    relay = await startRelay(env.adminConfig);
    await waitFor('the relay to publish', async () => Number((await env.dbs.users('outbox').whereNull('published_at').count({ n: '*' }))[0]!.n) === 0, {
      timeoutMs: 60_000,
    });
    const rows: { event_id: string; kafka_partition: number; kafka_offset: string }[] = await env.dbs
      .users('outbox')
      .select('event_id', 'kafka_partition', 'kafka_offset');
    // The first event of the busiest partition, so events behind it on the same partition exist.
    const perPartition = new Map<number, number>();
    for (const r of rows) perPartition.set(r.kafka_partition, (perPartition.get(r.kafka_partition) ?? 0) + 1);
    const busiest = [...perPartition].sort((a, b) => b[1] - a[1])[0]![0];
    const poisoned = rows.filter((r) => r.kafka_partition === busiest).sort((a, b) => Number(a.kafka_offset) - Number(b.kafka_offset))[0]!;
    const groupName = `${env.config.namespace}.${group}`;
    // The group commits past everything, as a listener does after handing a failed record to its recoverer.
    const ends = await env.admin.fetchTopicOffsets(env.topics.userCreated);
    await env.admin.setOffsets({
      groupId: groupName,
      topic: env.topics.userCreated,
      partitions: ends.map((e) => ({ partition: e.partition, offset: e.high })),
    });
    // Except one partition, left behind at the poisoned event: the letter must still win over "unconsumed".
    await env.admin.setOffsets({
      groupId: groupName,
      topic: env.topics.userCreated,
      partitions: [{ partition: poisoned.kafka_partition, offset: String(poisoned.kafka_offset) }],
    });
    const behind = rows.filter((r) => r.kafka_partition === poisoned.kafka_partition && Number(r.kafka_offset) > Number(poisoned.kafka_offset));
    // What Spring's DeadLetterPublishingRecoverer writes: the original's key and value, its headers, and these, binary.
    const [original] = (await (async () => {
      const reader = await createTopicEvidence(env.kafka);
      try {
        return (await reader.readByTime(env.topics.userCreated, new Date(0), new Date(Date.now() + 60_000))).messages.filter(
          (m) => m.eventId === poisoned.event_id,
        );
      } finally {
        await reader.close();
      }
    })())!;
    await producer.send({
      topic: env.topics.userCreatedDlt,
      messages: [
        {
          partition: poisoned.kafka_partition,
          key: null,
          value: original!.value,
          headers: {
            id: poisoned.event_id,
            'kafka_dlt-original-topic': Buffer.from(env.topics.userCreated),
            'kafka_dlt-original-partition': int32BE(poisoned.kafka_partition),
            'kafka_dlt-original-offset': int64BE(BigInt(poisoned.kafka_offset)),
            'kafka_dlt-original-timestamp': int64BE(original!.timestamp),
            'kafka_dlt-original-timestamp-type': Buffer.from('CreateTime'),
            'kafka_dlt-original-consumer-group': Buffer.from(groupName),
            'kafka_dlt-exception-fqcn': Buffer.from('org.springframework.kafka.listener.ListenerExecutionFailedException'),
            'kafka_dlt-exception-message': Buffer.from('Listener method threw: mailbox unavailable'),
          },
        },
      ],
    });
    await pastGrace(env);

    const run = await executeRun({ config: env.config, dbs: env.app, log: silentLogger }, { checks: ['outbox-vs-consumed'], trigger: 'test' });
    expect(behind.length).toBeGreaterThan(0);
    expect(run.counts['outbox-vs-consumed']).toEqual({ dead_lettered_event: 1, unconsumed_event: behind.length });
    const [letter] = await kinds(env, 'dead_lettered_event');
    expect(letter!.details).toMatchObject({
      eventId: poisoned.event_id,
      group: groupName,
      dialect: 'spring',
      partition: poisoned.kafka_partition,
      offset: Number(poisoned.kafka_offset),
      errorClass: 'org.springframework.kafka.listener.ListenerExecutionFailedException',
    });
    // The ones behind it on its partition are unconsumed, report-only (on the topic: the group will reach them), not queued.
    const unconsumed = await kinds(env, 'unconsumed_event');
    expect(new Set(unconsumed.map((u) => u.details.eventId))).toEqual(new Set(behind.map((b) => b.event_id)));
    expect(unconsumed.every((u) => u.details.compensation === 'report' && u.details.evidence === 'offsets')).toBe(true);
    expect(run.queued).toEqual([]);
  });
});
