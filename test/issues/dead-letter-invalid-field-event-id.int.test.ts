/**
 * Root cause: the consumer recorded an event id only for messages that decoded, so a message failing validation in any one
 * field (here `userId`) was dead-lettered with `event_id` null although its `id` header and `eventId` were valid UUIDs; the
 * letter could not be tied to its outbox event, which was reported `unconsumed_event` too and republished until it failed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSafeBound, executeRun } from '../../batch/index.js';
import { CONSUMER_GROUPS, namespaced, silentLogger } from '../../core/index.js';
import { insertOutboxEvents, markPublished, outboxRowsById } from '../../db/index.js';
import { CHECKS } from '../../reconcile/index.js';
import { createProducer, createUsersOutbox, outboxMessage, sendLocated, startConsumers, type Producer } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

describe('a message that fails validation in one field', () => {
  let env: TestEnv;
  let producer: Producer;
  beforeAll(async () => {
    env = await createTestEnv({ env: { RECON_GRACE_SECONDS: '0' } });
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('is dead-lettered with the event id its payload or header carries, and reported as dead-lettered, not unconsumed', async () => {
    await createUsersOutbox({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, 3);
    // An outbox event whose payload has a valid eventId (and the relay's `id` header) but a userId that is no UUID.
    const badUser = randomUUID();
    await insertOutboxEvents(env.dbs.users, [
      {
        event_id: badUser,
        topic: env.topics.userCreated,
        message_key: 'user-42',
        payload: { eventId: badUser, type: 'user.created', schemaVersion: 1, occurredAt: new Date().toISOString(), userId: 'user-42', email: 'x@example.test' },
      },
    ]);
    // Published the way the relay sends, by a relay that does not write positions back (acknowledged, position unknown):
    // only the event id can tie a dead letter to its outbox row.
    const rows = await outboxRowsById(
      env.dbs.users,
      (await env.dbs.users('outbox').select('event_id')).map((r: { event_id: string }) => r.event_id),
    );
    await sendLocated(producer, rows.map(outboxMessage));
    await markPublished(
      env.dbs.users,
      rows.map((r) => ({ event_id: r.event_id, partition: null, offset: null })),
    );
    // Messages of no outbox: a valid `id` header on a value that is not JSON; a valid eventId without any header; nothing valid.
    const headerOnly = randomUUID();
    const payloadOnly = randomUUID();
    await sendLocated(producer, [
      { topic: env.topics.userCreated, message: { key: 'k1', value: '{not json', headers: { id: headerOnly } } },
      { topic: env.topics.userCreated, message: { key: 'k2', value: JSON.stringify({ eventId: payloadOnly, type: 'user.created' }) } },
      { topic: env.topics.userCreated, message: { key: 'k3', value: '{"eventId": "not-a-uuid"}', headers: { id: 'neither' } } },
    ]);

    const consumers = await startConsumers(env.config, { groups: ['point-service'] });
    try {
      await waitFor('four dead letters', async () => (await env.dbs.points('dead_letters').count({ n: '*' }))[0]!.n === 4, { timeoutMs: 60_000 });
      await waitFor('the three grants', async () => (await env.dbs.points('point_ledger').count({ n: '*' }))[0]!.n === 3, { timeoutMs: 60_000 });
    } finally {
      await consumers.stop();
    }
    const letters: { event_id: string | null; error_message: string }[] = await env.dbs.points('dead_letters').select('event_id', 'error_message');
    expect(letters.map((l) => l.event_id).sort()).toEqual([badUser, headerOnly, payloadOnly, null].sort());
    expect(letters.find((l) => l.event_id === badUser)!.error_message).toMatch(/invalid userId/);

    // The batch layer ties the dead letter to its outbox event: dead-lettered, not also unconsumed (and republished).
    const group = namespaced(env.config, CONSUMER_GROUPS.pointService);
    expect(await env.dbs.points('consumed_events').where({ consumer_group: group }).count({ n: '*' })).toEqual([{ n: 3 }]);
    const newest = new Date(
      Math.max(
        ...(await Promise.all([
          env.dbs.users('outbox').max({ t: 'occurred_at' }).first(),
          env.dbs.points('outbox').max({ t: 'occurred_at' }).first(),
          env.dbs.points('dead_letters').max({ t: 'dead_lettered_at' }).first(),
        ]).then((r) => r.map((x) => (x as { t: Date }).t.getTime()))),
      ),
    );
    await waitFor('the safe upper bound to pass the events', async () => (await checkSafeBound(env, CHECKS['outbox-vs-consumed'])) > newest);
    const run = await executeRun({ config: env.config, dbs: env.dbs, log: silentLogger }, { checks: ['outbox-vs-consumed'], trigger: 'test', dryRun: true });
    // The balances consumer never ran: the three grants' point.granted events are unpublished (not yet relayed).
    expect(run.counts['outbox-vs-consumed']).toEqual({ dead_lettered_event: 4, unpublished_event: 3 });
  });
});
