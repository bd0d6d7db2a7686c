/**
 * Regression: an event its consumer dead-lettered after the event's window had closed (the consumer was down past the grace, so a run had
 * recorded it as `unconsumed_event`) was never reported as `dead_lettered_event`, and the unconsumed one was republished by its job and by
 * every `recon retry`. Root cause: `dead_letters` was not a late source, so no run looked at that window again, and nothing let a dead letter
 * replace the unconsumed discrepancy recorded before it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSafeBound, executeRun, processCompensationJob } from '../../batch/index.js';
import { silentLogger } from '../../core/index.js';
import { getDiscrepancies } from '../../db/index.js';
import { CHECKS, compensate } from '../../reconcile/index.js';
import { createProducer, createUsersOutbox, startConsumers, startRelay, type Producer } from '../../streaming/index.js';
import { runCli } from '../helpers/cli.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

describe('an event dead-lettered after its window closed', () => {
  let env: TestEnv;
  let producer: Producer;
  beforeAll(async () => {
    env = await createTestEnv({ env: { RECON_GRACE_SECONDS: '1' } });
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('is reported as dead_lettered_event by the next run, which closes the unconsumed one: never republished again', async () => {
    const check = CHECKS['outbox-vs-consumed'];
    const deps = { config: env.config, dbs: env.dbs, log: silentLogger };
    const sent = async () => (await env.admin.fetchTopicOffsets(env.topics.userCreated)).reduce((n, p) => n + Number(p.high), 0);

    // One user whose event the point service can never apply (a permanent failure), published while the consumer is down.
    await createUsersOutbox({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, 1);
    const [event] = await env.dbs.users('outbox').select('event_id', 'message_key', 'occurred_at');
    await env.dbs.points.raw(`alter table point_ledger add constraint refuse_one check (user_id <> '${event.message_key}'::uuid)`);
    const relay = await startRelay(env.config);
    try {
      await waitFor('the event published', async () => (await env.dbs.users('outbox').whereNotNull('published_at').count({ n: '*' }))[0]!.n === 1);
    } finally {
      await relay.stop();
    }

    // Past the grace, with the consumer still down: the run records it unconsumed, and its compensation runs out of attempts.
    await waitFor('the safe upper bound to pass the event', async () => (await checkSafeBound(env, check)) > event.occurred_at);
    const first = await executeRun(deps, { checks: [check.name], trigger: 'test' });
    expect(first.counts[check.name]).toEqual({ unconsumed_event: 1 });
    const [unconsumed] = await env.dbs.recon('discrepancies').where({ kind: 'unconsumed_event' }).select('id', 'generation');
    const job = {
      id: 'unconsumed',
      data: {
        kind: 'unconsumed_event' as const,
        items: [{ id: unconsumed.id as string, generation: unconsumed.generation as number }],
        resent: [event.event_id],
      },
      attemptsMade: 7,
      opts: { attempts: 8 },
      updateData: async () => undefined,
    };
    await expect(processCompensationJob({ ...deps, producer, consumeWaitMs: 100 }, job)).resolves.toMatchObject({ failed: 1 });
    expect((await getDiscrepancies(env.dbs.recon, [unconsumed.id]))[0]).toMatchObject({ status: 'failed' });

    // The consumer comes back and dead-letters the event: long after its window closed.
    const consumers = await startConsumers(env.config, { groups: ['point-service'] });
    try {
      await waitFor('the dead letter', async () => (await env.dbs.points('dead_letters').count({ n: '*' }))[0]!.n === 1, { timeoutMs: 60_000 });
    } finally {
      await consumers.stop();
    }
    const [letter] = await env.dbs.points('dead_letters').select('event_id');
    expect(letter.event_id).toBe(event.event_id);

    const second = await executeRun(deps, { checks: [check.name], trigger: 'test' });
    expect(second.counts[check.name]).toEqual({ dead_lettered_event: 1 });
    expect(second.queued).toEqual([]);
    const [closed] = await getDiscrepancies(env.dbs.recon, [unconsumed.id]);
    expect(closed).toMatchObject({ status: 'resolved' });
    expect(closed!.resolution).toMatch(/^superseded by dead_lettered_event .*dead-lettered/);
    const messages = await sent();

    // `recon retry` finds nothing to retry; a job still holding the event does not send it either.
    const retry = await runCli(env.config, ['retry', '--json']);
    expect(retry.code, retry.stderr).toBe(0);
    expect(JSON.parse(retry.stdout)).toMatchObject({ retried: 0, queued: 0 });
    const inFlight = await compensate({ ...deps, producer, consumeWaitMs: 100 }, [closed!]);
    expect(inFlight).toEqual([{ id: unconsumed.id, result: 'failed', reason: expect.stringMatching(/dead-lettered by group .*not republished/) as string }]);
    expect(await sent()).toBe(messages);

    // A third run records nothing new.
    const third = await executeRun(deps, { checks: [check.name], trigger: 'test' });
    expect(third.queued).toEqual([]);
    expect(await env.dbs.recon('discrepancies').count({ n: '*' })).toEqual([{ n: 2 }]);
  });
});
