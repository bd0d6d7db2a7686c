/**
 * The blast-radius guard: a run queues a check's compensations on its own
 * only while they are few, in number and as a share of what the check
 * compared. Above either limit it queues none of them: they are `held` until
 * an operator approves or dismisses them. A mass correction after an outage
 * (or a bug in a check, or a wrong `SIGNUP_BONUS_POINTS`) then waits for
 * someone to look instead of rewriting thousands of accounts.
 */
import type { Config } from '../../core/index.js';
import type { HeldCheck } from '../../db/index.js';

export type GuardLimits = Config['compensation']['guard'];

/** The guard's verdict on one check of one run: undefined when it may queue everything. */
export function judgeCompensations(limits: GuardLimits, compensable: number, rowsCompared: number): Omit<HeldCheck, 'kinds'> | undefined {
  const base = { compensable, rowsCompared, limit: limits.limit, ratio: limits.ratio, ratioMinCount: limits.ratioMinCount };
  if (compensable === 0) return undefined;
  if (compensable > limits.limit)
    return { ...base, reason: 'count', message: `${compensable} compensations exceed RECON_AUTO_COMPENSATE_LIMIT=${limits.limit}` };
  // Below the floor a ratio says little (1 of 50 rows is 2 %): only the count limit applies.
  if (compensable >= limits.ratioMinCount && compensable > limits.ratio * rowsCompared) {
    const share = rowsCompared > 0 ? `${((100 * compensable) / rowsCompared).toFixed(2)} %` : 'all';
    return {
      ...base,
      reason: 'ratio',
      message: `${compensable} compensations are ${share} of the ${rowsCompared} rows compared, above RECON_AUTO_COMPENSATE_RATIO=${limits.ratio}`,
    };
  }
  return undefined;
}
