/**
 * Compensations need no role that can change the ledger: every kind runs
 * through the writer of `recon migrate --roles` (INSERT on the ledger and the
 * points outbox, UPDATE of the outbox's publication columns, SELECT on what
 * the handlers re-read), and the invariants hold by SQL afterwards.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUPS, namespaced } from '../../../core/index.js';
import { getDiscrepancies, inspectRole, markPublished } from '../../../db/index.js';
import { compensate, type MessageSender } from '../../../reconcile/index.js';
import { createProducer, type Producer } from '../../../streaming/index.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';
import { effects, extraEntry, insertUsers, record, streamGrant, unpublishedUserEvent } from '../../helpers/compensation-fixtures.js';

describe('compensations as the INSERT-only writer', () => {
  let env: TestEnv;
  let producer: Producer;
  const B = 1000;

  beforeAll(async () => {
    env = await createTestEnv({ roles: true, pool: { max: 4 } });
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('the writer holds no UPDATE or DELETE on the ledger, and nothing else beyond its definition', async () => {
    const { rows } = await env.app.pointsWriter.raw<{ rows: { role: string; can_update: boolean; can_delete: boolean; can_truncate: boolean }[] }>(
      `select current_user as role, has_table_privilege('point_ledger', 'UPDATE') as can_update,
              has_table_privilege('point_ledger', 'DELETE') as can_delete, has_table_privilege('point_ledger', 'TRUNCATE') as can_truncate`,
    );
    expect(rows[0]).toEqual({ role: env.roles!.writer, can_update: false, can_delete: false, can_truncate: false });
    for (const database of ['users', 'points'] as const) {
      const db = database === 'users' ? env.app.usersWriter : env.app.pointsWriter;
      expect(await inspectRole(db, database, 'writer')).toMatchObject({ missing: [], excess: [], superuser: false });
    }
  });

  it('grants, revokes orphans and excesses, republishes both outboxes and re-sends unconsumed events', async () => {
    const deps = { dbs: env.app, config: env.config, producer: producer as MessageSender, consumeWaitMs: 200 };
    const { ids: users, createdAt } = await insertUsers(env.dbs, 4);
    const [missing, excess, unconsumedUser, granted] = users as [string, string, string, string];
    const orphan = randomUUID();
    await streamGrant(env.dbs, env.topics.pointGranted, [excess, orphan, granted], createdAt);
    await extraEntry(env.dbs, env.topics.pointGranted, excess, createdAt, 500);
    // An unpublished event on each side: user.created (users outbox) and point.granted (points outbox, the grant's own event).
    const userEvent = await unpublishedUserEvent(env.dbs, env.topics.userCreated, missing);
    const { rows: pointEvents } = await env.dbs.points.raw<{ rows: { event_id: string }[] }>("select event_id from outbox where payload->>'userId' = ?", [
      granted,
    ]);
    const pointEvent = pointEvents[0]!.event_id;
    // A published user.created event nobody consumed.
    const lostEvent = await unpublishedUserEvent(env.dbs, env.topics.userCreated, unconsumedUser);
    await markPublished(env.dbs.users, [{ event_id: lostEvent, partition: 0, offset: 0 }]);
    const group = namespaced(env.config, CONSUMER_GROUPS.pointService);
    const found = await record(env.dbs, [
      { kind: 'missing_grant', entityId: missing },
      { kind: 'orphan_grant', entityId: orphan },
      { kind: 'excess_grant', entityId: excess },
      { kind: 'unpublished_event', entityId: `users:${userEvent}` },
      { kind: 'unpublished_event', entityId: `points:${pointEvent}` },
      { kind: 'unconsumed_event', entityId: `users:${group}:${lostEvent}` },
    ]);
    const rows = await getDiscrepancies(
      env.dbs.recon,
      found.map((f) => f.id),
    );
    const outcomes = await compensate(deps, rows);
    const byKind = new Map(rows.map((r) => [r.id, r.kind]));
    // Everything resolved but the unconsumed event, re-sent and waiting for a consumer that is not running: no permission error anywhere.
    expect(outcomes.filter((o) => o.result === 'failed')).toEqual([]);
    expect(outcomes.map((o) => o.result).sort()).toEqual(['resolved', 'resolved', 'resolved', 'resolved', 'resolved', 'retry']);
    expect(outcomes.find((o) => byKind.get(o.id) === 'unconsumed_event')).toMatchObject({ result: 'retry' });

    const e = await effects(env.dbs, [missing, excess, orphan, granted]);
    expect(Object.fromEntries(e.nets)).toEqual({ [missing]: B, [excess]: B, [orphan]: 0, [granted]: B });
    const { rows: outbox } = await env.dbs.users.raw<{ rows: { event_id: string; published_at: Date | null }[] }>(
      'select event_id, published_at from outbox where event_id = any(?::uuid[])',
      [[userEvent, lostEvent]],
    );
    expect(outbox.every((o) => o.published_at !== null)).toBe(true);
    const { rows: points } = await env.dbs.points.raw<{ rows: { published_at: Date | null }[] }>('select published_at from outbox where event_id = ?', [
      pointEvent,
    ]);
    expect(points[0]!.published_at).not.toBeNull();

    // The consumer records the event: the next attempt resolves it, still as the writer.
    await env.dbs
      .points('consumed_events')
      .insert({ event_id: lostEvent, consumer_group: group, topic: env.topics.userCreated, kafka_partition: 0, kafka_offset: 1 });
    const unconsumed = rows.filter((r) => r.kind === 'unconsumed_event');
    expect(await compensate(deps, unconsumed, { resent: new Set([lostEvent]) })).toEqual([{ id: unconsumed[0]!.id, result: 'resolved', effect: false }]);
  });
});
