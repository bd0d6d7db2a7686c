/**
 * The stream's Postgres work per event, stage by stage, measured apart from
 * everything else: one connection per database, no Kafka, no other process
 * competing for the CPU. The streaming benchmark's end-to-end figures move
 * by ±4% or more from one run to the next on shared machines; a change that
 * saves a few microseconds a row cannot show there, but shows here.
 *
 * Per round, the statements of each stage as the stream runs them, on the
 * real schema and code:
 * - generator: `USERS` users and their outbox rows in one transaction (the
 *   user service's outbox mode);
 * - relay (users, then points): one claim of up to `USERS` rows and its
 *   write-back, with positions made up (nothing is sent);
 * - point consumer: per `CONSUMER_BATCH` events, the consumed-events rows,
 *   the grants and their `point.granted` outbox rows, in one transaction;
 * - balance consumer: per `CONSUMER_BATCH` events, the consumed-events rows
 *   and the balances, in one transaction.
 *
 * Figures: the backend's CPU time (Linux `/proc/<pid>/stat`, user + system)
 * and the wall time of each stage, summed over `RECON_BENCH_STATEMENT_ROUNDS` rounds and divided by
 * the rows; the first round (cold caches, plans) is left out.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import { CONSUMER_GROUPS, decodePointGranted, decodeUserCreated, namespaced, type PointGrantedEvent, type UserCreatedEvent } from '../core/index.js';
import { claimUnpublished, closeDatabases, connectDatabases, dropDatabase, markPublished, migrateAll } from '../db/index.js';
import { applyOnce, balanceHandler, createUsersOutbox, pointServiceHandler, topicNames, type BatchHandler, type ConsumedMessage } from '../streaming/index.js';
import { isolatedConfig, type BenchContext, type BenchResult } from './index.js';

const USERS = 4000;
const CONSUMER_BATCH = 1000;

type Stage = 'generator' | 'relay, users' | 'point consumer' | 'relay, points' | 'balance consumer';
const STAGES: readonly Stage[] = ['generator', 'relay, users', 'point consumer', 'relay, points', 'balance consumer'];

/** CPU milliseconds (user + system) a process has used; undefined without `/proc`. */
function cpuMs(pid: number): number | undefined {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return undefined;
  const fields = readFileSync(stat, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function backendPid(db: Knex): Promise<number> {
  const { rows } = await db.raw<{ rows: { pid: number }[] }>('select pg_backend_pid() as pid');
  return rows[0]!.pid;
}

/** The consumer's transaction for one batch (its `applyOnce`: consumed-events rows, then the effect of the new ones). */
async function consume<T>(db: Knex, handler: BatchHandler<T>, events: readonly T[], offset: number): Promise<void> {
  const messages: ConsumedMessage<T>[] = events.map((event, i) => {
    const { eventId, occurredAt } = handler.identify(event);
    return { event, eventId, occurredAt, partition: i % 12, offset: offset + i, message: { offset: String(offset + i) } as never };
  });
  await db.transaction((trx) => applyOnce(trx, handler, messages));
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const rounds = ctx.config.benchStatementRounds;
  const config = isolatedConfig(ctx.config, 'stmt');
  await migrateAll(config);
  const dbs = connectDatabases(config, { max: 1 });
  try {
    const topics = topicNames(config);
    const pointHandler = pointServiceHandler({
      db: dbs.points,
      group: namespaced(config, CONSUMER_GROUPS.pointService),
      userCreatedTopic: topics.userCreated,
      pointGrantedTopic: topics.pointGranted,
      signupBonusPoints: config.signupBonusPoints,
    });
    const balances = balanceHandler({ db: dbs.users, group: namespaced(config, CONSUMER_GROUPS.userServiceBalances), pointGrantedTopic: topics.pointGranted });
    const pids = { users: await backendPid(dbs.users), points: await backendPid(dbs.points) };
    const totals = new Map<Stage, { cpu: number; wall: number; rows: number }>(STAGES.map((s) => [s, { cpu: 0, wall: 0, rows: 0 }]));
    let measured = true;
    const timed = async <R>(stage: Stage, db: 'users' | 'points', rows: number, round: number, fn: () => Promise<R>): Promise<R> => {
      const cpu0 = cpuMs(pids[db]);
      const t0 = performance.now();
      const result = await fn();
      const wall = performance.now() - t0;
      const cpu1 = cpuMs(pids[db]);
      if (round > 0) {
        const t = totals.get(stage)!;
        t.wall += wall;
        t.rows += rows;
        if (cpu0 === undefined || cpu1 === undefined) measured = false;
        else t.cpu += cpu1 - cpu0;
      }
      return result;
    };
    const relayRound = (db: Knex, round: number) =>
      db.transaction(async (trx) => {
        const claimed = await claimUnpublished(trx, USERS);
        await markPublished(
          trx,
          claimed.map((c, i) => ({ event_id: c.event_id, partition: i % 12, offset: round * USERS + i })),
        );
        return claimed;
      });
    for (let round = 0; round <= rounds; round++) {
      await timed('generator', 'users', USERS, round, () => createUsersOutbox({ db: dbs.users, userCreatedTopic: topics.userCreated }, USERS));
      const users = await timed('relay, users', 'users', USERS, round, () => relayRound(dbs.users, round));
      const created = users.map((r) => (decodeUserCreated(r.payload) as { ok: true; event: UserCreatedEvent }).event);
      for (let i = 0; i < created.length; i += CONSUMER_BATCH) {
        const batch = created.slice(i, i + CONSUMER_BATCH);
        await timed('point consumer', 'points', batch.length, round, () => consume(dbs.points, pointHandler, batch, round * USERS + i));
      }
      const points = await timed('relay, points', 'points', USERS, round, () => relayRound(dbs.points, round));
      const granted = points.map((r) => (decodePointGranted(r.payload) as { ok: true; event: PointGrantedEvent }).event);
      for (let i = 0; i < granted.length; i += CONSUMER_BATCH) {
        const batch = granted.slice(i, i + CONSUMER_BATCH);
        await timed('balance consumer', 'users', batch.length, round, () => consume(dbs.users, balances, batch, round * USERS + i));
      }
      if (users.length !== USERS || points.length !== USERS) throw new Error(`round ${round}: ${users.length} and ${points.length} rows relayed, not ${USERS}`);
    }
    const perRow = (stage: Stage, what: 'cpu' | 'wall') => {
      const t = totals.get(stage)!;
      return Math.round(((t[what] * 1000) / t.rows) * 10) / 10;
    };
    const metrics = STAGES.flatMap((s) => [
      ...(measured ? [{ name: `${s}: Postgres CPU per event`, value: perRow(s, 'cpu'), unit: 'µs' }] : []),
      { name: `${s}: wall time per event`, value: perRow(s, 'wall'), unit: 'µs' },
    ]);
    const pipeline = (['relay, users', 'point consumer', 'relay, points', 'balance consumer'] as const).reduce(
      (sum, s) => sum + perRow(s, measured ? 'cpu' : 'wall'),
      0,
    );
    metrics.push({
      name: `pipeline (both relays and both consumers): Postgres ${measured ? 'CPU' : 'wall time'} per user`,
      value: Math.round(pipeline * 10) / 10,
      unit: 'µs',
    });
    for (const m of metrics) ctx.log(`stream-statements: ${m.name} ${m.value} ${m.unit}`);
    return {
      name: 'stream-statements',
      metrics,
      notes: [
        `${rounds} rounds of ${USERS} users after one warm-up round, one connection per database (RECON_BENCH_STATEMENT_ROUNDS sets the rounds); consumer transactions of ${CONSUMER_BATCH} events; no Kafka (the relay's positions are made up).`,
        measured ? 'CPU: the backend process (/proc), 10 ms ticks summed over the rounds.' : 'No /proc here: wall times only.',
      ],
    };
  } finally {
    await closeDatabases(dbs);
    await Promise.all(Object.values(config.databases).map((u) => dropDatabase(u)));
  }
}
