/**
 * The queue of reconcile runs. The scheduler (one job per cron tick) and the
 * API (one job per request) add jobs; `recon worker` and `recon serve` run
 * them through `executeRun`, then call the `afterRun` hook (the CLI hands in
 * the report's delivery: this layer knows nothing of reports).
 *
 * Single flight: a cron job's id is derived from its tick, so any number of
 * schedulers queue one job per tick; `executeRun` itself takes a per-check
 * advisory lock, so a run whose checks are busy ends `skipped` with a reason.
 */
import { randomUUID } from 'node:crypto';
import { UnrecoverableError, type Job, type Processor, type Queue, type Worker } from 'bullmq';
import {
  ALL_CHECK_NAMES,
  describeError,
  isRetryable,
  RUN_QUEUE,
  type CheckKindCounts,
  type CheckName,
  type Config,
  type Logger,
  type RunStatus,
  type RunTrigger,
} from '../../core/index.js';
import type { Databases } from '../../db/index.js';
import { createQueue, createWorker, throttledErrorLog } from '../bullmq.js';
import type { EnqueueCompensations, RunDeps, RunOptions, RunSummary } from './types.js';
import type { AlertSink } from '../alerts/index.js';

/** The run orchestration, injected (tests hand in a stand-in; the CLI the real `executeRun`). */
export type ExecuteRun = (deps: RunDeps, options: RunOptions) => Promise<RunSummary>;

/** A queued run. Dates travel as ISO strings (job data is JSON). */
export interface RunJobData {
  runId: string;
  checks: CheckName[];
  trigger: RunTrigger;
  from?: string;
  to?: string;
  dryRun?: boolean;
  /** `true`: report whatever the policy; `false`: no report; absent: `REPORT_POLICY`. */
  email?: boolean;
  /** The cron tick this job stands for (scheduled runs only). */
  tick?: string;
}

/** What the after-run hook delivered (a report), kept in the job's result. */
export interface AfterRunResult {
  subject: string;
  htmlPath?: string;
  emlPath?: string;
  emailedTo: string[];
}

/**
 * Called after a run that started (not after a skipped one): `email` is the
 * job's flag (`true` report whatever the policy, `false` none, absent: the
 * policy). A hook that throws is logged; it never fails the run.
 */
export type AfterRun = (runId: string, options: { email?: boolean; log: Logger }) => Promise<AfterRunResult | undefined>;

export interface RunJobResult {
  runId: string;
  status: RunStatus;
  counts: CheckKindCounts;
  windows: number;
  reason?: string;
  report?: AfterRunResult;
}

export type RunQueue = Queue<RunJobData, RunJobResult>;

/**
 * The run queue. A run is not retried by BullMQ (attempts 1): a failed run
 * leaves its watermark where it stopped and the next run continues from there.
 * Finished jobs are kept 14 days so a tick's job id keeps deduplicating late
 * schedulers and the dashboard can show them.
 */
export function createRunQueue(config: Pick<Config, 'redisUrl' | 'namespace'>, log?: Logger): RunQueue {
  return createQueue<RunJobData, RunJobResult>(
    config,
    RUN_QUEUE,
    {
      attempts: 1,
      removeOnComplete: { age: 14 * 86_400, count: 5000 },
      removeOnFail: { age: 30 * 86_400, count: 5000 },
    },
    log,
  );
}

/** Job id of the scheduled run of `tick` (BullMQ ids may not contain `:`). */
export function cronJobId(tick: Date): string {
  return `cron-${tick.toISOString().replaceAll(':', '-')}`;
}

export interface QueueRunRequest {
  checks?: CheckName[];
  trigger: RunTrigger;
  from?: Date;
  to?: Date;
  dryRun?: boolean;
  email?: boolean;
  /** Cron tick: makes the job id deterministic, so a tick queues one job whatever the number of schedulers. */
  tick?: Date;
}

export interface QueuedRun {
  runId: string;
  jobId: string;
  /** False when a job with this id already existed (another scheduler queued this tick first). */
  created: boolean;
}

/** Queue one run; its run id is known at once (the API returns it before the run starts). */
export async function queueRun(queue: RunQueue, req: QueueRunRequest): Promise<QueuedRun> {
  const runId = randomUUID();
  const jobId = req.tick ? cronJobId(req.tick) : `run-${runId}`;
  const data: RunJobData = {
    runId,
    checks: req.checks?.length ? req.checks : [...ALL_CHECK_NAMES],
    trigger: req.trigger,
    ...(req.from ? { from: req.from.toISOString() } : {}),
    ...(req.to ? { to: req.to.toISOString() } : {}),
    ...(req.dryRun ? { dryRun: true } : {}),
    ...(req.email !== undefined ? { email: req.email } : {}),
    ...(req.tick ? { tick: req.tick.toISOString() } : {}),
  };
  await queue.add(req.trigger, data, { jobId });
  // Adding an id that exists is a no-op in Redis (atomic), but the client still
  // answers with our data: read the stored job back to learn whose it is.
  const stored = await queue.getJob(jobId);
  const owner = stored?.data.runId ?? runId;
  return { runId: owner, jobId, created: owner === runId };
}

export interface RunProcessorDeps {
  config: Config;
  dbs: Databases;
  log: Logger;
  executeRun: ExecuteRun;
  /** Hands new discrepancies to the compensation queue; absent: the sweeper queues them. */
  enqueue?: EnqueueCompensations;
  /** After each run that started: the report's delivery, wired by the CLI. */
  afterRun?: AfterRun;
  /** Aborted on shutdown: a run in hand stops after its current window (the next run resumes from the watermark). */
  signal?: AbortSignal;
  /** Where runs' alerts go. */
  alerts?: AlertSink;
  /** Workers mode: the runs' windows go to the window queue (see {@link RunDeps.windows}). */
  windows?: RunDeps['windows'];
}

/** The processor of run jobs: execute, then the after-run hook (one that fails is logged, it does not fail the run). */
export function runJobProcessor(deps: RunProcessorDeps): Processor<RunJobData, RunJobResult> {
  return async (job: Job<RunJobData, RunJobResult>) => {
    const d = job.data;
    const log = deps.log.child({ runId: d.runId, jobId: job.id, trigger: d.trigger });
    let summary: RunSummary;
    try {
      summary = await deps.executeRun(
        {
          config: deps.config,
          dbs: deps.dbs,
          log,
          ...(deps.enqueue ? { enqueue: deps.enqueue } : {}),
          ...(deps.alerts ? { alerts: deps.alerts } : {}),
          ...(deps.windows ? { windows: deps.windows } : {}),
        },
        {
          runId: d.runId,
          checks: d.checks,
          trigger: d.trigger,
          ...(d.from ? { from: new Date(d.from) } : {}),
          ...(d.to ? { to: new Date(d.to) } : {}),
          dryRun: d.dryRun ?? false,
          ...(deps.signal ? { signal: deps.signal } : {}),
          onProgress: (e) => {
            void job.updateProgress({ check: e.check, windowsDone: e.windowsDone, windowsTotal: e.windowsTotal ?? null }).catch(() => undefined);
          },
        },
      );
    } catch (err) {
      const { message } = describeError(err);
      log.error({ err: message }, 'run failed');
      throw isRetryable(err) ? err : new UnrecoverableError(message);
    }
    if (summary.status === 'skipped') log.warn({ reason: summary.reason }, 'run did not start: its checks are busy');
    else log.info({ status: summary.status, windows: summary.windows, counts: summary.counts }, 'run finished');
    const result: RunJobResult = {
      runId: summary.runId,
      status: summary.status,
      counts: summary.counts,
      windows: summary.windows,
      ...(summary.reason ? { reason: summary.reason } : {}),
    };
    if (summary.status !== 'skipped' && deps.afterRun) {
      try {
        const delivered = await deps.afterRun(summary.runId, { log, ...(d.email !== undefined ? { email: d.email } : {}) });
        if (delivered) result.report = delivered;
      } catch (err) {
        log.error({ err: describeError(err).message }, 'report of the run could not be delivered');
      }
    }
    return result;
  };
}

/**
 * A worker of the run queue. Concurrency 1 per process: runs are heavy, and
 * two runs of the same checks would only skip each other. The lock outlives
 * long windows (`lockDuration`), renewed while the run goes on.
 */
export function createRunWorker(deps: RunProcessorDeps, { concurrency = 1 }: { concurrency?: number } = {}): Worker<RunJobData, RunJobResult> {
  const worker = createWorker<RunJobData, RunJobResult>(deps.config, RUN_QUEUE, runJobProcessor(deps), { concurrency, lockDuration: 120_000 });
  worker.on('error', throttledErrorLog(deps.log, 'run worker error', { queue: RUN_QUEUE }, 'error'));
  return worker;
}
