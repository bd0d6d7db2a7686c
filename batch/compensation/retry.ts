/**
 * Another try for compensations that ended `failed` (attempts ran out during an
 * outage, a permanent error whose cause has since been fixed). A failed
 * discrepancy is otherwise retried only when a later run finds it again, and
 * runs do not go back over windows behind their watermarks.
 *
 * The handlers are idempotent and check the invariant first, so retrying one
 * whose problem has gone away resolves it without an effect.
 */
import {
  COMPENSABLE_KINDS,
  countByKind,
  describeError,
  isCompensable,
  ReconError,
  UsageError,
  type CheckName,
  type DiscrepancyKind,
  type KindCounts,
} from '../../core/index.js';
import { countFailed, reopenFailedDiscrepancies } from '../../db/index.js';
import { enqueueCompensations, type CompensationQueue, type EnqueueDeps } from './queue.js';

export interface RetryFailedOptions {
  /** Default: every compensable kind. */
  kinds?: readonly DiscrepancyKind[];
  check?: CheckName;
  ids?: readonly string[];
  failedSince?: Date;
  /** At most this many, oldest failure first. Default 10,000. */
  limit?: number;
  /** Count what would be retried; change nothing. */
  dryRun?: boolean;
}

export interface RetryFailedSummary {
  dryRun: boolean;
  /** Selected failed discrepancies, per kind. */
  byKind: KindCounts;
  /** Ids reopened and queued (empty on a dry run): what `--wait` waits for. */
  ids: string[];
  queued: number;
  jobs: number;
}

export const RETRY_DEFAULT_LIMIT = 10_000;

/** `deps.queue` may be left out for a dry run. */
export async function retryFailedCompensations(
  deps: Omit<EnqueueDeps, 'queue'> & { queue?: CompensationQueue },
  options: RetryFailedOptions = {},
): Promise<RetryFailedSummary> {
  const kinds = options.kinds ?? [...COMPENSABLE_KINDS];
  const reportOnly = kinds.filter((k) => !isCompensable(k));
  if (reportOnly.length) throw new UsageError(`${reportOnly.join(', ')} ${reportOnly.length > 1 ? 'are' : 'is'} report-only: nothing to retry`);
  const selection = {
    kinds,
    limit: options.limit ?? RETRY_DEFAULT_LIMIT,
    ...(options.check ? { check: options.check } : {}),
    ...(options.ids ? { ids: options.ids } : {}),
    ...(options.failedSince ? { failedSince: options.failedSince } : {}),
  };
  if (options.dryRun) return { dryRun: true, byKind: await countFailed(deps.db, selection), ids: [], queued: 0, jobs: 0 };

  const { queue } = deps;
  if (!queue) throw new ReconError('INTERNAL', 'retryFailedCompensations needs a queue unless it is a dry run');
  const reopened = await reopenFailedDiscrepancies(deps.db, selection);
  const byKind = countByKind(reopened);
  try {
    const { queued, jobs } = await enqueueCompensations({ ...deps, queue }, reopened);
    return { dryRun: false, byKind, ids: reopened.map((r) => r.id), queued, jobs };
  } catch (err) {
    // Reopened rows are `detected`: a worker's sweeper queues them once Redis answers. Nothing is lost.
    throw new ReconError(
      'SERVICE_UNAVAILABLE',
      `reopened ${reopened.length} failed discrepancies but could not queue them (${describeError(err).message}); a running \`recon worker\` queues them once Redis answers`,
      { cause: err, retryable: true },
    );
  }
}
