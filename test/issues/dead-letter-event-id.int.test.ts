/**
 * Regression: a valid event that could never be processed was dead-lettered
 * with a null event id, so the batch layer could not tell it from poison; it
 * matched the dead letter by publish position only, and a copy of the event at
 * another offset was classified `unconsumed_event` and republished forever.
 * Root cause: the consumer recorded `dead_letters.event_id = null` for every
 * dead letter, decoded or not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSafeBound, executeRun } from '../../batch/index.js';
import { CHECKS } from '../../reconcile/index.js';
import { silentLogger } from '../../core/index.js';
import { createUsersOutbox, startConsumers, startRelay } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

describe('a decoded event dead-lettered by its consumer', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ env: { RECON_GRACE_SECONDS: '0' } });
  });
  afterAll(async () => env?.cleanup());

  it('keeps its event id, and the batch layer reports it as dead-lettered, not unconsumed', async () => {
    await createUsersOutbox({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, 5);
    const [doomed] = await env.dbs.users('outbox').orderBy('event_id').limit(1).select('event_id', 'message_key');
    // A rule the point service cannot satisfy for this one user: a permanent (non-retryable) failure.
    await env.dbs.points.raw(`alter table point_ledger add constraint refuse_one check (user_id <> '${doomed.message_key}'::uuid)`);

    const relay = await startRelay(env.config);
    const consumers = await startConsumers(env.config);
    try {
      await waitFor('the dead letter', async () => (await env.dbs.points('dead_letters').count({ n: '*' }))[0]!.n === 1, { timeoutMs: 60_000 });
      await waitFor('the other four grants', async () => (await env.dbs.points('point_ledger').count({ n: '*' }))[0]!.n === 4, { timeoutMs: 60_000 });
      await waitFor('their balances', async () => (await env.dbs.users('user_balances').count({ n: '*' }))[0]!.n === 4, { timeoutMs: 60_000 });
    } finally {
      await consumers.stop();
      await relay.stop();
    }
    const [dl] = await env.dbs.points('dead_letters').select('event_id', 'error_class');
    expect(dl.event_id).toBe(doomed.event_id);
    expect(dl.error_class).not.toBe('InvalidMessage');

    const newest: Date = (await env.dbs.users('outbox').max({ t: 'occurred_at' }).first())!.t;
    await waitFor('the safe upper bound to pass the events', async () => (await checkSafeBound(env, CHECKS['outbox-vs-consumed'])) > newest);
    const run = await executeRun({ config: env.config, dbs: env.dbs, log: silentLogger }, { checks: ['outbox-vs-consumed'], trigger: 'test', dryRun: true });
    expect(run.counts['outbox-vs-consumed']).toEqual({ dead_lettered_event: 1 });
  });
});
