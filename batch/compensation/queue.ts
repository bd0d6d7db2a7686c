/**
 * The compensation queue: how discrepancies become jobs, and how a caller
 * waits for them to be settled.
 *
 * Design (measured in `bench/compensation.ts`): a job carries a batch of up to
 * `RECON_COMPENSATION_BATCH` discrepancies of one kind, handled with
 * multi-row SQL; one job per discrepancy costs a Redis round trip and a
 * transaction each and cannot reach thousands per second on two cores.
 *
 * Deduplication holds per discrepancy and per job:
 * - a discrepancy is put in a job by a conditional update `detected → queued`
 *   (or, for the sweeper, `queued` under a job id that is gone) that records
 *   the job id: a run, a re-run and the sweeper can never queue the same
 *   discrepancy of the same generation twice;
 * - the job id is derived from its (id, generation) pairs, so adding the same
 *   batch again is ignored by BullMQ while the job is retained (completed
 *   jobs are kept three days, longer than the daily schedule);
 * - handlers are idempotent anyway (deterministic entry ids, invariant checked
 *   first), so even a duplicate execution has one effect.
 */
import type { JobsOptions, Queue } from 'bullmq';
import {
  COMPENSABLE_KINDS,
  COMPENSATION_QUEUE,
  sleep,
  uuidv5,
  withTimeout,
  type Config,
  type DiscrepancyKind,
  type DiscrepancyStatus,
  type Logger,
  type Progress,
} from '../../core/index.js';
import { claimDiscrepancies, discrepancyStatusesOf, releaseClaims, type DiscrepancyClaim, type Knex } from '../../db/index.js';
import { planCompensationBatches } from '../../reconcile/index.js';
import { createQueue } from '../bullmq.js';
import type { EnqueueCompensations } from '../runs/index.js';

/** What a compensation job carries: ids only; handlers re-read everything else. */
export interface CompensationJobData {
  kind: DiscrepancyKind;
  items: { id: string; generation: number }[];
  /** Unconsumed events this job re-sent already (kept across attempts). */
  resent?: string[];
}

export interface CompensationJobResult {
  resolved: number;
  failed: number;
  /** Resolved by a write of this execution (the others already held). */
  effects: number;
}

export type CompensationQueue = Queue<CompensationJobData, CompensationJobResult>;

const DAY_SECONDS = 24 * 3600;

/** Attempts per job. With the backoff below the last one comes about four minutes after the first. */
export const COMPENSATION_ATTEMPTS = 8;

/**
 * Job defaults: exponential backoff from 1 s with 50 % jitter (retrying
 * workers spread out), completed jobs kept 3 days (longer than the daily
 * schedule, so their ids keep deduplicating), failed ones 14 days for inspection.
 */
export const COMPENSATION_JOB_OPTIONS = {
  attempts: COMPENSATION_ATTEMPTS,
  backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
  removeOnComplete: { age: 3 * DAY_SECONDS },
  removeOnFail: { age: 14 * DAY_SECONDS },
} as const satisfies JobsOptions;

export function createCompensationQueue(config: Pick<Config, 'redisUrl' | 'namespace'>, log?: Logger): CompensationQueue {
  return createQueue<CompensationJobData, CompensationJobResult>(config, COMPENSATION_QUEUE, COMPENSATION_JOB_OPTIONS, log);
}

/**
 * How long adding jobs may wait for Redis. BullMQ would wait for ever; the
 * discrepancies are recorded already, so a run gives up, gives the claims
 * back, and goes on (a worker's sweeper queues them later). Should the add
 * still land afterwards, its job ids are the ones the sweeper would use, and
 * BullMQ keeps one job per id.
 */
export const ENQUEUE_TIMEOUT_MS = 10_000;

/**
 * Job id of a batch: a function of its (id, generation) pairs and of the job
 * each one had before (`previous`, set when the sweeper re-queues), so the same
 * batch maps to the same job and a re-queue to a new one. No `:` (BullMQ refuses it).
 */
export function compensationJobId(kind: DiscrepancyKind, items: readonly { id: string; generation: number; previous?: string | null }[]): string {
  const key = items.map((i) => `${i.id}/${i.generation}/${i.previous ?? ''}`).join(',');
  return `${kind}.${uuidv5(`compensation-job:${kind}:${key}`)}`;
}

export interface EnqueueDeps {
  /** The recon database. */
  db: Knex;
  queue: CompensationQueue;
  config: Pick<Config, 'compensation'>;
  /** Default {@link ENQUEUE_TIMEOUT_MS}. */
  enqueueTimeoutMs?: number;
}

/** A discrepancy to put in a job, as the caller last saw it. */
export interface EnqueueItem {
  id: string;
  kind: DiscrepancyKind;
  generation?: number;
  /** Default `detected`. `queued` with `expectJobId`: re-queue one whose job is gone (the sweeper). */
  expectStatus?: 'detected' | 'queued';
  expectJobId?: string | null;
}

/**
 * Queue compensations: plan batches, claim the discrepancies for their jobs in
 * the recon DB, add the jobs (`addBulk`). Discrepancies someone else claimed
 * meanwhile are left out; if Redis refuses the jobs, the claims are given back
 * (and the sweeper would find them anyway). Call it only after the
 * transaction that recorded the discrepancies has committed.
 */
export async function enqueueCompensations(deps: EnqueueDeps, found: readonly EnqueueItem[]): Promise<{ queued: number; jobs: number }> {
  const byId = new Map(found.map((f) => [f.id, f]));
  const batches = planCompensationBatches(found, deps.config.compensation.batchSize);
  const claims: DiscrepancyClaim[] = [];
  for (const b of batches) {
    const jobId = compensationJobId(
      b.kind,
      b.items.map((i) => ({ ...i, previous: byId.get(i.id)?.expectJobId })),
    );
    for (const i of b.items) {
      const f = byId.get(i.id);
      claims.push({ id: i.id, jobId, expectStatus: f?.expectStatus ?? 'detected', expectJobId: f?.expectJobId ?? null });
    }
  }
  const claimed = await claimDiscrepancies(deps.db, claims);
  const jobs = new Map<string, CompensationJobData>();
  for (const c of claimed) {
    const job = jobs.get(c.job_id) ?? { kind: c.kind, items: [] };
    job.items.push({ id: c.id, generation: c.generation });
    jobs.set(c.job_id, job);
  }
  if (jobs.size === 0) return { queued: 0, jobs: 0 };
  try {
    await withTimeout(
      deps.queue.addBulk([...jobs].map(([jobId, data]) => ({ name: data.kind, data, opts: { jobId } }))),
      deps.enqueueTimeoutMs ?? ENQUEUE_TIMEOUT_MS,
      `adding ${jobs.size} compensation jobs to Redis`,
    );
  } catch (err) {
    await Promise.all(
      [...jobs].map(([jobId, data]) =>
        releaseClaims(
          deps.db,
          data.items.map((i) => i.id),
          jobId,
        ),
      ),
    ).catch(() => undefined);
    throw err;
  }
  return { queued: claimed.length, jobs: jobs.size };
}

/** The `EnqueueCompensations` a run calls after each window's transaction commits. */
export function compensationEnqueuer(deps: EnqueueDeps): EnqueueCompensations {
  return async (found) => {
    await enqueueCompensations(deps, found);
  };
}

export interface WaitOptions {
  /** Give up after this long and return what is settled so far. Default: no limit. */
  timeoutMs?: number;
  /** Poll interval. Default 500 ms. */
  intervalMs?: number;
  /** Called after each poll. */
  onProgress?: (counts: Record<DiscrepancyStatus, number>) => void;
  /** Bar to advance (settled of total). */
  progress?: Progress;
  signal?: AbortSignal;
}

export interface WaitResult {
  counts: Record<DiscrepancyStatus, number>;
  /** True when every id is `resolved` or `failed` (or `held` / `dismissed`: nothing to wait for). */
  settled: boolean;
}

/**
 * Wait until every discrepancy of `ids` is `resolved` or `failed` (polling the
 * recon DB), e.g. for `recon run --wait` with a run's `queued` ids. Ids of
 * reported-only kinds and unknown ids are not waited for (nor counted); nor
 * are `held` ones (they wait for an operator's decision) or `dismissed` ones.
 * Returns the counts per status.
 */
export async function waitForCompensations(deps: { db: Knex }, ids: readonly string[], options: WaitOptions = {}): Promise<WaitResult> {
  const { timeoutMs, intervalMs = 500, onProgress, progress, signal } = options;
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  // Settled ids stay settled until a later run reopens them: each poll asks
  // only about the ids still open, so a long wait costs O(ids) in all, not per poll.
  let open: readonly string[] = ids;
  const counts: Record<DiscrepancyStatus, number> = { detected: 0, queued: 0, resolved: 0, failed: 0, held: 0, dismissed: 0 };
  for (;;) {
    // Reported-only kinds (phantom, dead-lettered) are never queued: nothing to wait for.
    const now = await discrepancyStatusesOf(deps.db, open, [...COMPENSABLE_KINDS]);
    counts.detected = 0;
    counts.queued = 0;
    const stillOpen: string[] = [];
    for (const [id, status] of now) {
      counts[status] += 1;
      if (status === 'detected' || status === 'queued') stillOpen.push(id);
    }
    open = stillOpen;
    const settled = counts.resolved + counts.failed;
    onProgress?.({ ...counts });
    progress?.set(settled, counts.failed ? `${counts.failed} failed` : undefined);
    // Ids unknown to the recon DB (never recorded) cannot settle: only the ones that exist are awaited.
    if (open.length === 0) {
      progress?.finish();
      return { counts: { ...counts }, settled: true };
    }
    if (Date.now() >= deadline || signal?.aborted) {
      progress?.finish();
      return { counts: { ...counts }, settled: false };
    }
    await sleep(intervalMs, signal);
  }
}
