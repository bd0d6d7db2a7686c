/**
 * Run orchestration: for each requested check, take its single-flight lock,
 * walk its windows (from its watermark to the safe upper bound, or a given
 * past range), and commit each window's discrepancies together with its
 * watermark advance. A crash between windows re-runs only the uncommitted
 * window, and deterministic discrepancy ids make that re-run a no-op.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  ALL_CHECK_NAMES,
  COMPENSABLE_KINDS,
  countByKind,
  describeError,
  isCompensable,
  isRetryable,
  rangeProblem,
  ReconError,
  UsageError,
  type CheckKindCounts,
  type CheckName,
  type DiscrepancyKind,
  type KindCounts,
  type Window,
} from '../../core/index.js';
import {
  addRunWindowCounts,
  advanceWatermark,
  finishRun,
  getLateScanFrom,
  getWatermark,
  failInterruptedRuns,
  guardCandidates,
  holdDiscrepancies,
  insertDecision,
  markDecided,
  runRowsCompared,
  insertRun,
  deadLetteredEventIdsSince,
  lateWindowStarts,
  openCheckLocks,
  outboxWindowStarts,
  prunedHorizon,
  prunedHorizons,
  recordDiscrepancies,
  setLateScanFrom,
  supersedeDiscrepancies,
  upsertRunWindow,
  writerHorizon,
  type CheckLocks,
  type DiscrepancyInput,
  type HeldCheck,
  type RunHeld,
  type Supersession,
} from '../../db/index.js';
import { CHECKS, type Check, type CheckContext } from '../../reconcile/index.js';
import { openCheckContext, WORKER_IDENTITY } from './context.js';
import { distributeCheck } from './distribute.js';
import { NO_COMMIT_TIMES, commitTimeTracking, deferRecentCommits } from './recent-commits.js';
import type { RunDeps, RunOptions, RunSummary } from './types.js';
import { planWindows, safeUpperBound, walkRange } from './windows.js';
import { judgeCompensations } from './guard.js';
import { runAlerts } from '../alerts/index.js';
import { clipToHorizon } from '../prune/index.js';

/** Reject options no run can honour (the CLI and the API turn this into a usage error). */
export function validateRunOptions(options: RunOptions, windowSeconds: number): void {
  if (options.checks.length === 0) throw new UsageError('no check to run');
  for (const c of options.checks) if (!ALL_CHECK_NAMES.includes(c)) throw new UsageError(`unknown check "${c}" (choose from ${ALL_CHECK_NAMES.join(', ')})`);
  const problem = rangeProblem(options, windowSeconds);
  if (problem) throw new UsageError(`--${problem.field}: ${problem.message}`);
}

/** The safe upper bound of a check, from its source databases' clocks and writers. Fails closed (`MISSING_PRIVILEGE`) where the role cannot see other sessions. */
export async function checkSafeBound(deps: Pick<RunDeps, 'dbs' | 'config'>, check: Check): Promise<Date> {
  const horizons = await Promise.all(check.sources.map((s) => writerHorizon(deps.dbs[s])));
  return safeUpperBound(horizons, deps.config.graceSeconds);
}

/**
 * Execute a run. Returns its summary; a window that fails marks the run
 * `failed` and the error is re-thrown (retryable or not, per `isRetryable`)
 * after the run record says so. An abort between windows returns a `failed`
 * summary with reason `aborted`; the next run resumes from the watermarks.
 */
export async function executeRun(deps: RunDeps, options: RunOptions): Promise<RunSummary> {
  validateRunOptions(options, deps.config.windowSeconds);
  if (options.from !== undefined) await refuseBehindPrunedHorizon(deps, options.checks, options.from);
  const withId = { ...options, runId: options.runId ?? randomUUID() };
  try {
    const summary = await executeRunInner(deps, withId);
    if (!summary.dryRun) await alertRun(deps, summary);
    return summary;
  } catch (err) {
    if (!(err instanceof UsageError) && !options.dryRun) {
      const { errorClass, message } = describeError(err);
      await alertRun(deps, { runId: withId.runId, status: 'failed', counts: {}, reason: `${errorClass}: ${message}` });
    }
    throw err;
  }
}

/** What a re-check from `from` behind a check's pruned horizon is told. */
export function prunedHorizonMessage(check: CheckName, from: Date, horizon: Date): string {
  return (
    `--from ${from.toISOString()} is behind the pruned horizon of check ${check} (${horizon.toISOString()}): ` +
    `its history before then was deleted by recon prune, so it cannot be compared again; re-check from ${horizon.toISOString()} on`
  );
}

/** A re-check must not compare pruned history: it would read as drift. A usage error naming the flag and the horizon. */
export async function refuseBehindPrunedHorizon(deps: Pick<RunDeps, 'dbs'>, checks: readonly CheckName[], from: Date): Promise<void> {
  const horizons = await prunedHorizons(deps.dbs.recon);
  for (const check of new Set(checks)) {
    const horizon = horizons.get(check);
    if (horizon && from.getTime() < horizon.getTime()) throw new UsageError(prunedHorizonMessage(check, from, horizon));
  }
}

/** Send a run's alerts (never fails the run: a problem finding the facts is logged). */
async function alertRun(deps: RunDeps, s: Pick<RunSummary, 'runId' | 'status' | 'counts' | 'held' | 'reason'> & { skipped?: CheckName[] }): Promise<void> {
  if (!deps.alerts) return;
  try {
    const skippedTooLong = s.skipped?.length ? await longRunningHolders(deps.dbs.recon, s.runId, s.skipped, deps.config.alerts.skipAlertSeconds) : [];
    for (const alert of runAlerts({ ...s, skippedTooLong }, deps.config.api.publicUrl)) deps.alerts.send(alert);
  } catch (err) {
    deps.log.warn({ runId: s.runId, err: describeError(err).message }, 'could not build the alerts of the run');
  }
}

async function executeRunInner(deps: RunDeps, options: RunOptions): Promise<RunSummary> {
  const { config, dbs, log } = deps;
  const runId = options.runId ?? randomUUID();
  const dryRun = options.dryRun ?? false;
  const recheck = options.from !== undefined && options.to !== undefined;
  // Dry runs stay in-process: they write nothing, so there is no record for workers to fill in.
  const distributed = !dryRun && deps.windows !== undefined;
  const checks = [...new Set(options.checks)];
  const counts: CheckKindCounts = {};
  const queued: string[] = [];
  const heldChecks: RunHeld = {};
  let windows = 0;
  let startedAt = new Date();
  const summary = (status: RunSummary['status'], reason?: string): RunSummary => ({
    runId,
    status,
    trigger: options.trigger,
    checks,
    dryRun,
    windows,
    counts,
    queued,
    held: heldChecks,
    startedAt,
    finishedAt: new Date(),
    ...(reason !== undefined ? { reason } : {}),
    ...(skipped.length ? { skipped: [...skipped] } : {}),
  });

  // A dry run writes nothing, so it needs no lock and keeps no record.
  let locks: CheckLocks | undefined;
  let opened: { ctx: CheckContext; close(): Promise<void> } | undefined;
  const held: CheckName[] = [];
  const skipped: CheckName[] = [];
  try {
    if (dryRun) held.push(...checks);
    else {
      locks = await openCheckLocks(config.databases.recon);
      for (const c of checks) ((await locks.tryLock(c)) ? held : skipped).push(c);
      startedAt = await insertRun(dbs.recon, {
        id: runId,
        ...(distributed ? { mode: 'workers' as const, lockPid: await locks.backendPid() } : {}),
        trigger: options.trigger,
        checks,
        ...(recheck ? { rangeFrom: options.from, rangeTo: options.to } : {}),
        options: { windowSeconds: config.windowSeconds, graceSeconds: config.graceSeconds, skipped },
      });
    }
    if (locks && held.length) {
      const interrupted = await failInterruptedRuns(dbs.recon, held, runId);
      if (interrupted.length) log.warn({ runId, interrupted }, 'marked runs left running by a dead process as failed');
    }
    const skipReason = skipped.length ? `${skipped.join(', ')} already running in another run` : undefined;
    if (held.length === 0) {
      await finishRun(dbs.recon, runId, 'skipped', skipReason);
      log.info({ runId, skipped }, 'run skipped: every check is held by another run');
      return summary('skipped', skipReason);
    }

    // Topic evidence: one reader per run (no consumer group, so no join per window), closed when the run ends.
    opened = await openCheckContext(deps, held);
    const ctx = opened.ctx;
    const tracking = config.graceFrom === 'commit' ? await commitTimeTracking(dbs) : NO_COMMIT_TIMES;
    for (const name of held) {
      const check = CHECKS[name];
      counts[name] = {};
      const range = await rangeOf(deps, check, ctx, options, recheck);
      // Windows behind the watermark that received rows late are checked again first (watermark untouched).
      const late = recheck ? undefined : await lateWindows(deps, check);
      const planned = [
        ...(late?.windows ?? []).map((window) => ({ window, advance: false })),
        ...(range ? planWindows(range.start, range.end, config.windowSeconds * 1000) : []).map((window) => ({ window, advance: !recheck })),
      ];
      log.debug({ runId, check: name, range, late: late?.windows.length ?? 0, windows: planned.length }, 'check planned');
      const recorded: string[] = [];
      if (distributed) {
        const outcome = await distributeCheck(
          { dbs, log, queue: deps.windows!.queue, windowsPerJob: deps.windows!.windowsPerJob },
          {
            runId,
            check: name,
            planned,
            locks: locks!,
            ...(options.signal ? { signal: options.signal } : {}),
            ...(options.onProgress ? { onProgress: options.onProgress } : {}),
          },
        );
        windows += outcome.windows;
        for (const [kind, n] of Object.entries(outcome.counts) as [DiscrepancyKind, number][]) counts[name]![kind] = (counts[name]![kind] ?? 0) + n;
        if (outcome.aborted) {
          await finishRun(dbs.recon, runId, 'failed', 'aborted');
          return summary('failed', 'aborted');
        }
        recorded.push(...outcome.recorded);
      } else {
        let done = 0;
        // Set once a window had rows committed less than the grace ago: the watermark stays before it for the rest of the run.
        let holding = false;
        for (const { window, advance } of planned) {
          if (options.signal?.aborted) {
            if (!dryRun) await finishRun(dbs.recon, runId, 'failed', 'aborted');
            return summary('failed', 'aborted');
          }
          const t0 = performance.now();
          const cmp = await check.compare(ctx, window);
          // The grace counts from commit: what committed less than it ago waits for a later run, behind a held watermark.
          // Only on the forward walk: behind the watermark every source row was visible when it passed.
          const { kept, deferred } = advance ? await deferRecentCommits(dbs, tracking, cmp.found, config.graceSeconds) : { kept: cmp.found, deferred: [] };
          if (deferred.length && !holding) {
            holding = true;
            log.info(
              { runId, check: name, window, deferred: deferred.length },
              'rows committed less than the grace ago: the watermark stays before this window, a later run checks it again',
            );
          }
          const found = countByKind(kept);
          if (!dryRun) {
            // Single flight holds only while the lock connection lives.
            await locks?.assertHeld();
            // Compensations wait for the check's guard, once all its windows are in.
            const fresh = await commitWindow(deps, runId, check.name, window, kept, found, {
              rowsCompared: cmp.rowsCompared,
              segmentsCompared: cmp.segmentsCompared,
              durationMs: Math.round(performance.now() - t0),
              advance: advance && !holding,
              supersedes: cmp.supersedes ?? [],
            });
            // Phantom and dead-lettered events are reported, never compensated: nothing to queue or wait for.
            // So are findings marked report-only (an offsets group's unconsumed event that is on the topic: the group will reach it).
            const reportOnly = new Set(kept.filter((k) => k.details?.compensation === 'report').map((k) => k.id));
            for (const f of fresh) if (isCompensable(f.kind) && !reportOnly.has(f.id)) recorded.push(f.id);
          }
          windows++;
          done++;
          for (const [kind, n] of Object.entries(found) as [DiscrepancyKind, number][]) counts[name]![kind] = (counts[name]![kind] ?? 0) + n;
          await options.onProgress?.({
            check: name,
            window,
            windowsDone: done,
            windowsTotal: planned.length,
            found,
            durationMs: Math.round(performance.now() - t0),
            rowsCompared: cmp.rowsCompared,
            rowsFetched: cmp.rowsFetched,
          });
        }
      }
      if (late && !dryRun) await setLateScanFrom(dbs.recon, name, late.nextFrom);
      if (!dryRun) {
        const outcome = await guardCheck(deps, runId, name, options, recorded);
        queued.push(...outcome.queued);
        if (outcome.held) heldChecks[name] = outcome.held;
      }
    }
    if (!dryRun) await finishRun(dbs.recon, runId, 'completed', skipReason);
    return summary('completed', skipReason);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const { errorClass, message } = describeError(err);
    log.error({ runId, err: { errorClass, message } }, 'run failed');
    if (!dryRun) await finishRun(dbs.recon, runId, 'failed', `${errorClass}: ${message}`).catch(() => undefined);
    throw err instanceof ReconError ? err : new ReconError('RUN_FAILED', `run ${runId} failed: ${message}`, { cause: err, retryable: isRetryable(err) });
  } finally {
    await locks?.release().catch(() => undefined);
    await opened?.close();
  }
}

/** The range a check walks: the given past range (clipped to the safe bound), or watermark → safe bound. */
async function rangeOf(deps: RunDeps, check: Check, ctx: CheckContext, options: RunOptions, recheck: boolean): Promise<Window | null> {
  const bound = await checkSafeBound(deps, check);
  // Read under the check's lock: a prune records its horizon under the same lock, before it deletes anything.
  const horizon = await prunedHorizon(deps.dbs.recon, check.name);
  if (recheck) {
    if (horizon && options.from!.getTime() < horizon.getTime()) throw new ReconError('USAGE', prunedHorizonMessage(check.name, options.from!, horizon));
    const end = new Date(Math.min(options.to!.getTime(), bound.getTime()));
    if (end.getTime() < options.to!.getTime()) deps.log.warn({ check: check.name, to: options.to, bound }, 'range clipped to the safe upper bound');
    return end.getTime() > options.from!.getTime() ? { start: options.from!, end } : null;
  }
  const watermark = await getWatermark(deps.dbs.recon, check.name);
  const earliest = watermark || deps.config.start ? null : await check.earliest(ctx);
  const range = walkRange(watermark, deps.config.start, earliest, bound);
  // Never walk behind what was pruned (a watermark reset by hand, RECON_START or a kept row older than the horizon).
  if (range && horizon && range.start.getTime() < horizon.getTime())
    deps.log.warn({ check: check.name, from: range.start, horizon }, 'the walk starts at the pruned horizon: the history before it was deleted by recon prune');
  return range ? clipToHorizon(range, horizon) : null;
}

/**
 * Windows behind the check's watermark that received rows since the previous
 * run's scan (a consumer that was down longer than the grace period writes
 * grants and consumed events with old keys), and where the next scan starts:
 * this run's horizon, taken before it reads anything, so a row written while
 * the run goes on is found by the next one.
 */
async function lateWindows(deps: RunDeps, check: Check): Promise<{ windows: Window[]; nextFrom: Date }> {
  const { dbs, config } = deps;
  const horizons = await Promise.all(check.lateSources.map(({ db }) => writerHorizon(dbs[db])));
  // Rows carry their transaction's start: the oldest open one bounds what may still appear, less the usual margin.
  const nextFrom = new Date(Math.min(...horizons.map((h) => Math.min(h.now.getTime(), h.oldestWriterStart?.getTime() ?? Infinity))) - 1000);
  const [since, watermark, horizon] = await Promise.all([
    getLateScanFrom(dbs.recon, check.name),
    getWatermark(dbs.recon, check.name),
    prunedHorizon(dbs.recon, check.name),
  ]);
  if (!since || !watermark) return { windows: [], nextFrom };
  const starts = new Map<number, Date>();
  for (const { db, source } of check.lateSources) {
    const found =
      source.table === 'dead_letters'
        ? await outboxWindowStarts(dbs[source.outboxDb], await deadLetteredEventIdsSince(dbs[db], since), watermark, config.windowSeconds)
        : await lateWindowStarts(dbs[db], source, since, watermark, config.windowSeconds);
    for (const start of found) starts.set(start.getTime(), start);
  }
  const size = config.windowSeconds * 1000;
  const windows = [...starts.values()]
    .sort((a, b) => a.getTime() - b.getTime())
    .map((start) => ({ start, end: new Date(Math.min(start.getTime() + size, watermark.getTime())) }))
    // Late rows keyed behind the pruned horizon land in history that is gone: comparing it would read as drift.
    .flatMap((w) => clipToHorizon(w, horizon) ?? []);
  if (windows.length)
    deps.log.info({ check: check.name, windows: windows.length, since }, 'windows behind the watermark received late rows: checking them again');
  return { windows, nextFrom };
}

/** One recon-DB transaction: discrepancies (and those they supersede), the window record, the watermark, the run's counters. */
async function commitWindow(
  deps: RunDeps,
  runId: string,
  check: CheckName,
  window: Window,
  found: DiscrepancyInput[],
  counts: KindCounts,
  o: { rowsCompared: number; segmentsCompared: number; durationMs: number; advance: boolean; supersedes: readonly Supersession[] },
) {
  return deps.dbs.recon.transaction(async (trx) => {
    const fresh = await recordDiscrepancies(trx, runId, found);
    // After recording: what replaces a discrepancy exists before it is closed.
    const closed = await supersedeDiscrepancies(trx, o.supersedes);
    if (closed.length) deps.log.info({ runId, check, superseded: closed.length }, 'closed discrepancies a finding of this window replaces');
    await upsertRunWindow(trx, {
      run_id: runId,
      check_name: check,
      window_start: window.start,
      window_end: window.end,
      counts,
      rows_compared: o.rowsCompared,
      segments_compared: o.segmentsCompared,
      duration_ms: o.durationMs,
      worker_host: WORKER_IDENTITY.host,
      worker_pid: WORKER_IDENTITY.pid,
    });
    if (o.advance) await advanceWatermark(trx, check, window.end, runId);
    await addRunWindowCounts(trx, runId, check, counts);
    return fresh;
  });
}

/**
 * The blast-radius guard of one check, once all its windows have committed:
 * its compensable discrepancies not queued yet are all queued, or, above
 * `RECON_AUTO_COMPENSATE_LIMIT` or `RECON_AUTO_COMPENSATE_RATIO` of the rows
 * it compared, all `held` for an operator (none queued). `approveAll` queues
 * them anyway and keeps that as a decision of `actor`.
 */
async function guardCheck(
  deps: RunDeps,
  runId: string,
  check: CheckName,
  options: RunOptions,
  recorded: readonly string[],
): Promise<{ queued: string[]; held?: HeldCheck }> {
  const { dbs, config, log } = deps;
  const candidates = await guardCandidates(dbs.recon, { runId, check, kinds: COMPENSABLE_KINDS, ids: recorded });
  if (candidates.length === 0) return { queued: [] };
  const rowsCompared = await runRowsCompared(dbs.recon, runId, check);
  const verdict = judgeCompensations(config.compensation.guard, candidates.length, rowsCompared);
  const ids = candidates.map((c) => c.id);
  if (verdict && !options.approveAll) {
    const kinds = await holdDiscrepancies(dbs.recon, runId, check, ids, verdict);
    log.warn({ runId, check, held: candidates.length, reason: verdict.reason }, `compensations held for approval: ${verdict.message}`);
    return { queued: [], held: { ...verdict, kinds } };
  }
  if (verdict) {
    const actor = options.actor ?? 'unknown';
    await dbs.recon.transaction(async (trx) => {
      const decision = await insertDecision(trx, {
        id: randomUUID(),
        run_id: runId,
        check_name: check,
        kind: null,
        action: 'approve',
        actor,
        reason: `--approve-all: ${verdict.message}`,
        requested_limit: null,
        affected: candidates.length,
      });
      await markDecided(trx, ids, decision.id);
    });
    log.warn({ runId, check, count: candidates.length, actor }, `guard bypassed by --approve-all: ${verdict.message}`);
  }
  if (deps.enqueue) {
    // Recorded already: if queueing fails, the sweeper queues them once the run has completed; the run goes on.
    await deps.enqueue(candidates).catch((err: unknown) => {
      log.warn({ runId, err: describeError(err), count: candidates.length }, 'could not queue compensations; the sweeper will');
    });
  }
  return { queued: ids };
}

/** Of `checks` (skipped by `runId`), those another run has held for more than `seconds`, with when that run started. */
async function longRunningHolders(
  db: RunDeps['dbs']['recon'],
  runId: string,
  checks: readonly CheckName[],
  seconds: number,
): Promise<{ check: CheckName; runningSince: Date }[]> {
  const { rows } = await db.raw<{ rows: { check: CheckName; since: Date }[] }>(
    `select c.name as check, min(r.started_at) as since
       from unnest(?::text[]) as c(name)
       join runs r on r.status = 'running' and r.id <> ?::uuid and c.name = any(r.checks)
      group by c.name
     having min(r.started_at) < now() - make_interval(secs => ?)`,
    [Array.from(checks), runId, seconds],
  );
  return rows.map((r) => ({ check: r.check, runningSince: r.since }));
}
