/**
 * Where retention may cut: pure arithmetic on instants, so every case can be
 * unit-tested without databases.
 *
 * A row may be pruned only when every check that could read it is past it:
 * behind the check's watermark (the end of its last fully reconciled
 * window), before the oldest window where the check still has an open
 * discrepancy (its compensation re-reads the rows, an operator looks at
 * them), and older than the retention.
 */
import { CHECK_NAMES, type CheckName } from '../../core/index.js';

/**
 * The checks that read the tables a prune deletes from (outbox and consumed
 * events, on both source databases). `users-vs-points` reads `users` and
 * `point_ledger`, which are never pruned.
 */
export const CHECKS_READING_PRUNED_TABLES: readonly CheckName[] = [CHECK_NAMES.outboxVsConsumed];

/** What bounds one check's horizon. */
export interface CheckPruneFacts {
  check: CheckName;
  /** The check's watermark; null before its first run (then nothing it reads may go). */
  watermark: Date | null;
  /** Start of the oldest window with a discrepancy of the check still open (detected, queued, held, failed), or null. */
  oldestOpenWindowStart: Date | null;
}

/** `now − retention`: nothing younger is ever pruned. */
export function retentionCutoff(now: Date, retentionMs: number): Date {
  return new Date(now.getTime() - retentionMs);
}

/**
 * The instant before which rows read by this check alone may go: min of the
 * retention cutoff, the watermark and the oldest open window start; null
 * (nothing) when the check has no watermark yet.
 */
export function checkHorizon(cutoff: Date, facts: CheckPruneFacts): Date | null {
  if (!facts.watermark) return null;
  let t = Math.min(cutoff.getTime(), facts.watermark.getTime());
  if (facts.oldestOpenWindowStart) t = Math.min(t, facts.oldestOpenWindowStart.getTime());
  return new Date(t);
}

/**
 * The horizon of a table read by `readers`: the earliest of their horizons,
 * and null (prune nothing) when one of them has none.
 */
export function tableHorizon(cutoff: Date, readers: readonly CheckPruneFacts[]): Date | null {
  let t = cutoff.getTime();
  for (const facts of readers) {
    const h = checkHorizon(cutoff, facts);
    if (!h) return null;
    t = Math.min(t, h.getTime());
  }
  return new Date(t);
}

/**
 * The rows of a re-check or a late-arrival re-check that start behind a
 * pruned horizon: a window ending at or before it is dropped, one across it
 * starts at it. Returns null when nothing is left.
 */
export function clipToHorizon<W extends { start: Date; end: Date }>(window: W, horizon: Date | null): W | null {
  if (!horizon || window.start.getTime() >= horizon.getTime()) return window;
  if (window.end.getTime() <= horizon.getTime()) return null;
  return { ...window, start: horizon };
}
