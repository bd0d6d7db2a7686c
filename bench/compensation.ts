/**
 * `npm run bench -- compensation`: compensations applied per second for
 * 100,000 discrepancies (missing grants of 100,000 users inserted by SQL),
 * from the first enqueue to the last `resolved`, through the real queue,
 * worker, databases; beside it BullMQ's own rate for no-op jobs through the
 * same queue setup, measured in the same run, one job per discrepancy
 * (what a naive design would need) and one job per batch (what ours uses).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { CHECK_NAMES, discrepancyId, loadConfig, waitFor, type Config } from '../core/index.js';
import { closeDatabases, connectDatabases, dropDatabase, migrateAll, recordDiscrepancies, type DiscrepancyInput } from '../db/index.js';
import {
  COMPENSATION_JOB_OPTIONS,
  createCompensationQueue,
  createQueue,
  createWorker,
  enqueueCompensations,
  startCompensationWorker,
  waitForCompensations,
} from '../batch/index.js';
import { createKafka, createProducer } from '../streaming/index.js';
import type { BenchContext, BenchResult } from './index.js';

const DISCREPANCIES = 100_000;

function benchConfig(base: Config): Config {
  const id = randomUUID().replaceAll('-', '').slice(0, 10);
  const db = (url: string, suffix: string) => {
    const u = new URL(url);
    u.pathname = `/recon_b${id}_${suffix}`;
    return u.toString();
  };
  return loadConfig({
    ...process.env,
    USERS_DATABASE_URL: db(base.databases.users, 'users'),
    POINTS_DATABASE_URL: db(base.databases.points, 'points'),
    RECON_DATABASE_URL: db(base.databases.recon, 'batch'),
    RECON_NAMESPACE: `bench-${id}`,
    LOG_LEVEL: 'warn',
  });
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

/** No-op jobs/s through a queue with the compensation queue's options: add `jobs` in bulk, run them, time to the last completion. */
async function noopRate(config: Config, name: string, jobs: number, payload: (i: number) => object): Promise<number> {
  const queue = createQueue(config, name, COMPENSATION_JOB_OPTIONS);
  let done = 0;
  const worker = createWorker(config, name, async () => undefined, { concurrency: 50, autorun: true });
  worker.on('completed', () => {
    done += 1;
  });
  await worker.waitUntilReady();
  try {
    const t0 = performance.now();
    for (let i = 0; i < jobs; i += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, jobs - i) }, (_, k) => ({ name: 'noop', data: payload(i + k) })));
    }
    await waitFor('no-op jobs to complete', () => done >= jobs, { timeoutMs: 600_000, intervalMs: 20 });
    return jobs / ((performance.now() - t0) / 1000);
  } finally {
    await worker.close();
    await queue.close();
  }
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const config = benchConfig(ctx.config);
  // RECON_COMPENSATION_BATCH and RECON_WORKER_CONCURRENCY choose the design point, as for `recon worker`.
  const batchSize = config.compensation.batchSize;
  const CONCURRENCY = config.compensation.concurrency;
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  await migrateAll(config);
  const dbs = connectDatabases(config, { max: CONCURRENCY + 2, applicationName: 'recon-bench' });
  const kafka = createKafka(config, { clientId: 'recon-bench' });
  const producer = createProducer(kafka);
  await producer.connect();
  const queue = createCompensationQueue(config);
  try {
    ctx.log(`compensation: inserting ${DISCREPANCIES} users and recording their missing grants`);
    const { rows: users } = await dbs.users.raw<{ rows: { id: string }[] }>(
      `insert into users (id, email, created_at)
       select id, id::text || '@bench.test', now() - interval '2 hours'
       from (select gen_random_uuid() as id from generate_series(1, ?)) s returning id`,
      [DISCREPANCIES],
    );
    const now = new Date();
    const inputs: DiscrepancyInput[] = users.map((u) => ({
      id: discrepancyId(CHECK_NAMES.usersVsPoints, 'missing_grant', u.id),
      check_name: CHECK_NAMES.usersVsPoints,
      kind: 'missing_grant',
      entity_type: 'user',
      entity_id: u.id,
      window_start: new Date(now.getTime() - 3 * 3600_000),
      window_end: now,
      details: { userId: u.id, net: 0, expected: config.signupBonusPoints },
    }));
    const found = await dbs.recon.transaction((trx) => recordDiscrepancies(trx, randomUUID(), inputs));

    const running = await startCompensationWorker({ config, dbs, producer }, { concurrency: CONCURRENCY, sweepIntervalSeconds: 0 });
    let seconds: number;
    let jobs: number;
    try {
      ctx.log(`compensation: ${found.length} discrepancies, batches of ${batchSize}, worker concurrency ${CONCURRENCY}`);
      const t0 = performance.now();
      ({ jobs } = await enqueueCompensations({ db: dbs.recon, queue, config }, found));
      const done = await waitForCompensations(
        { db: dbs.recon },
        found.map((f) => f.id),
        { timeoutMs: 600_000, intervalMs: 100 },
      );
      seconds = (performance.now() - t0) / 1000;
      if (!done.settled || done.counts.resolved !== DISCREPANCIES) throw new Error(`bench: not all resolved: ${JSON.stringify(done.counts)}`);
    } finally {
      await running.close();
    }
    const { rows: check } = await dbs.points.raw<{ rows: { n: number }[] }>('select count(*)::int as n from point_ledger');
    if (check[0]!.n !== DISCREPANCIES) throw new Error(`bench: expected ${DISCREPANCIES} ledger entries, found ${check[0]!.n}`);
    const rate = DISCREPANCIES / seconds;
    ctx.log(`compensation: ${rate.toFixed(0)} compensations/s (${(jobs / seconds).toFixed(0)} jobs/s)`);

    ctx.log(`compensation: BullMQ no-op rate, ${DISCREPANCIES} jobs of one discrepancy each`);
    const noopPerDiscrepancy = await noopRate(config, 'bench-noop-single', DISCREPANCIES, (i) => ({
      kind: 'missing_grant',
      items: [{ id: String(i), generation: 0 }],
    }));
    ctx.log(`compensation: BullMQ no-op rate, ${jobs} jobs of ${batchSize} discrepancies each`);
    const noopBatchJobs = await noopRate(config, 'bench-noop-batch', jobs, () => ({
      kind: 'missing_grant',
      items: Array.from({ length: batchSize }, () => ({ id: randomUUID(), generation: 0 })),
    }));
    return {
      name: 'compensation',
      metrics: [
        { name: 'compensations applied', value: rate, unit: 'discrepancies/s', aim: '>= 5000' },
        { name: 'compensation jobs', value: jobs / seconds, unit: 'jobs/s' },
        { name: 'BullMQ no-op, one job per discrepancy', value: noopPerDiscrepancy, unit: 'jobs/s' },
        { name: 'BullMQ no-op, batch jobs', value: noopBatchJobs, unit: 'jobs/s' },
        { name: 'compensations / no-op per-discrepancy jobs', value: rate / noopPerDiscrepancy, unit: 'ratio', aim: '>= 0.33' },
      ],
      notes: [
        `${DISCREPANCIES} missing_grant discrepancies in ${jobs} jobs of up to ${batchSize} (RECON_COMPENSATION_BATCH), worker concurrency ${CONCURRENCY}, pools of ${CONCURRENCY + 2} connections per database.`,
        'Time runs from the first enqueue (claims in the recon DB + addBulk) to the last discrepancy seen resolved in the recon DB (polled every 100 ms); every grant writes a ledger row and its point.granted outbox row, with invariant checks before and after.',
        `No-op rates use the compensation queue's job options (attempts, backoff, retention) and a worker of concurrency 50, in the same Redis and the same run; ${((jobs / seconds / noopBatchJobs) * 100).toFixed(1)} % of the batch-job no-op rate is spent on real jobs, so the SQL dominates.`,
        `Verified: ${check[0]!.n} ledger entries after the run (one per user).`,
      ],
    };
  } finally {
    await queue.close();
    await producer.disconnect();
    await closeDatabases(dbs);
    await deleteKeys(redis, `${config.namespace}*`);
    redis.disconnect();
    await Promise.all(Object.values(config.databases).map((url) => dropDatabase(url)));
  }
}
