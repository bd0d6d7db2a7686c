/**
 * Chaos suite: while users are being created, SIGKILL the relay, the
 * consumers and the worker at random moments and restart them, restart the
 * Kafka broker once, flush the namespace's Redis keys once, hold a long
 * transaction open across a run; then reconcile, and check the invariants of
 * DESIGN.md by SQL: every committed user nets B (no lost user), nobody has two
 * grants, every orphan nets 0, every event is published and consumed or
 * dead-lettered, every balance equals the ledger.
 *
 * Seeded: CHAOS_SEED=<n> replays a run (the seed is printed either way).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_CHECK_NAMES, silentLogger as silent, sleep, userCreatedEvent, type DiscrepancyKind, isCompensable } from '../../core/index.js';
import { connect, insertOutboxEvents, type Knex } from '../../db/index.js';
import { FaultInjector, createKafka, createProducer, generateUsers, seededRandom, type Producer, fetchConsumerLag } from '../../streaming/index.js';
import { compensationEnqueuer, createCompensationQueue, executeRun, waitForCompensations } from '../../batch/index.js';
import { localKafkaPaths, servicesDown, servicesUp } from '../../services/local-kafka.js';
import { createTestEnv, deleteRedisKeys, waitFor, type TestEnv } from '../helpers/env.js';
import { cliEnv } from '../helpers/cli.js';

const SEED = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
const USERS_DIRECT = 800;
const USERS_OUTBOX = 5200;
const GRACE_SECONDS = 3;

type Role = 'relay' | 'consume' | 'worker';
const ROLE_ARGS: Record<Role, string[]> = {
  relay: ['stream', 'relay'],
  consume: ['stream', 'consume'],
  worker: ['worker', '--sweep-interval', '3', '--progress-interval', '0'],
};

/** Keeps one child per role alive, like a service manager would; counts kills and unexpected exits. */
class Supervisor {
  private readonly children = new Map<Role, ChildProcess>();
  readonly kills: Record<Role, number> = { relay: 0, consume: 0, worker: 0 };
  readonly crashes: Record<Role, number> = { relay: 0, consume: 0, worker: 0 };
  private stopping = false;
  private readonly logs: string[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  start(role: Role): void {
    const child = spawn(process.execPath, ['bin/recon.js', ...ROLE_ARGS[role]], { env: this.env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => {
      this.logs.push(`[${role}] ${d.toString().trimEnd()}`);
      if (this.logs.length > 200) this.logs.shift();
    });
    child.on('exit', (_code, signal) => {
      if (this.children.get(role) !== child || this.stopping) return;
      this.children.delete(role);
      if (signal !== 'SIGKILL') this.crashes[role] += 1;
      // Restart after a short pause, as a service manager would.
      setTimeout(() => !this.stopping && !this.children.has(role) && this.start(role), 500).unref();
    });
    this.children.set(role, child);
  }

  kill(role: Role): void {
    const child = this.children.get(role);
    if (!child) return;
    this.kills[role] += 1;
    child.kill('SIGKILL');
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.children.values()].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
            c.once('exit', () => (clearTimeout(t), resolve()));
            c.kill('SIGTERM');
          }),
      ),
    );
    this.children.clear();
  }

  recentLogs(): string {
    return this.logs.slice(-30).join('\n');
  }
}

describe(`chaos: convergence under faults (seed ${SEED})`, () => {
  let env: TestEnv;
  const brokerPort = 20000 + Math.floor(Math.random() * 9000) * 2;
  const brokerPaths = localKafkaPaths(join(tmpdir(), `recon-chaos-kafka-${randomUUID().slice(0, 8)}`));
  const broker = { kafkaBrokers: [`127.0.0.1:${brokerPort}`] };

  beforeAll(async () => {
    process.stdout.write(`chaos seed: ${SEED} (replay with CHAOS_SEED=${SEED} npm run test:chaos)\n`);
    await servicesUp(broker, { paths: brokerPaths });
    // Convergence on its own is the point here: the blast-radius guard (tested in test/batch/compensation/guard) is opened wide.
    env = await createTestEnv({
      env: {
        KAFKA_BROKERS: broker.kafkaBrokers[0]!,
        RECON_GRACE_SECONDS: String(GRACE_SECONDS),
        RECON_WINDOW_SECONDS: '60',
        RECON_AUTO_COMPENSATE_LIMIT: '10000000',
        RECON_AUTO_COMPENSATE_RATIO: '1',
      },
    });
  }, 180_000);

  afterAll(async () => {
    await env?.cleanup().catch(() => undefined);
    await servicesDown({ paths: brokerPaths }).catch(() => undefined);
    rmSync(brokerPaths.home, { recursive: true, force: true });
  }, 120_000);

  it('restores every invariant, with zero double grants and zero lost users', async () => {
    const random = seededRandom(SEED);
    const { config, dbs } = env;
    const B = config.signupBonusPoints;
    const supervisor = new Supervisor(
      cliEnv(config, {
        RECON_GRACE_SECONDS: String(GRACE_SECONDS),
        RECON_WINDOW_SECONDS: '60',
        RECON_SWEEP_STALE_SECONDS: '5',
        RECON_JOB_LOCK_MS: '5000',
      }),
    );
    const roles: Role[] = ['relay', 'consume', 'worker'];
    roles.forEach((r) => supervisor.start(r));
    const kafka = createKafka(config, { clientId: 'chaos' });
    const producer: Producer = createProducer(kafka);
    await producer.connect();
    const admin = kafka.admin();
    await admin.connect();
    const usersDb = connect(config.databases.users, { max: 8 });
    const queue = createCompensationQueue(config);
    const injected = { rollback: 0, lose: 0, duplicate: 0, poison: 0 };
    const chaos = { brokerRestarts: 0, redisFlushes: 0, longTransactions: 0, loadRetries: 0 };
    let longTrx: Knex.Transaction | undefined;

    try {
      // Load and chaos at once.
      let loading = true;
      const load = (async () => {
        const phases = [
          { mode: 'direct' as const, total: USERS_DIRECT, faults: { rollback: 0.1, lose: 0.01, duplicate: 0.01, poison: 0.005 } },
          { mode: 'outbox' as const, total: USERS_OUTBOX, faults: { lose: 0.01, duplicate: 0.01, poison: 0.002 } },
        ];
        for (const [i, phase] of phases.entries()) {
          const faults = new FaultInjector({ ...phase.faults, seed: SEED + i });
          // Chunks, so a chunk cut short by the broker restart is simply tried again.
          for (let done = 0; done < phase.total;) {
            const count = Math.min(400, phase.total - done);
            try {
              await generateUsers({ db: usersDb, producer, faults, userCreatedTopic: env.topics.userCreated }, { count, mode: phase.mode, rate: 300 });
            } catch {
              chaos.loadRetries += 1;
              await sleep(1000);
              continue;
            }
            done += count;
          }
          for (const k of Object.keys(injected) as (keyof typeof injected)[]) injected[k] += faults.injected[k];
        }
        loading = false;
      })();

      const monkey = (async () => {
        let brokerRestarted = false;
        const started = Date.now();
        while (loading) {
          await sleep(1500 + random() * 3000);
          if (!loading) break;
          if (!brokerRestarted && Date.now() - started > 8000) {
            brokerRestarted = true;
            chaos.brokerRestarts += 1;
            await servicesDown({ paths: brokerPaths });
            await sleep(2000 + random() * 3000);
            await servicesUp(broker, { paths: brokerPaths });
            continue;
          }
          // The least-killed roles first (ties drawn at random), so every run kills each of them.
          const fewest = Math.min(...roles.map((r) => supervisor.kills[r]));
          const candidates = roles.filter((r) => supervisor.kills[r] === fewest);
          supervisor.kill(candidates[Math.floor(random() * candidates.length)]!);
        }
      })();
      await Promise.all([load, monkey]);

      // A long transaction: a user written, its transaction held open across the first run.
      longTrx = await usersDb.transaction();
      chaos.longTransactions += 1;
      const { rows } = await longTrx.raw<{ rows: { now: Date }[] }>('select now() as now');
      const longUser = randomUUID();
      const at = rows[0]!.now;
      await longTrx('users').insert({ id: longUser, email: `${longUser}@chaos.test`, created_at: at });
      const longEvent = randomUUID();
      await insertOutboxEvents(longTrx, [
        {
          event_id: longEvent,
          topic: env.topics.userCreated,
          message_key: longUser,
          occurred_at: at,
          payload: userCreatedEvent({ eventId: longEvent, userId: longUser, email: `${longUser}@chaos.test`, occurredAt: at }),
        },
      ]);
      // Let the transaction grow older than the grace period, so only the safe bound protects it.
      await sleep((GRACE_SECONDS + 2) * 1000);

      await drain(env, admin);
      await sleep((GRACE_SECONDS + 1) * 1000);
      const enqueue = compensationEnqueuer({ db: dbs.recon, queue, config });
      const queued: string[] = [];
      const run1 = await executeRun({ config, dbs, log: silent, enqueue }, { checks: [...ALL_CHECK_NAMES], trigger: 'test' });
      expect(run1.status).toBe('completed');
      queued.push(...run1.queued);

      // Redis flushed between detection and compensation; the worker killed while it compensates.
      await deleteRedisKeys(env.redis, `${config.namespace}*`);
      chaos.redisFlushes += 1;
      supervisor.kill('worker');
      await longTrx.commit();
      longTrx = undefined;

      const settled1 = await waitForCompensations({ db: dbs.recon }, run1.queued, { timeoutMs: 240_000 });
      expect(settled1.settled, supervisor.recentLogs()).toBe(true);

      // The stream delivers the long transaction's user; the next run reaches its window.
      await drain(env, admin);
      await sleep((GRACE_SECONDS + 1) * 1000);
      const run2 = await executeRun({ config, dbs, log: silent, enqueue }, { checks: [...ALL_CHECK_NAMES], trigger: 'test' });
      expect(run2.status).toBe('completed');
      queued.push(...run2.queued);
      const settled2 = await waitForCompensations({ db: dbs.recon }, run2.queued, { timeoutMs: 240_000 });
      expect(settled2.settled, supervisor.recentLogs()).toBe(true);
      await drain(env, admin);

      // ---- invariants, by SQL on the services' own tables ----
      const users: string[] = await dbs.users('users').pluck('id');
      expect(users).toContain(longUser);
      const ledger = await dbs.points.raw<{ rows: { user_id: string; net: number; grants: number }[] }>(
        `select user_id, sum(amount) as net, count(*) filter (where reason = 'signup_bonus') as grants from point_ledger group by user_id`,
      );
      const byUser = new Map(ledger.rows.map((r) => [r.user_id, r]));
      const committed = new Set(users);
      const lost = users.filter((u) => byUser.get(u)?.net !== B);
      expect(lost, 'committed users whose net signup amount is not B').toEqual([]);
      const doubled = ledger.rows.filter((r) => r.grants > 1);
      expect(doubled, 'users with two signup grants').toEqual([]);
      const orphans = ledger.rows.filter((r) => !committed.has(r.user_id));
      expect(
        orphans.filter((r) => r.net !== 0),
        'orphans that do not net 0',
      ).toEqual([]);

      for (const [outboxDb, consumedDb, group] of [
        [dbs.users, dbs.points, `${config.namespace}.point-service`],
        [dbs.points, dbs.users, `${config.namespace}.user-service-balances`],
      ] as const) {
        expect(await outboxDb('outbox').whereNull('published_at').count({ n: '*' }), 'unpublished events').toEqual([{ n: 0 }]);
        const events: string[] = await outboxDb('outbox').pluck('event_id');
        const consumed = new Set<string>(await consumedDb('consumed_events').where({ consumer_group: group }).pluck('event_id'));
        const dead = new Set<string>(await consumedDb('dead_letters').where({ consumer_group: group }).whereNotNull('event_id').pluck('event_id'));
        expect(
          events.filter((e) => !consumed.has(e) && !dead.has(e)),
          `events never consumed by ${group}`,
        ).toEqual([]);
      }

      const balances = new Map<string, number>(
        (await dbs.users('user_balances').select('user_id', 'balance')).map((r: { user_id: string; balance: number }) => [r.user_id, Number(r.balance)]),
      );
      expect(
        users.filter((u) => balances.get(u) !== B),
        'balances that differ from the ledger',
      ).toEqual([]);

      // Distinct discrepancies (a later run may look at a window again and find known ones).
      const { rows: kinds } = await dbs.recon.raw<{ rows: { kind: DiscrepancyKind; n: number }[] }>(
        'select kind, count(*) as n from discrepancies group by kind order by kind',
      );
      const totals = new Map(kinds.map((r) => [r.kind, r.n]));
      const { rows: outcome } = await dbs.recon.raw<{ rows: { status: string; n: number }[] }>(
        'select status, count(*) as n from discrepancies where id = any(?::uuid[]) group by status order by status',
        [queued],
      );
      for (const r of roles) expect(supervisor.kills[r], `SIGKILLs of ${r}`).toBeGreaterThan(0);
      const table = [
        ['seed', SEED],
        ['users committed', users.length],
        ...Object.entries(injected).map(([k, v]) => [`injected ${k}`, v]),
        ...Object.entries(supervisor.kills).map(([k, v]) => [`SIGKILL ${k}`, v]),
        ...Object.entries(supervisor.crashes).map(([k, v]) => [`unexpected exits ${k}`, v]),
        ['broker restarts', chaos.brokerRestarts],
        ['redis flushes', chaos.redisFlushes],
        ['long transactions across a run', chaos.longTransactions],
        ['load chunks retried', chaos.loadRetries],
        ...[...totals].map(([k, v]) => [`found ${k}${isCompensable(k) ? '' : ' (reported)'}`, v]),
        ...outcome.map((r) => [`compensations ${r.status}`, r.n]),
      ];
      // Why compensations failed, when any did: the first thing to read when replaying a seed.
      const { rows: reasons } = await dbs.recon.raw<{ rows: { kind: string; last_error: string | null; n: number }[] }>(
        `select kind, last_error, count(*) as n from discrepancies where status = 'failed' group by 1, 2 order by n desc limit 5`,
      );
      for (const r of reasons) table.push([`failed ${r.kind} (${r.n})`, r.last_error ?? '']);
      process.stdout.write(`\n${table.map(([k, v]) => `${String(k).padEnd(34)} ${v}`).join('\n')}\n`);
    } finally {
      await longTrx?.rollback().catch(() => undefined);
      await supervisor.stopAll();
      await queue.close();
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
      await usersDb.destroy();
    }
  }, 900_000);
});

async function drain(env: TestEnv, admin: ReturnType<ReturnType<typeof createKafka>['admin']>): Promise<void> {
  await waitFor(
    'the stream to drain',
    async () => {
      const [u, p] = await Promise.all([
        env.dbs.users('outbox').whereNull('published_at').count({ n: '*' }).first(),
        env.dbs.points('outbox').whereNull('published_at').count({ n: '*' }).first(),
      ]);
      const lag = await fetchConsumerLag(admin, env.config);
      return Number(u?.n) + Number(p?.n) === 0 && lag.every((l) => l.lag === 0);
    },
    { timeoutMs: 240_000, intervalMs: 500 },
  );
}
