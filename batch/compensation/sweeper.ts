/**
 * The sweeper: Redis here keeps nothing on disk, so the recon DB is the
 * record of what must be compensated, and the sweeper makes Redis agree with
 * it. Periodically (inside `recon worker`) it queues
 * - every `detected` discrepancy of a compensable kind (a run without a queue,
 *   or an enqueue that failed after its window committed), and
 * - every `queued` one older than the staleness threshold whose job Redis no
 *   longer has (flushed, restarted) or whose job finished without settling it
 *   (a worker crash between the effect and the status update), under a new
 *   job id: the handlers are idempotent, so a re-run only confirms the effect.
 */
import { COMPENSABLE_KINDS, describeError, silentLogger, type Config, type Logger } from '../../core/index.js';
import { sweepCandidates, type Knex } from '../../db/index.js';
import { enqueueCompensations, type CompensationQueue, type EnqueueItem } from './queue.js';

export interface SweepDeps {
  /** The recon database. */
  db: Knex;
  queue: CompensationQueue;
  config: Pick<Config, 'compensation'>;
  log?: Logger;
}

export interface SweepOptions {
  /** A `queued` discrepancy younger than this is left alone. Default `config.compensation.staleSeconds`. */
  staleSeconds?: number;
  /** Most discrepancies looked at per status per sweep. Default 50,000. */
  limit?: number;
}

export interface SweepResult {
  /** `detected` ones queued. */
  detected: number;
  /** `queued` ones whose job was gone or finished, queued again. */
  requeued: number;
  jobs: number;
}

/** Job states in which the job will still run (or is running) and settle its discrepancies. */
const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/** One sweep. Safe to run from several workers at once: the claims are conditional. */
export async function sweepCompensations(deps: SweepDeps, options: SweepOptions = {}): Promise<SweepResult> {
  const staleSeconds = options.staleSeconds ?? deps.config.compensation.staleSeconds;
  const candidates = await sweepCandidates(deps.db, { kinds: [...COMPENSABLE_KINDS], staleSeconds, limit: options.limit ?? 50_000 });
  const items: EnqueueItem[] = [];
  const stale = new Map<string, typeof candidates>();
  for (const c of candidates) {
    if (c.status === 'detected') items.push({ id: c.id, kind: c.kind, generation: c.generation, expectStatus: 'detected' });
    else {
      const key = c.job_id ?? '';
      const list = stale.get(key);
      if (list) list.push(c);
      else stale.set(key, [c]);
    }
  }
  let requeued = 0;
  for (const [jobId, rows] of stale) {
    const state = jobId ? await deps.queue.getJobState(jobId) : 'unknown';
    if (LIVE_STATES.has(state)) continue;
    requeued += rows.length;
    for (const r of rows) items.push({ id: r.id, kind: r.kind, generation: r.generation, expectStatus: 'queued', expectJobId: r.job_id });
  }
  if (items.length === 0) return { detected: 0, requeued: 0, jobs: 0 };
  const { queued, jobs } = await enqueueCompensations(deps, items);
  const detected = items.filter((i) => i.expectStatus === 'detected').length;
  // Claims lost to a concurrent enqueuer are not ours to count.
  return { detected: Math.min(detected, queued), requeued: Math.max(0, Math.min(requeued, queued - detected)), jobs };
}

export interface Sweeper {
  /** Sweep now (waits for a sweep in progress first). */
  sweepNow(): Promise<SweepResult>;
  /** Stop the timer and wait for a sweep in progress. */
  stop(): Promise<void>;
}

/** Sweep every `intervalMs` (the first sweep right away), one sweep at a time. */
export function startSweeper(deps: SweepDeps, { intervalMs, ...options }: SweepOptions & { intervalMs: number }): Sweeper {
  const log = deps.log ?? silentLogger;
  let running: Promise<SweepResult> | undefined;
  let stopped = false;
  const sweepNow = async (): Promise<SweepResult> => {
    while (running) await running.catch(() => undefined);
    running = sweepCompensations(deps, options).finally(() => {
      running = undefined;
    });
    return running;
  };
  const tick = () => {
    if (stopped) return;
    sweepNow()
      .then((r) => {
        if (r.jobs) log.info(r, 'sweeper queued compensations');
      })
      .catch((err: unknown) => log.warn({ err: describeError(err).message }, 'sweep failed; retrying at the next interval'));
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  tick();
  return {
    sweepNow,
    async stop() {
      stopped = true;
      clearInterval(timer);
      while (running) await running.catch(() => undefined);
    },
  };
}
