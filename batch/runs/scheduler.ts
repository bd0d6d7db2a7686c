/**
 * `recon scheduler`: queues one reconcile run per tick of `RECON_CRON` (in
 * `RECON_TZ`) on the run queue; `recon worker` executes it.
 *
 * Single flight: the job id of a tick is derived from the tick, so two
 * schedulers (a hot standby, a deploy overlap) queue one job; the second is
 * told so in its log. The run itself takes per-check locks, so a scheduled
 * run meeting an on-demand run of the same checks ends `skipped` with the
 * reason.
 *
 * Catch-up: on start, if a tick has passed since the last scheduled run
 * started (the scheduler was down over a tick, or never ran), one run is
 * queued at once for the latest missed tick; its id is the tick's too, so
 * several schedulers starting together still queue it once.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { describeError, type CheckName, type Config, type Logger } from '../../core/index.js';
import { lastRunByTrigger, type Databases } from '../../db/index.js';
import { queueRun, type QueuedRun, type RunQueue } from './queue.js';

/** How far back the catch-up looks for a missed tick. */
export const CATCH_UP_LOOKBACK_MS = 400 * 86_400_000;

function hasSeconds(expression: string): boolean {
  return expression.trim().split(/\s+/).length === 6;
}

/**
 * The latest tick `t` of `expression` with `after < t <= until`, or
 * `undefined`. Walks back one minute at a time (one second for six-field
 * expressions, within a day) with node-cron's own matcher, so it agrees with
 * the scheduler on time zones and daylight-saving changes.
 */
export function latestTickBetween(expression: string, timeZone: string, after: Date, until: Date): Date | undefined {
  const matcher = cron.createTask(expression, () => undefined, { timezone: timeZone });
  try {
    const step = hasSeconds(expression) ? 1000 : 60_000;
    const floor = Math.max(after.getTime(), hasSeconds(expression) ? until.getTime() - 86_400_000 : after.getTime());
    for (let t = Math.floor(until.getTime() / step) * step; t > floor; t -= step) {
      const d = new Date(t);
      if (matcher.match(d)) return d;
    }
    return undefined;
  } finally {
    void matcher.destroy();
  }
}

/**
 * The tick to catch up on at start: the latest tick after the last scheduled
 * run started (within {@link CATCH_UP_LOOKBACK_MS} when there was none).
 */
export function catchUpTick(expression: string, timeZone: string, now: Date, lastScheduledRun: Date | undefined): Date | undefined {
  const after = lastScheduledRun ?? new Date(now.getTime() - CATCH_UP_LOOKBACK_MS);
  return latestTickBetween(expression, timeZone, after, now);
}

/**
 * Call `onTick(tick)` at every tick of `expression` in `timeZone` (node-cron).
 * The timing part of the scheduler, alone so fake timers can drive it.
 */
export function scheduleTicks(
  expression: string,
  timeZone: string,
  onTick: (tick: Date) => Promise<void> | void,
  log: Logger,
  name = 'recon-scheduler',
): ScheduledTask {
  return cron.schedule(
    expression,
    async (ctx) => {
      try {
        await onTick(ctx.date);
      } catch (err) {
        log.error({ err: describeError(err).message, tick: ctx.date.toISOString() }, 'scheduler: tick failed');
      }
    },
    { timezone: timeZone, name, noOverlap: false },
  );
}

export interface SchedulerDeps {
  config: Pick<Config, 'cron' | 'timeZone' | 'namespace'>;
  dbs: Pick<Databases, 'recon'>;
  log: Logger;
  runQueue: RunQueue;
}

export interface SchedulerOptions {
  /** Checks each scheduled run covers. Default: all. */
  checks?: CheckName[];
  /** Queue a catch-up run on start when a tick was missed. Default true. */
  catchUp?: boolean;
  /** Told of every tick and what became of it (tests, progress). */
  onQueued?: (tick: Date, queued: QueuedRun, reason: 'tick' | 'catch-up') => void;
}

export interface RunningScheduler {
  task: ScheduledTask;
  /** The catch-up tick queued on start, if any. */
  caughtUp: Date | undefined;
  stop(): Promise<void>;
}

/** Queue the run of `tick`; when another scheduler already did, say so and queue nothing. */
export async function queueTick(deps: SchedulerDeps, tick: Date, checks: CheckName[] | undefined, reason: 'tick' | 'catch-up'): Promise<QueuedRun> {
  const queued = await queueRun(deps.runQueue, { trigger: 'cron', tick, ...(checks ? { checks } : {}) });
  if (queued.created) deps.log.info({ tick: tick.toISOString(), runId: queued.runId, jobId: queued.jobId, reason }, 'scheduler: run queued');
  else
    deps.log.info(
      { tick: tick.toISOString(), runId: queued.runId, jobId: queued.jobId, reason },
      `scheduler: run of tick ${tick.toISOString()} not started here: another scheduler already queued it (job ${queued.jobId}, run ${queued.runId})`,
    );
  return queued;
}

export async function startScheduler(deps: SchedulerDeps, options: SchedulerOptions = {}): Promise<RunningScheduler> {
  const { config, log } = deps;
  const handle = async (tick: Date, reason: 'tick' | 'catch-up') => {
    const queued = await queueTick(deps, tick, options.checks, reason);
    options.onQueued?.(tick, queued, reason);
  };
  let caughtUp: Date | undefined;
  if (options.catchUp ?? true) {
    const last = await lastRunByTrigger(deps.dbs.recon, 'cron');
    caughtUp = catchUpTick(config.cron, config.timeZone, new Date(), last?.started_at);
    if (caughtUp) {
      log.info({ tick: caughtUp.toISOString(), lastScheduledRun: last?.started_at ?? null }, 'scheduler: a tick was missed; catching up');
      await handle(caughtUp, 'catch-up');
    }
  }
  const task = scheduleTicks(config.cron, config.timeZone, (tick) => handle(tick, 'tick'), log, `recon-scheduler:${config.namespace ?? ''}`);
  log.info({ cron: config.cron, timeZone: config.timeZone, next: task.getNextRun()?.toISOString() ?? null }, 'scheduler started');
  return {
    task,
    caughtUp,
    async stop() {
      await task.destroy();
    },
  };
}
