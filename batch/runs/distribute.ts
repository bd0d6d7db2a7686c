/**
 * The coordinator's side of a distributed run: one check's planned windows
 * become `pending` rows and window jobs (see `window-jobs.ts`), and the
 * coordinator, which keeps holding the check's lock, follows them to the end:
 * progress as windows complete, a failure when a job has failed for good.
 *
 * Why plain jobs and not a BullMQ flow: a flow's parent job runs only after
 * its children, on whichever worker takes it, while the check's single
 * flight needs one live session holding the lock for the whole run. The
 * coordinator is that session, and it does what a parent would do once the
 * children are in (the guard, the run's end) itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ReconError, type CheckName, type KindCounts, type Logger, type Window } from '../../core/index.js';
import {
  addRunWindowCounts,
  carryOverCompletedWindows,
  insertPendingRunWindows,
  runRecordedIds,
  runWindowStates,
  type CheckLocks,
  type Databases,
} from '../../db/index.js';
import { batchWindows } from './prefix.js';
import type { RunProgressEvent } from './types.js';
import { windowJobId, type WindowJobData, type WindowQueue } from './window-jobs.js';

/** Between two looks at the run's windows. */
const POLL_MS = 250;
/** Between two looks at the jobs' states (a job that failed for good fails the run). */
const JOB_CHECK_MS = 3000;

export interface DistributeDeps {
  dbs: Databases;
  log: Logger;
  queue: WindowQueue;
  /** Consecutive windows per job (`RECON_RUN_WINDOWS_PER_JOB`). */
  windowsPerJob: number;
}

export interface DistributedCheck {
  runId: string;
  check: CheckName;
  planned: readonly { window: Window; advance: boolean }[];
  locks: CheckLocks;
  signal?: AbortSignal;
  onProgress?: (event: RunProgressEvent) => void | Promise<void>;
}

export interface DistributedOutcome {
  /** Windows completed (by this run's workers, or carried over from a run that died). */
  windows: number;
  counts: KindCounts;
  /** Compensable discrepancies the windows recorded: what the check's guard judges. */
  recorded: string[];
  aborted: boolean;
}

/**
 * Plan, queue and follow one check's windows. Returns when every window is
 * completed, or when `signal` aborts (the caller ends the run; window jobs
 * still queued find the run ended and commit nothing). Throws when the lock
 * connection is lost or a window job failed for good.
 */
export async function distributeCheck(deps: DistributeDeps, c: DistributedCheck): Promise<DistributedOutcome> {
  const { dbs, log, queue } = deps;
  const planned = c.planned.map((p) => ({ start: p.window.start, end: p.window.end, advance: p.advance }));
  // Windows a dead run completed beyond the watermark are taken as they are (its commits were fenced like ours).
  const carried = await carryOverCompletedWindows(dbs.recon, c.runId, c.check, planned);
  if (carried.length) {
    const counts: KindCounts = {};
    for (const w of carried) for (const [k, n] of Object.entries(w.counts)) counts[k as keyof KindCounts] = (counts[k as keyof KindCounts] ?? 0) + Number(n);
    await addRunWindowCounts(dbs.recon, c.runId, c.check, counts, carried.length);
    log.info({ runId: c.runId, check: c.check, windows: carried.length }, 'windows completed by an interrupted run are not compared again');
  }
  await insertPendingRunWindows(dbs.recon, c.runId, c.check, planned);
  const done = new Set(carried.map((w) => w.window_start.getTime()));
  const todo = planned.filter((w) => !done.has(w.start.getTime()));
  const jobs = batchWindows(todo, deps.windowsPerJob).map((batch) => ({
    name: c.check,
    data: {
      runId: c.runId,
      check: c.check,
      windows: batch.map((w) => ({ start: w.start.toISOString(), end: w.end.toISOString(), advance: w.advance })),
    } satisfies WindowJobData,
    opts: { jobId: windowJobId(c.runId, c.check, batch[0]!.start) },
  }));
  for (let i = 0; i < jobs.length; i += 500) await queue.addBulk(jobs.slice(i, i + 500));
  if (jobs.length && (await queue.getWorkersCount().catch(() => 1)) === 0)
    log.warn({ runId: c.runId, check: c.check }, 'no recon worker serves the window queue yet: the run waits for one');
  log.debug({ runId: c.runId, check: c.check, windows: planned.length, jobs: jobs.length, carried: carried.length }, 'windows queued');

  const seen = new Set<number>();
  const counts: KindCounts = {};
  let lastJobCheck = Date.now();
  const jobOfWindow = new Map<number, string>();
  for (const j of jobs) for (const w of j.data.windows) jobOfWindow.set(new Date(w.start).getTime(), j.opts.jobId);
  for (;;) {
    const states = await runWindowStates(dbs.recon, c.runId, c.check);
    let pending = 0;
    for (const s of states) {
      if (s.status !== 'completed') {
        pending++;
        continue;
      }
      const key = s.window_start.getTime();
      if (seen.has(key)) continue;
      seen.add(key);
      for (const [k, n] of Object.entries(s.counts ?? {})) counts[k as keyof KindCounts] = (counts[k as keyof KindCounts] ?? 0) + Number(n);
      await c.onProgress?.({
        check: c.check,
        window: { start: s.window_start, end: s.window_end },
        windowsDone: seen.size,
        windowsTotal: planned.length,
        found: s.counts ?? {},
        durationMs: s.duration_ms,
        rowsCompared: Number(s.rows_compared),
      });
    }
    if (pending === 0) break;
    if (c.signal?.aborted) return { windows: seen.size, counts, recorded: [], aborted: true };
    // Single flight holds only while the lock connection lives (the windows' fence would refuse their commits anyway).
    await c.locks.assertHeld();
    if (Date.now() - lastJobCheck >= JOB_CHECK_MS) {
      lastJobCheck = Date.now();
      const waiting = new Set(states.filter((s) => s.status !== 'completed').map((s) => jobOfWindow.get(s.window_start.getTime())));
      for (const id of waiting) {
        if (!id) continue;
        if ((await queue.getJobState(id)) !== 'failed') continue;
        const job = await queue.getJob(id);
        throw new ReconError('RUN_FAILED', `window job ${id} failed for good: ${job?.failedReason ?? 'unknown reason'}`, { retryable: false });
      }
    }
    await sleep(POLL_MS);
  }
  return { windows: seen.size, counts, recorded: await runRecordedIds(dbs.recon, c.runId, c.check), aborted: false };
}
