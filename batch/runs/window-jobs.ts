/**
 * Window jobs: the windows of a distributed run (`RECON_RUN_MODE=workers`),
 * a few consecutive ones per job, on a queue every `recon worker` serves.
 *
 * The run's coordinator (the process that took the run: `recon run`, or the
 * worker that took the run job) holds the checks' advisory locks and plans
 * the windows as `pending` rows; any worker compares them and commits each
 * in one recon-DB transaction that
 *
 * 1. checks the fence: the run is still `running` and its coordinator's
 *    session still holds the check's lock (a job of a run that lost its
 *    check never commits);
 * 2. skips a window another attempt completed already (a worker killed after
 *    its commit, before BullMQ heard of it);
 * 3. records the discrepancies, completes the window row, adds the counts;
 * 4. moves the watermark to the end of the contiguous prefix of completed,
 *    not held windows.
 *
 * A worker killed mid-window stops renewing its job's lock; BullMQ's stalled
 * check hands the job to another worker, which compares the window again:
 * the deterministic discrepancy ids make that a no-op.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { UnrecoverableError, type Job, type Processor, type Queue, type Worker } from 'bullmq';
import {
  countByKind,
  describeError,
  isCompensable,
  isRetryable,
  WINDOW_QUEUE,
  type CheckName,
  type Config,
  type KindCounts,
  type Logger,
  type Window,
} from '../../core/index.js';
import {
  addRunWindowCounts,
  advanceWatermark,
  checkLockFence,
  completeRunWindow,
  forwardWindowsFromWatermark,
  getWatermark,
  lockRunWindow,
  recordDiscrepancies,
  startRunWindow,
  supersedeDiscrepancies,
  type Databases,
  type DiscrepancyInput,
  type Supersession,
} from '../../db/index.js';
import { CHECKS, CHECK_NAMES_WITH_TOPIC_EVIDENCE, type CheckContext, type TopicEvidence } from '../../reconcile/index.js';
import { createQueue, createWorker, throttledErrorLog } from '../bullmq.js';
import { openCheckContext, WORKER_IDENTITY } from './context.js';
import { contiguousPrefixEnd } from './prefix.js';
import { NO_COMMIT_TIMES, commitTimeTracking, deferRecentCommits, type CommitTimeTracking } from './recent-commits.js';

/** One window of a job; dates as ISO strings (job data is JSON). */
export interface WindowJobWindow {
  start: string;
  end: string;
  /** On the forward walk: its completion may move the watermark (late re-checks and `--from/--to` ranges never do). */
  advance: boolean;
}

export interface WindowJobData {
  runId: string;
  check: CheckName;
  windows: WindowJobWindow[];
}

export interface WindowJobResult {
  /** Windows this attempt compared and committed. */
  committed: number;
  /** Windows an earlier attempt had completed already. */
  alreadyDone: number;
  /** True when the run had lost its check (or ended): nothing of the job committed from there on. */
  fenced: boolean;
}

export type WindowQueue = Queue<WindowJobData, WindowJobResult>;

/**
 * The window queue. A job is retried (a database that restarted, a deadlock)
 * with backoff; finished jobs are kept a day for the dashboard.
 */
export function createWindowQueue(config: Pick<Config, 'redisUrl' | 'namespace'>, log?: Logger): WindowQueue {
  return createQueue<WindowJobData, WindowJobResult>(
    config,
    WINDOW_QUEUE,
    {
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 86_400, count: 20_000 },
      removeOnFail: { age: 7 * 86_400, count: 20_000 },
    },
    log,
  );
}

/** Job id of the job whose first window starts at `start` (no `:` in BullMQ ids). */
export function windowJobId(runId: string, check: CheckName, start: Date): string {
  return `${runId}.${check}.${start.getTime()}`;
}

export interface WindowWorkerDeps {
  config: Config;
  dbs: Databases;
  log: Logger;
  /** As {@link RunDeps.topics}: absent, the worker opens its own reader when a job needs one (kept until it closes). */
  topics?: TopicEvidence | null;
}

/** How one window of a job ended. */
type WindowOutcome = 'committed' | 'done' | 'fenced';

/**
 * Commit one compared window of a distributed run: fence, window row,
 * discrepancies, counts and watermark in one transaction.
 */
export async function commitDistributedWindow(
  deps: Pick<WindowWorkerDeps, 'dbs' | 'log'>,
  w: {
    runId: string;
    check: CheckName;
    window: Window;
    advance: boolean;
    held: boolean;
    found: readonly DiscrepancyInput[];
    reportOnly: ReadonlySet<string>;
    supersedes: readonly Supersession[];
    rowsCompared: number;
    segmentsCompared: number;
    durationMs: number;
  },
): Promise<WindowOutcome> {
  return deps.dbs.recon.transaction(async (trx) => {
    // First: the run's row lock orders this run's commits, so the prefix below sees every window committed before it.
    if (!(await checkLockFence(trx, w.runId, w.check))) return 'fenced';
    if ((await lockRunWindow(trx, w.runId, w.check, w.window.start)) !== 'pending') return 'done';
    const counts: KindCounts = countByKind(w.found);
    const fresh = await recordDiscrepancies(trx, w.runId, w.found);
    const closed = await supersedeDiscrepancies(trx, w.supersedes);
    if (closed.length) deps.log.info({ runId: w.runId, check: w.check, superseded: closed.length }, 'closed discrepancies a finding of this window replaces');
    await completeRunWindow(trx, {
      runId: w.runId,
      check: w.check,
      start: w.window.start,
      counts,
      rowsCompared: w.rowsCompared,
      segmentsCompared: w.segmentsCompared,
      durationMs: w.durationMs,
      held: w.held,
      host: WORKER_IDENTITY.host,
      pid: WORKER_IDENTITY.pid,
      recorded: fresh.filter((f) => isCompensable(f.kind) && !w.reportOnly.has(f.id)).map((f) => f.id),
    });
    await addRunWindowCounts(trx, w.runId, w.check, counts);
    if (w.advance) {
      const [forward, watermark] = await Promise.all([forwardWindowsFromWatermark(trx, w.runId, w.check), getWatermark(trx, w.check)]);
      const end = contiguousPrefixEnd(
        forward.map((f) => ({ start: f.window_start, end: f.window_end, completed: f.status === 'completed', held: f.held })),
        watermark,
      );
      if (end) await advanceWatermark(trx, w.check, end, w.runId);
    }
    return 'committed';
  });
}

/** The processor of window jobs: compare each pending window of the job and commit it behind the fence. */
export function windowJobProcessor(deps: WindowWorkerDeps): Processor<WindowJobData, WindowJobResult> & { close(): Promise<void> } {
  const { config, dbs } = deps;
  let opened: Promise<{ ctx: CheckContext; close(): Promise<void> }> | undefined;
  let withTopics = false;
  let tracking: Promise<CommitTimeTracking> | undefined;
  const contextFor = async (check: CheckName) => {
    // One context for the worker's life; opened again with a topic reader the first time a check needs one.
    const needs = CHECK_NAMES_WITH_TOPIC_EVIDENCE.includes(check);
    if (!opened || (needs && !withTopics)) {
      const previous = opened;
      withTopics = withTopics || needs;
      opened = openCheckContext(deps, withTopics ? [check] : []);
      await previous?.then((p) => p.close()).catch(() => undefined);
    }
    return (await opened).ctx;
  };
  const processor = async (job: Job<WindowJobData, WindowJobResult>): Promise<WindowJobResult> => {
    const { runId, check: name } = job.data;
    const log = deps.log.child({ runId, check: name, jobId: job.id });
    const check = CHECKS[name];
    if (!check) throw new UnrecoverableError(`unknown check "${name}"`);
    const result: WindowJobResult = { committed: 0, alreadyDone: 0, fenced: false };
    try {
      const ctx = await contextFor(name);
      tracking ??= config.graceFrom === 'commit' ? commitTimeTracking(dbs) : Promise.resolve(NO_COMMIT_TIMES);
      const commitTimes = await tracking;
      for (const w of job.data.windows) {
        const window: Window = { start: new Date(w.start), end: new Date(w.end) };
        if (!(await startRunWindow(dbs.recon, { runId, check: name, start: window.start, host: WORKER_IDENTITY.host, pid: WORKER_IDENTITY.pid }))) {
          result.alreadyDone++;
          continue;
        }
        // Testing only: makes a window slow enough to kill its worker in the middle of it.
        if (config.runs.windowDelayMs) await sleep(config.runs.windowDelayMs);
        const t0 = performance.now();
        const cmp = await check.compare(ctx, window);
        const { kept, deferred } = w.advance
          ? await deferRecentCommits(dbs, commitTimes, cmp.found, config.graceSeconds)
          : { kept: cmp.found, deferred: [] as DiscrepancyInput[] };
        if (deferred.length)
          log.info(
            { window, deferred: deferred.length },
            'rows committed less than the grace ago: the watermark stays before this window, a later run checks it again',
          );
        const outcome = await commitDistributedWindow(deps, {
          runId,
          check: name,
          window,
          advance: w.advance,
          held: deferred.length > 0,
          found: kept,
          reportOnly: new Set(kept.filter((k) => k.details?.compensation === 'report').map((k) => k.id)),
          supersedes: cmp.supersedes ?? [],
          rowsCompared: cmp.rowsCompared,
          segmentsCompared: cmp.segmentsCompared,
          durationMs: Math.round(performance.now() - t0),
        });
        if (outcome === 'fenced') {
          log.warn({ window }, 'the run no longer holds its check (it ended, or its coordinator lost the lock): dropping the rest of the job');
          result.fenced = true;
          break;
        }
        if (outcome === 'done') result.alreadyDone++;
        else result.committed++;
        await job.updateProgress({ windowsDone: result.committed + result.alreadyDone, windowsTotal: job.data.windows.length }).catch(() => undefined);
      }
    } catch (err) {
      const { message } = describeError(err);
      log.error({ err: message }, 'window job failed');
      throw isRetryable(err) ? err : new UnrecoverableError(message);
    }
    return result;
  };
  return Object.assign(processor, {
    async close() {
      await opened?.then((p) => p.close()).catch(() => undefined);
    },
  });
}

/**
 * A worker of the window queue. The job lock (`RECON_JOB_LOCK_MS`) is
 * renewed while a job runs; a worker that dies stops renewing it and the
 * stalled check, every lock period, gives the job to another worker (up to
 * five times: a job that kills its workers is not retried forever).
 */
export function createWindowWorker(deps: WindowWorkerDeps, { concurrency = 1 }: { concurrency?: number } = {}): Worker<WindowJobData, WindowJobResult> {
  const processor = windowJobProcessor(deps);
  const lockMs = deps.config.compensation.lockMs;
  const worker = createWorker<WindowJobData, WindowJobResult>(deps.config, WINDOW_QUEUE, processor, {
    concurrency,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: 5,
  });
  worker.on('error', throttledErrorLog(deps.log, 'window worker error', { queue: WINDOW_QUEUE }, 'error'));
  worker.on('closed', () => void processor.close());
  return worker;
}
