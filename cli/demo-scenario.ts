/**
 * `recon demo`: the whole system end to end on fresh demo databases.
 *
 * Starts the local broker if none answers, migrates fresh databases, runs the
 * relay, both consumers and a compensation worker in this process, streams
 * users through a realistic fault mix, waits for the stream to drain,
 * reconciles, compensates, re-checks the same range (zero drift), writes the
 * report, and stops everything it started.
 */
import { randomUUID } from 'node:crypto';
import {
  ALL_CHECK_NAMES,
  countTotal,
  DISCREPANCY_KIND_SPECS,
  formatDuration,
  isCompensable,
  Progress,
  sleep,
  waitFor,
  type CheckKindCounts,
  type CheckName,
  type Config,
  type DiscrepancyKind,
  type Logger,
} from '../core/index.js';
import { closeDatabases, connect, connectDatabases, countUnpublished, dropDatabase, migrateAll, runWindowSpan, type Databases } from '../db/index.js';
import {
  FaultInjector,
  createKafka,
  createProducer,
  ensureTopics,
  generateUsers,
  startConsumers,
  startRelay,
  topicNames,
  type Admin,
  type LoadResult,
  fetchConsumerLag,
} from '../streaming/index.js';
import {
  compensationEnqueuer,
  createCompensationQueue,
  executeRun,
  reportAfterRun,
  startCompensationWorker,
  waitForCompensations,
  type RunSummary,
} from '../batch/index.js';
import { servicesDown, servicesUp } from '../services/index.js';
import { printTable } from './context.js';

export interface DemoOptions {
  /** Users to create. Default 20,000. */
  users: number;
  /** Seed of the fault draws. Default: random (printed). */
  seed: number;
  out: NodeJS.WritableStream;
}

export interface DemoResult {
  before: CheckKindCounts;
  after: CheckKindCounts;
  /** Invariant-breaking discrepancies left after compensation (the demo's verdict: 0). */
  remaining: number;
  reportPath: string | undefined;
  injected: Record<string, number>;
}

/** The fault mix of the demo, as fractions of all users created. */
export const DEMO_FAULTS = { rollback: 0.01, lose: 0.01, duplicate: 0.01, poison: 0.001 } as const;
/** Share of users created by the naive direct-mode producer (where rollbacks happen). */
const DIRECT_SHARE = 0.1;

function demoDatabaseUrl(url: string): string {
  const u = new URL(url);
  u.pathname = `${u.pathname}_demo`;
  return u.toString();
}

/** The demo's configuration: its own databases and namespace, a short grace so it finishes in minutes. */
export function demoConfig(base: Config): Config {
  return {
    ...base,
    databases: {
      users: demoDatabaseUrl(base.databases.users),
      points: demoDatabaseUrl(base.databases.points),
      recon: demoDatabaseUrl(base.databases.recon),
    },
    // The demo's own databases, written by the same (administrator's) credentials: no writer URL of the estate's.
    writerDatabases: {},
    namespace: `${base.namespace ? `${base.namespace}-` : ''}demo-${randomUUID().slice(0, 6)}`,
    graceSeconds: 2,
    start: undefined,
    report: { ...base.report, policy: 'always' },
  };
}

export async function runDemo(base: Config, log: Logger, options: DemoOptions): Promise<DemoResult> {
  const out = options.out;
  const say = (line: string) => out.write(`${line}\n`);
  const t0 = Date.now();
  const step = (n: number, text: string) => say(`\n[${n}/8] ${text}  (${formatDuration((Date.now() - t0) / 1000)})`);
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((err: Error) => log.warn({ err: err.message }, 'demo cleanup step failed'));
  };

  try {
    step(1, 'Kafka');
    const up = await servicesUp(base, { log });
    if (up.action === 'started') {
      say(`  started the local broker (pid ${up.pid}) in ${formatDuration(up.ms / 1000)}; it is stopped at the end`);
      cleanups.push(() => servicesDown());
    } else {
      say(`  broker answers at ${up.brokers.join(',')}`);
    }

    step(2, 'fresh demo databases and topics');
    const config = demoConfig(base);
    for (const url of Object.values(config.databases)) await dropDatabase(url);
    await migrateAll(config);
    const dbs: Databases = connectDatabases(config, { max: 4, applicationName: 'recon-demo' });
    cleanups.push(() => closeDatabases(dbs));
    const kafka = createKafka(config, { clientId: 'recon-demo', logger: log });
    const admin: Admin = kafka.admin();
    await admin.connect();
    const topics = topicNames(config);
    await ensureTopics(admin, topics.all);
    cleanups.push(async () => {
      await admin.deleteTopics({ topics: topics.all, timeout: 30_000 }).catch(() => undefined);
      await admin.disconnect();
    });
    say(
      `  databases ${Object.values(config.databases)
        .map((u) => new URL(u).pathname.slice(1))
        .join(', ')}; namespace ${config.namespace}`,
    );

    step(3, 'stream: relay, consumers (point-service, user-service-balances) and a compensation worker');
    const relay = await startRelay(config, { log });
    cleanups.push(() => relay.stop());
    const consumers = await startConsumers(config, { log, concurrency: 3 });
    cleanups.push(() => consumers.stop());
    const producer = createProducer(kafka);
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    const workerDbs = connectDatabases(config, { max: 6, applicationName: 'recon-demo-worker' });
    cleanups.push(() => closeDatabases(workerDbs));
    const worker = await startCompensationWorker({ config, dbs: workerDbs, producer, log });
    cleanups.push(() => worker.close());
    const queue = createCompensationQueue(config);
    cleanups.push(() => queue.obliterate({ force: true }).then(() => queue.close()));

    step(4, `create ${options.users} users with faults (seed ${options.seed})`);
    const injected = await createDemoUsers(config, producer, options);
    say(
      `  injected: ${Object.entries(injected)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ')}`,
    );

    step(5, 'wait for the stream to drain');
    await drain(config, dbs, admin, say);
    // The safe upper bound is now − grace: let the last writes age past it.
    await sleep((config.graceSeconds + 1) * 1000);

    step(6, 'reconcile: find the drift and queue compensations');
    const enqueue = compensationEnqueuer({ db: dbs.recon, queue, config });
    // The demo shows convergence on its own: the blast-radius guard is bypassed, and that is kept in the audit trail.
    const run = await executeRun({ config, dbs, log, enqueue }, { checks: [...ALL_CHECK_NAMES], trigger: 'demo', approveAll: true, actor: 'recon demo' });
    if (run.status !== 'completed') throw new Error(`reconcile run ${run.status}: ${run.reason ?? ''}`);
    const before = run.counts;
    say(`  run ${run.runId}: ${run.windows} window(s), ${run.queued.length} compensations queued`);
    const bar = new Progress({ label: 'compensations settled', total: run.queued.length, stream: process.stderr });
    const settled = await waitForCompensations({ db: dbs.recon }, run.queued, { progress: bar, timeoutMs: 180_000 });
    bar.finish();
    say(`  compensations: ${settled.counts.resolved} resolved, ${settled.counts.failed} failed, ${settled.counts.queued + settled.counts.detected} pending`);

    step(7, 're-check the same range after compensation');
    await drain(config, dbs, admin, say);
    await sleep((config.graceSeconds + 1) * 1000);
    const after = await recheck(config, dbs, log, run);
    const remaining = countTotal(after, isCompensable);
    printDrift(before, after, out);

    step(8, 'report');
    const delivery = await reportAfterRun({ config, dbs, log, admin }, run.runId, { email: true });
    const reportPath = delivery?.htmlPath;
    say(`  report: ${reportPath ?? '(not written)'}${delivery?.emlPath ? ` and ${delivery.emlPath}` : ''}`);
    say(
      remaining === 0
        ? `\nzero drift: every committed user nets ${config.signupBonusPoints} points, every orphan nets 0, every event is published and consumed (${formatDuration((Date.now() - t0) / 1000)})`
        : `\n${remaining} discrepancies remain after compensation — see the report`,
    );
    return { before, after, remaining, reportPath, injected };
  } finally {
    await cleanup();
  }
}

/** 90% of users in outbox mode, 10% through the naive direct producer (where rollbacks live). */
async function createDemoUsers(config: Config, producer: ReturnType<typeof createProducer>, options: DemoOptions): Promise<Record<string, number>> {
  const direct = Math.round(options.users * DIRECT_SHARE);
  const outbox = options.users - direct;
  const bar = new Progress({ label: 'users', total: options.users, stream: process.stderr });
  const phases: { mode: 'outbox' | 'direct'; count: number; rollback: number }[] = [
    { mode: 'outbox', count: outbox, rollback: 0 },
    // Rollbacks are 1% of all users, all of them in the direct slice.
    { mode: 'direct', count: direct, rollback: Math.min(1, DEMO_FAULTS.rollback / DIRECT_SHARE) },
  ];
  const injected = { rollback: 0, lose: 0, duplicate: 0, poison: 0 };
  let before = 0;
  const usersDb = connect(config.databases.users, { max: 8, applicationName: 'recon-demo-users' });
  try {
    for (const [i, phase] of phases.entries()) {
      const faults = new FaultInjector({ ...DEMO_FAULTS, rollback: phase.rollback, seed: options.seed + i });
      const result: LoadResult = await generateUsers(
        { db: usersDb, producer, faults, userCreatedTopic: topicNames(config).userCreated },
        {
          count: phase.count,
          mode: phase.mode,
          onProgress: (d) => bar.set(before + d.committed + d.rolledBack, `${injected.rollback + faults.injected.rollback} rolled back`),
        },
      );
      before += result.committed + result.rolledBack;
      for (const k of Object.keys(injected) as (keyof typeof injected)[]) injected[k] += result.injected?.[k] ?? 0;
    }
  } finally {
    bar.finish();
    await usersDb.destroy();
  }
  return injected;
}

/** Wait until both outboxes are published and both consumer groups have no lag. */
async function drain(config: Config, dbs: Databases, admin: Admin, say: (line: string) => void): Promise<void> {
  const started = Date.now();
  await waitFor(
    'the stream to drain',
    async () => {
      const [users, points] = await Promise.all([countUnpublished(dbs.users), countUnpublished(dbs.points)]);
      const lag = await fetchConsumerLag(admin, config);
      const unpublished = users + points;
      const behind = lag.reduce((s, l) => s + l.lag, 0);
      return unpublished === 0 && behind === 0;
    },
    { timeoutMs: 180_000, intervalMs: 500 },
  );
  say(`  drained in ${formatDuration((Date.now() - started) / 1000)}`);
}

/** Re-check the range the run covered, recording nothing: what drift is left? */
async function recheck(config: Config, dbs: Databases, log: Logger, run: RunSummary): Promise<CheckKindCounts> {
  const span = await runWindowSpan(dbs.recon, run.runId);
  if (!span) return {};
  const { from, to } = span;
  const summary = await executeRun({ config, dbs, log }, { checks: [...ALL_CHECK_NAMES], trigger: 'demo', from, to, dryRun: true });
  return summary.counts;
}

export function compensableTotal(counts: CheckKindCounts): number {
  let total = 0;
  for (const kinds of Object.values(counts)) {
    for (const [kind, n] of Object.entries(kinds ?? {})) if (isCompensable(kind as DiscrepancyKind)) total += n ?? 0;
  }
  return total;
}

function printDrift(before: CheckKindCounts, after: CheckKindCounts, out: NodeJS.WritableStream): void {
  const rows: Record<string, unknown>[] = [];
  const reportOnly = new Set<DiscrepancyKind>();
  for (const check of ALL_CHECK_NAMES as CheckName[]) {
    const kinds = new Set([...Object.keys(before[check] ?? {}), ...Object.keys(after[check] ?? {})]);
    for (const kind of [...kinds].sort()) {
      rows.push({
        check,
        kind,
        before: before[check]?.[kind as DiscrepancyKind] ?? 0,
        after: after[check]?.[kind as DiscrepancyKind] ?? 0,
        compensation: isCompensable(kind as DiscrepancyKind) ? 'compensated' : 'report only',
      });
      if (!isCompensable(kind as DiscrepancyKind)) reportOnly.add(kind as DiscrepancyKind);
    }
  }
  out.write('\n');
  printTable(rows, out);
  for (const kind of reportOnly) out.write(`${kind}: ${DISCREPANCY_KIND_SPECS[kind].note}\n`);
}
