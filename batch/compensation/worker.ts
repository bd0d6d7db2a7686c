/**
 * The compensation worker: runs compensation jobs against the three databases
 * and a Kafka producer, and records each discrepancy's outcome
 * (`resolved` / `failed`) in the recon DB.
 *
 * Failure handling: an outcome `retry` or a retryable error (connection lost,
 * serialization failure) lets BullMQ retry the job with backoff; the next
 * attempt handles only the discrepancies still open. A permanent error, or
 * running out of attempts, marks the open ones `failed` with the reason and
 * ends the job with `UnrecoverableError`. A worker that dies mid-job stops
 * renewing the job's lock; BullMQ's stalled check hands the job to another
 * worker, and the handlers' idempotency makes the re-run harmless.
 */
import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import { COMPENSATION_QUEUE, ReconError, describeError, isRetryable, silentLogger, type Config, type Logger } from '../../core/index.js';
import { failOpenDiscrepancies, openDiscrepancies, recordCompensationAttempts, resolveOpenDiscrepancies, type Databases } from '../../db/index.js';
import { compensate, type MessageSender } from '../../reconcile/index.js';
import { COMPENSATION_ATTEMPTS, createCompensationQueue, type CompensationJobData, type CompensationJobResult, type CompensationQueue } from './queue.js';
import { createWorker, throttledErrorLog } from '../bullmq.js';
import { startSweeper, type Sweeper } from './sweeper.js';
import { compensationsFailedAlert, type AlertSink } from '../alerts/index.js';

export interface CompensationWorkerDeps {
  config: Config;
  /** Pools sized to the concurrency (about one connection per job in flight, per database). */
  dbs: Databases;
  /** A connected producer (kafkajs `Producer` fits). */
  producer: MessageSender;
  log?: Logger;
  /** Where `compensations.failed` alerts go. */
  alerts?: AlertSink;
}

export interface CompensationWorkerOptions {
  /** Jobs run at once. Default `config.compensation.concurrency`. */
  concurrency?: number;
  /** Seconds between sweeps; 0 runs no sweeper. Default `config.compensation.sweepIntervalSeconds`. */
  sweepIntervalSeconds?: number;
  /** Staleness threshold of the sweeper. Default `config.compensation.staleSeconds`. */
  staleSeconds?: number;
  /** Job lock and stalled-check interval, ms. Default `config.compensation.lockMs`. */
  lockMs?: number;
  /** Wait for consumption of a re-sent event, ms. Default 5000. */
  consumeWaitMs?: number;
}

/** Handle one compensation job: exported so tests can run it without a worker. */
export async function processCompensationJob(
  deps: CompensationWorkerDeps & { consumeWaitMs?: number },
  job: Pick<Job<CompensationJobData>, 'data' | 'attemptsMade' | 'opts' | 'id' | 'updateData'>,
): Promise<CompensationJobResult> {
  const recon = deps.dbs.recon;
  const log = deps.log ?? silentLogger;
  const ids = job.data.items.map((i) => i.id);
  const rows = await openDiscrepancies(recon, ids);
  if (rows.length === 0) return { resolved: 0, failed: 0, effects: 0 };
  const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? COMPENSATION_ATTEMPTS);
  const openIds = rows.map((r) => r.id);
  const state = { resent: new Set(job.data.resent ?? []) };
  const resentBefore = state.resent.size;

  let outcomes;
  try {
    outcomes = await compensate({ dbs: deps.dbs, config: deps.config, producer: deps.producer, consumeWaitMs: deps.consumeWaitMs }, rows, state);
  } catch (err) {
    const { errorClass, message } = describeError(err);
    const reason = `${errorClass}: ${message}`;
    await recordCompensationAttempts(recon, openIds, reason);
    if (!isRetryable(err) || lastAttempt) {
      await failOpenDiscrepancies(
        recon,
        openIds.map((id) => ({ id, error: reason })),
      );
      log.warn({ jobId: job.id, kind: job.data.kind, err: reason }, 'compensation job failed');
      deps.alerts?.send(
        compensationsFailedAlert(
          { runId: rows[0]?.last_run_id ?? null, byKind: { [job.data.kind]: openIds.length }, lastError: reason },
          deps.config.api.publicUrl,
        ),
      );
      throw new UnrecoverableError(reason);
    }
    throw err;
  } finally {
    if (state.resent.size > resentBefore) await job.updateData({ ...job.data, resent: [...state.resent] });
  }

  const resolved = outcomes.filter((o) => o.result === 'resolved');
  const failed = outcomes.flatMap((o) => (o.result === 'failed' ? [{ id: o.id, error: o.reason }] : []));
  const retry = outcomes.flatMap((o) => (o.result === 'retry' ? [{ id: o.id, error: o.reason }] : []));
  if (lastAttempt) failed.push(...retry.map((r) => ({ id: r.id, error: `gave up after ${COMPENSATION_ATTEMPTS} attempts: ${r.error}` })));

  await Promise.all([
    resolveOpenDiscrepancies(
      recon,
      resolved.map((o) => o.id),
    ),
    failOpenDiscrepancies(recon, failed),
    lastAttempt
      ? 0
      : recordCompensationAttempts(
          recon,
          retry.map((r) => r.id),
          retry[0]?.error ?? null,
        ),
  ]);
  const result = { resolved: resolved.length, failed: failed.length, effects: resolved.filter((o) => o.result === 'resolved' && o.effect).length };
  if (failed.length) {
    log.warn({ jobId: job.id, kind: job.data.kind, failed: failed.length, reason: failed[0]?.error }, 'compensations failed');
    const failedIds = new Set(failed.map((f) => f.id));
    deps.alerts?.send(
      compensationsFailedAlert(
        {
          runId: rows.find((r) => failedIds.has(r.id))?.last_run_id ?? null,
          byKind: { [job.data.kind]: failed.length },
          lastError: failed[0]?.error ?? null,
        },
        deps.config.api.publicUrl,
      ),
    );
  }
  if (retry.length && !lastAttempt) {
    throw new ReconError('NOT_RESOLVED_YET', `${retry.length} of ${rows.length} not resolved yet: ${retry[0]!.error}`, { retryable: true });
  }
  return result;
}

export interface RunningCompensationWorker {
  worker: Worker<CompensationJobData, CompensationJobResult>;
  /** The queue the sweeper re-queues into (also what bull-board can show). */
  queue: CompensationQueue;
  sweeper: Sweeper | undefined;
  /** Stop taking jobs, let the ones in flight finish, stop the sweeper. Leaves `dbs` and `producer` to the caller. */
  close(): Promise<void>;
}

/**
 * Start a BullMQ worker on the compensation queue, and the sweeper beside it.
 * Other workers (scheduled runs) can run in the same process next to it.
 */
export async function startCompensationWorker(deps: CompensationWorkerDeps, options: CompensationWorkerOptions = {}): Promise<RunningCompensationWorker> {
  const c = deps.config.compensation;
  const lockMs = options.lockMs ?? c.lockMs;
  const log = deps.log ?? silentLogger;
  const worker = createWorker<CompensationJobData, CompensationJobResult>(
    deps.config,
    COMPENSATION_QUEUE,
    (job) => processCompensationJob({ ...deps, consumeWaitMs: options.consumeWaitMs }, job),
    {
      concurrency: options.concurrency ?? c.concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // A job whose worker died is taken over; a job that kills every worker it meets gives up after three.
      maxStalledCount: 3,
    },
  );
  worker.on('error', throttledErrorLog(log, 'compensation worker error', { queue: COMPENSATION_QUEUE }, 'error'));
  const queue = createCompensationQueue(deps.config, log);
  const interval = options.sweepIntervalSeconds ?? c.sweepIntervalSeconds;
  const sweeper =
    interval > 0
      ? startSweeper(
          { db: deps.dbs.recon, queue, config: deps.config, log },
          { intervalMs: interval * 1000, staleSeconds: options.staleSeconds ?? c.staleSeconds },
        )
      : undefined;
  await worker.waitUntilReady();
  return {
    worker,
    queue,
    sweeper,
    async close() {
      await sweeper?.stop();
      await worker.close();
      await queue.close();
    },
  };
}
