import net from 'node:net';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUPS, namespaced, sleep } from '../../core/index.js';
import { countConsumedEvents, countUnpublished } from '../../db/index.js';
import { localKafkaPaths, servicesDown, servicesUp } from '../../services/local-kafka.js';
import { generateUsers, startConsumers, startRelay, type ConsumersProcess, type RelayProcess } from '../../streaming/index.js';
import { createTestEnv, uniqueName, waitFor, type TestEnv } from '../helpers/env.js';

/** Outage length the issue asks for. A scenario parameter, not a synchronisation sleep. */
const OUTAGE_MS = 20_000;

/** A free port whose successor (the KRaft controller's) is free too. */
async function freePortPair(): Promise<number> {
  const probe = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = net.createServer().once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await probe(port)) && (await probe(port + 1))) return port;
  }
}

describe('broker stopped for 20 s while users are created (own broker, never the shared one)', () => {
  const home = `/tmp/${uniqueName('recon-outage')}`;
  const paths = localKafkaPaths(home);
  let brokers: string[];
  let env: TestEnv;
  let relay: RelayProcess | undefined;
  let consumers: ConsumersProcess | undefined;

  beforeAll(async () => {
    brokers = [`127.0.0.1:${await freePortPair()}`];
    await servicesUp({ kafkaBrokers: brokers }, { paths });
    env = await createTestEnv({ env: { KAFKA_BROKERS: brokers.join(',') } });
  }, 180_000);
  afterAll(async () => {
    await consumers?.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    await env?.cleanup().catch(() => undefined);
    await servicesDown({ paths });
    rmSync(home, { recursive: true, force: true });
  }, 180_000);

  it('loses nothing once the broker is back', async () => {
    relay = await startRelay(env.config, { maxBackoffMs: 2000 });
    consumers = await startConsumers(env.config, { concurrency: 2 });
    const N = 6000;
    const load = generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, { count: N, rate: 200, batchSize: 50 });
    const pointGroup = namespaced(env.config, CONSUMER_GROUPS.pointService);
    await waitFor('the stream flowing', async () => (await countConsumedEvents(env.dbs.points, pointGroup)) >= 300, { timeoutMs: 60_000 });

    const down = await servicesDown({ paths });
    expect(down.action).toBe('stopped');
    await sleep(OUTAGE_MS);
    // Users kept committing; their rows wait unpublished.
    expect(await countUnpublished(env.dbs.users)).toBeGreaterThan(0);
    const up = await servicesUp({ kafkaBrokers: brokers }, { paths });
    expect(up.action).toBe('started');

    expect((await load).committed).toBe(N);
    const balancesGroup = namespaced(env.config, CONSUMER_GROUPS.userServiceBalances);
    await waitFor('every balance after the outage', async () => (await countConsumedEvents(env.dbs.users, balancesGroup)) >= N, {
      timeoutMs: 150_000,
      intervalMs: 500,
    });
    const [grants] = await env.dbs.points('point_ledger').count<{ n: number }[]>({ n: '*' });
    expect(Number(grants!.n)).toBe(N);
    expect(await countConsumedEvents(env.dbs.points, pointGroup)).toBe(N);
    expect(await countUnpublished(env.dbs.users)).toBe(0);
    const wrong = await env.dbs.users('user_balances').whereNot('balance', env.config.signupBonusPoints).count<{ n: number }[]>({ n: '*' });
    expect(Number(wrong[0]!.n)).toBe(0);
  });
});
