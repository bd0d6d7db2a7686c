import { UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReconError, grantEntryId } from '../../../core/index.js';
import { getDiscrepancies } from '../../../db/index.js';
import { compensate, type MessageSender } from '../../../reconcile/index.js';
import {
  compensationEnqueuer,
  createCompensationQueue,
  enqueueCompensations,
  processCompensationJob,
  startCompensationWorker,
  waitForCompensations,
  type CompensationQueue,
} from '../../../batch/index.js';
import { createProducer, type Producer } from '../../../streaming/index.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';
import { effects, extraEntry, insertUsers, record, statuses, streamGrant, unpublishedUserEvent } from '../../helpers/compensation-fixtures.js';

describe('compensating jobs on the real services', () => {
  let env: TestEnv;
  let producer: Producer;
  let queue: CompensationQueue;
  const B = 1000;

  beforeAll(async () => {
    env = await createTestEnv({ roles: true, pool: { max: 8 } });
    producer = createProducer(env.kafka);
    await producer.connect();
    queue = createCompensationQueue(env.config);
  });
  afterAll(async () => {
    await queue?.close();
    await producer?.disconnect();
    await env?.cleanup();
  });

  const deps = () => ({ dbs: env.app, config: env.config, producer: producer as MessageSender });

  it('a missing grant executed twice (in sequence and at once) leaves exactly one entry and one event', async () => {
    const { ids } = await insertUsers(env.dbs, 6);
    const found = await record(
      env.dbs,
      ids.map((u) => ({ kind: 'missing_grant' as const, entityId: u, details: { userId: u } })),
    );
    const rows = await getDiscrepancies(
      env.dbs.recon,
      found.map((f) => f.id),
    );
    const [first, again, ...concurrent] = await (async () => {
      const a = await compensate(deps(), rows);
      const b = await compensate(deps(), rows);
      const c = await Promise.all([compensate(deps(), rows), compensate(deps(), rows)]);
      return [a, b, ...c];
    })();
    expect(first!.every((o) => o.result === 'resolved' && o.effect)).toBe(true);
    expect(again!.every((o) => o.result === 'resolved' && !o.effect)).toBe(true);
    expect(concurrent.flat().every((o) => o.result === 'resolved' && !o.effect)).toBe(true);
    const e = await effects(env.dbs, ids);
    expect(e.entries).toBe(6);
    expect(e.events).toBe(6);
    for (const u of ids) expect(e.nets.get(u)).toBe(B);
    const { rows: src } = await env.dbs.points.raw<{ rows: { source: string; entry_id: string }[] }>(
      'select source, entry_id from point_ledger where user_id = any(?::uuid[])',
      [ids],
    );
    expect(src.every((r) => r.source === 'compensation' && r.entry_id === grantEntryId(ids.find((u) => grantEntryId(u) === r.entry_id)!))).toBe(true);
  });

  it('a compensation racing the stream’s late grant leaves exactly one effect per user', async () => {
    const { ids, createdAt } = await insertUsers(env.dbs, 40);
    const found = await record(
      env.dbs,
      ids.map((u) => ({ kind: 'missing_grant' as const, entityId: u })),
    );
    const rows = await getDiscrepancies(
      env.dbs.recon,
      found.map((f) => f.id),
    );
    // The stream writes through its own connection, at the same moment, with the same entry ids.
    const [outcomes, streamed] = await Promise.all([compensate(deps(), rows), streamGrant(env.dbs, env.topics.pointGranted, ids, createdAt)]);
    expect(outcomes.every((o) => o.result === 'resolved')).toBe(true);
    const wroteByCompensation = outcomes.filter((o) => o.result === 'resolved' && o.effect).length;
    expect(wroteByCompensation + streamed).toBe(40);
    const e = await effects(env.dbs, ids);
    expect(e.entries).toBe(40);
    expect(e.events).toBe(40);
    for (const u of ids) expect(e.nets.get(u)).toBe(B);
  });

  it('orphans and excesses are revoked once, even when executed twice at once', async () => {
    const { ids: committed, createdAt } = await insertUsers(env.dbs, 3);
    const orphans = [crypto.randomUUID(), crypto.randomUUID()];
    await streamGrant(env.dbs, env.topics.pointGranted, [...orphans, ...committed], createdAt);
    for (const u of committed) await extraEntry(env.dbs, env.topics.pointGranted, u, createdAt, 500);
    const found = await record(env.dbs, [
      ...orphans.map((u) => ({ kind: 'orphan_grant' as const, entityId: u })),
      ...committed.map((u) => ({ kind: 'excess_grant' as const, entityId: u })),
    ]);
    const rows = await getDiscrepancies(
      env.dbs.recon,
      found.map((f) => f.id),
    );
    const [a, b] = await Promise.all([compensate(deps(), rows), compensate(deps(), rows)]);
    expect([...a, ...b].every((o) => o.result === 'resolved')).toBe(true);
    const again = await compensate(deps(), rows);
    expect(again.every((o) => o.result === 'resolved' && !o.effect)).toBe(true);
    const e = await effects(env.dbs, [...orphans, ...committed]);
    for (const u of orphans) expect(e.nets.get(u)).toBe(0);
    for (const u of committed) expect(e.nets.get(u)).toBe(B);
    // grant + revocation per orphan, grant + extra + revocation per excess.
    expect(e.entries).toBe(orphans.length * 2 + committed.length * 3);
  });

  it('an unpublished event is published once and marked; a gone outbox row fails with its reason', async () => {
    const user = crypto.randomUUID();
    const eventId = await unpublishedUserEvent(env.dbs, env.topics.userCreated, user);
    const gone = crypto.randomUUID();
    const found = await record(env.dbs, [
      { kind: 'unpublished_event' as const, entityId: `users:${eventId}`, details: { eventId, sourceDb: 'users' } },
      { kind: 'unpublished_event' as const, entityId: `users:${gone}`, details: { eventId: gone, sourceDb: 'users' } },
    ]);
    const before = await env.admin.fetchTopicOffsets(env.topics.userCreated);
    const result = await processJob(found);
    expect(result).toMatchObject({ resolved: 1, failed: 1, effects: 1 });
    const again = await compensate(deps(), await getDiscrepancies(env.dbs.recon, [found[0]!.id]));
    expect(again).toEqual([{ id: found[0]!.id, result: 'resolved', effect: false }]);
    const after = await env.admin.fetchTopicOffsets(env.topics.userCreated);
    const sent = after.reduce((s, p) => s + Number(p.high), 0) - before.reduce((s, p) => s + Number(p.high), 0);
    expect(sent).toBe(1);
    const [row] = await env.dbs.users('outbox').where({ event_id: eventId });
    expect(row.published_at).not.toBeNull();
    expect(row.kafka_offset).not.toBeNull();
    const st = await statuses(
      env.dbs,
      found.map((f) => f.id),
    );
    expect(st.get(found[0]!.id)?.status).toBe('resolved');
    expect(st.get(found[1]!.id)).toMatchObject({ status: 'failed' });
    expect(st.get(found[1]!.id)?.last_error).toMatch(/no longer exists/);
  });

  it('queues once per discrepancy and generation, and a worker settles every one', async () => {
    const { ids } = await insertUsers(env.dbs, 30);
    const found = await record(
      env.dbs,
      ids.map((u) => ({ kind: 'missing_grant' as const, entityId: u })),
    );
    const enqueue = { db: env.dbs.recon, queue, config: { compensation: { ...env.config.compensation, batchSize: 8 } } };
    const first = await enqueueCompensations(enqueue, found);
    expect(first).toEqual({ queued: 30, jobs: 4 });
    // A re-run hands the same rows again: nothing new is queued.
    await compensationEnqueuer(enqueue)(found);
    expect(await enqueueCompensations(enqueue, found)).toEqual({ queued: 0, jobs: 0 });
    const st = await statuses(
      env.dbs,
      found.map((f) => f.id),
    );
    expect([...st.values()].every((s) => s.status === 'queued')).toBe(true);

    const running = await startCompensationWorker({ config: env.config, dbs: env.app, producer }, { concurrency: 2, sweepIntervalSeconds: 0 });
    try {
      const done = await waitForCompensations(
        { db: env.dbs.recon },
        found.map((f) => f.id),
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      expect(done.settled).toBe(true);
      expect(done.counts).toMatchObject({ resolved: 30, failed: 0, queued: 0, detected: 0 });
    } finally {
      await running.close();
    }
    const e = await effects(env.dbs, ids);
    expect(e.entries).toBe(30);
    expect(e.events).toBe(30);
    expect(await queue.getJobCounts('completed')).toMatchObject({ completed: 4 });
  });

  it('an unconsumed event is re-sent once per job, retried while unconsumed, and failed with the reason when attempts run out', async () => {
    const user = crypto.randomUUID();
    const eventId = await unpublishedUserEvent(env.dbs, env.topics.userCreated, user);
    await env.dbs.users('outbox').where({ event_id: eventId }).update({ published_at: new Date(), kafka_partition: 0, kafka_offset: 0 });
    const group = `${env.config.namespace}.point-service`;
    const found = await record(env.dbs, [
      { kind: 'unconsumed_event' as const, entityId: `users:${group}:${eventId}`, details: { eventId, sourceDb: 'users', group } },
    ]);
    const items = found.map((f) => ({ id: f.id, generation: f.generation }));
    const high = async () => (await env.admin.fetchTopicOffsets(env.topics.userCreated)).reduce((s, p) => s + Number(p.high), 0);
    const before = await high();
    let saved: { resent?: string[] } = {};
    const job = (attemptsMade: number, resent?: string[]) => ({
      id: 'unconsumed',
      data: { kind: 'unconsumed_event' as const, items, ...(resent ? { resent } : {}) },
      attemptsMade,
      opts: { attempts: 8 },
      updateData: async (d: { resent?: string[] }) => {
        saved = d;
      },
    });
    const workerDeps = { config: env.config, dbs: env.app, producer, consumeWaitMs: 300 };
    // No consumer runs here: the first attempt re-sends, then asks for a retry.
    await expect(processCompensationJob(workerDeps, job(0))).rejects.toMatchObject({ retryable: true });
    expect(saved.resent).toEqual([eventId]);
    expect(await high()).toBe(before + 1);
    expect((await statuses(env.dbs, [found[0]!.id])).get(found[0]!.id)).toMatchObject({ status: 'detected' });
    // The last attempt only checks again (no second send), then gives up with the reason.
    await expect(processCompensationJob(workerDeps, job(7, saved.resent))).resolves.toMatchObject({ failed: 1 });
    expect(await high()).toBe(before + 1);
    const st = (await statuses(env.dbs, [found[0]!.id])).get(found[0]!.id);
    expect(st?.status).toBe('failed');
    expect(st?.last_error).toMatch(/gave up after 8 attempts.*not yet consumed/);
  });

  it('a permanent error ends the job with UnrecoverableError and marks its discrepancies failed', async () => {
    const eventId = await unpublishedUserEvent(env.dbs, env.topics.userCreated, crypto.randomUUID());
    const found = await record(env.dbs, [{ kind: 'unpublished_event' as const, entityId: `users:${eventId}` }]);
    const broken: MessageSender = {
      send: async () => {
        throw new ReconError('INVALID_MESSAGE', 'message too large for the topic');
      },
    };
    await expect(
      processCompensationJob(
        { config: env.config, dbs: env.app, producer: broken },
        {
          id: 'x',
          data: { kind: 'unpublished_event' as const, items: [{ id: found[0]!.id, generation: 0 }] },
          attemptsMade: 0,
          opts: { attempts: 8 },
          updateData: async () => undefined,
        },
      ),
    ).rejects.toBeInstanceOf(UnrecoverableError);
    const st = (await statuses(env.dbs, [found[0]!.id])).get(found[0]!.id);
    expect(st?.status).toBe('failed');
    expect(st?.last_error).toMatch(/message too large/);
  });

  async function processJob(found: { id: string; generation: number }[]) {
    return processCompensationJob(
      { config: env.config, dbs: env.app, producer },
      {
        id: 'test',
        data: { kind: 'unpublished_event' as const, items: found.map((f) => ({ id: f.id, generation: f.generation })) },
        attemptsMade: 0,
        opts: { attempts: 8 },
        updateData: async () => undefined,
      },
    );
  }
});
