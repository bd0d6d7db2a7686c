import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUPS, namespaced } from '../../core/index.js';
import { countConsumedEvents } from '../../db/index.js';
import { generateUsers, startRelay, type RelayProcess } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';
import { exited, spawnCli } from '../helpers/cli.js';

const N = 10_000;

describe('consumer killed with SIGKILL mid-stream, then restarted', () => {
  let env: TestEnv;
  let relay: RelayProcess;
  const children: ReturnType<typeof spawnCli>[] = [];

  beforeAll(async () => {
    env = await createTestEnv();
    relay = await startRelay(env.config);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map(exited));
    await relay?.stop();
    await env?.cleanup();
  });

  it(`still ends with exactly ${N} grants, consumed rows and balances`, async () => {
    const pointGroup = namespaced(env.config, CONSUMER_GROUPS.pointService);
    const balancesGroup = namespaced(env.config, CONSUMER_GROUPS.userServiceBalances);
    const first = spawnCli(env.config, ['stream', 'consume', '--progress-interval', '0']);
    children.push(first);
    // Users keep arriving while the consumer dies and comes back.
    const load = generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, { count: N, rate: 2500, batchSize: 100 });
    const atKill = await waitFor(
      'the consumer under way',
      async () => {
        const n = await countConsumedEvents(env.dbs.points, pointGroup);
        return n >= 1500 ? n : false;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    first.kill('SIGKILL');
    expect((await exited(first)).signal).toBe('SIGKILL');
    expect(atKill).toBeLessThan(N);

    const second = spawnCli(env.config, ['stream', 'consume', '--progress-interval', '0']);
    children.push(second);
    expect((await load).committed).toBe(N);
    await waitFor('every balance', async () => (await countConsumedEvents(env.dbs.users, balancesGroup)) >= N, { timeoutMs: 120_000, intervalMs: 500 });

    const [grants] = await env.dbs.points('point_ledger').count<{ n: number }[]>({ n: '*' });
    expect(Number(grants!.n)).toBe(N);
    expect(await countConsumedEvents(env.dbs.points, pointGroup)).toBe(N);
    const wrong = await env.dbs.users('user_balances').whereNot('balance', env.config.signupBonusPoints).count<{ n: number }[]>({ n: '*' });
    expect(Number(wrong[0]!.n)).toBe(0);
    const [balances] = await env.dbs.users('user_balances').count<{ n: number }[]>({ n: '*' });
    expect(Number(balances!.n)).toBe(N);

    // SIGTERM: finish the batch in hand, commit, disconnect, exit 0.
    second.kill('SIGTERM');
    expect(await exited(second)).toEqual({ code: 0, signal: null });
  });
});
