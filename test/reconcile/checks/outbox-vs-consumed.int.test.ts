import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, discrepancyId } from '../../../core/index.js';
import { executeRun, type RunDeps } from '../../../batch/index.js';
import { pipelines } from '../../../reconcile/index.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';
import { hoursAgo, insertConsumed, insertDeadLetters, insertOutbox, spread } from '../../helpers/drift.js';

describe('outbox-vs-consumed finds exactly the drift injected by SQL, on both pipelines', () => {
  let env: TestEnv;
  let deps: RunDeps;
  const start = hoursAgo(4);
  const expected = new Map<string, string>();

  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true, env: { RECON_WINDOW_SECONDS: '3600', RECON_GRACE_SECONDS: '60' } });
    deps = { config: env.config, dbs: env.app, log: createLogger(env.config) };
    const at = (offsetMs: number, n: number) => spread(new Date(start.getTime() + offsetMs), 3600_000, n);
    for (const [i, p] of pipelines(env.config).entries()) {
      const outbox = env.dbs[p.outboxDb];
      const consumer = env.dbs[p.consumedDb];
      // Clean history: published and consumed.
      const ok = await insertOutbox(outbox, p.topic, at(0, 200), { published: true });
      await insertConsumed(consumer, p.group, p.topic, ok);
      // Unpublished (the relay never sent them), and one unpublished yet consumed (relay crashed before marking): fine.
      const unpublished = await insertOutbox(outbox, p.topic, at(1800_000, 2 + i), { published: false });
      const sentNotMarked = await insertOutbox(outbox, p.topic, at(1900_000, 1), { published: false });
      await insertConsumed(consumer, p.group, p.topic, sentNotMarked);
      // Published, never consumed.
      const unconsumed = await insertOutbox(outbox, p.topic, at(3600_000, 3), { published: true });
      // Consumed without an outbox row (a rolled-back direct producer).
      const phantoms = spread(new Date(start.getTime() + 5400_000), 600_000, 2).map((occurredAt) => ({ eventId: crypto.randomUUID(), occurredAt }));
      await insertConsumed(consumer, p.group, p.topic, phantoms);
      // Published, dead-lettered by the group (reported, not unconsumed); plus a poison message with no event id.
      const poisoned = await insertOutbox(outbox, p.topic, at(7200_000, 1), { published: true });
      await insertDeadLetters(consumer, p.group, p.topic, [poisoned[0]!.eventId], new Date(start.getTime() + 7300_000));
      await insertDeadLetters(consumer, p.group, p.topic, [null], new Date(start.getTime() + 9000_000));
      // Dead-lettered by a consumer that recorded no event id: matched to its event by the position it was published at.
      const [placed] = await insertOutbox(outbox, p.topic, at(7400_000, 1), { published: true });
      await outbox('outbox').where({ event_id: placed!.eventId }).update({ kafka_partition: 3, kafka_offset: 4242 });
      await consumer.raw(
        `insert into dead_letters (consumer_group, topic, kafka_partition, kafka_offset, event_id, error_class, error_message, dead_lettered_at)
         values (?, ?, 3, 4242, null, 'HandlerError', 'cannot apply', ?)`,
        [p.group, p.topic, new Date(start.getTime() + 7500_000)],
      );
      // Another group's consumption does not count for this one.
      await insertConsumed(consumer, `${p.group}-other`, p.topic, unconsumed);

      for (const e of unpublished) expected.set(discrepancyId('outbox-vs-consumed', 'unpublished_event', `${p.outboxDb}:${e.eventId}`), 'unpublished_event');
      for (const e of unconsumed)
        expected.set(discrepancyId('outbox-vs-consumed', 'unconsumed_event', `${p.outboxDb}:${p.group}:${e.eventId}`), 'unconsumed_event');
      for (const e of phantoms) expected.set(discrepancyId('outbox-vs-consumed', 'phantom_event', `${p.outboxDb}:${p.group}:${e.eventId}`), 'phantom_event');
    }
    const dls: { id: number; consumer: string }[] = [];
    for (const p of pipelines(env.config)) {
      for (const r of await env.dbs[p.consumedDb]('dead_letters').select('id')) dls.push({ id: r.id, consumer: p.consumedDb });
    }
    for (const d of dls) expected.set(discrepancyId('outbox-vs-consumed', 'dead_lettered_event', `${d.consumer}:dead_letter:${d.id}`), 'dead_lettered_event');
  });
  afterAll(async () => env?.cleanup());

  it('records each kind exactly once, with what a compensation needs', async () => {
    const summary = await executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test' });
    expect(summary.status).toBe('completed');
    expect(summary.counts['outbox-vs-consumed']).toEqual({ unpublished_event: 5, unconsumed_event: 6, phantom_event: 4, dead_lettered_event: 6 });
    const rows: { id: string; kind: string; details: Record<string, unknown> }[] = await env.dbs.recon('discrepancies').select('id', 'kind', 'details');
    expect(new Map(rows.map((r) => [r.id, r.kind]))).toEqual(expected);
    const unconsumed = rows.find((r) => r.kind === 'unconsumed_event' && r.details.sourceDb === 'points')!;
    expect(unconsumed.details).toMatchObject({
      sourceDb: 'points',
      group: `${env.config.namespace}.user-service-balances`,
      topic: `${env.config.namespace}.point.granted`,
    });
    const poison = rows.filter((r) => r.kind === 'dead_lettered_event');
    expect(poison.filter((r) => r.details.eventId !== null)).toHaveLength(4);
  });

  it('a second run over the same range records nothing new', async () => {
    const summary = await executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test', from: start, to: new Date(start.getTime() + 4 * 3600_000) });
    expect(summary.counts['outbox-vs-consumed']).toEqual({ unpublished_event: 5, unconsumed_event: 6, phantom_event: 4, dead_lettered_event: 6 });
    expect(summary.queued).toEqual([]);
    expect(await env.dbs.recon('discrepancies').count({ n: '*' })).toEqual([{ n: expected.size }]);
  });
});
