/**
 * Windows and the safe upper bound: pure arithmetic on instants, so it can be
 * tested without databases.
 */
import type { Window } from '../../core/index.js';

/** What one source database says about "now" and its oldest writing transaction. */
export interface WriterHorizon {
  /** The database server's clock. */
  now: Date;
  /** Start of the oldest transaction open on the source database, or null when none. */
  oldestWriterStart: Date | null;
}

/**
 * Keys are written at millisecond precision from `now()`, which can lie up
 * to a millisecond before the transaction start Postgres reports in
 * microseconds; a second of margin covers that with room to spare.
 */
export const SAFE_BOUND_MARGIN_MS = 1000;

/**
 * The end no window may pass: min over the sources of (now − grace, start of
 * the oldest transaction still writing), less a safety margin. Rows beyond it
 * may still be invisible (uncommitted) or in flight on the stream.
 */
export function safeUpperBound(horizons: readonly WriterHorizon[], graceSeconds: number, marginMs = SAFE_BOUND_MARGIN_MS): Date {
  if (horizons.length === 0) throw new Error('safeUpperBound needs at least one source');
  let bound = Infinity;
  for (const h of horizons) {
    bound = Math.min(bound, h.now.getTime() - graceSeconds * 1000);
    if (h.oldestWriterStart) bound = Math.min(bound, h.oldestWriterStart.getTime());
  }
  return new Date(Math.floor(bound) - marginMs);
}

/**
 * Cut `[start, end)` into half-open windows `sizeMs` wide; the last one may
 * be shorter. Nothing when `end <= start`.
 */
export function planWindows(start: Date, end: Date, sizeMs: number): Window[] {
  if (!(sizeMs > 0)) throw new Error(`window size must be positive (got ${sizeMs})`);
  const windows: Window[] = [];
  for (let t = start.getTime(); t < end.getTime(); t += sizeMs) {
    windows.push({ start: new Date(t), end: new Date(Math.min(t + sizeMs, end.getTime())) });
  }
  return windows;
}

/** `[start, end)` of a check's next run: from its watermark (or first row, or `RECON_START`) to the safe bound. */
export function walkRange(watermark: Date | null, start: Date | undefined, earliest: Date | null, bound: Date): Window | null {
  const from = watermark ?? start ?? earliest;
  if (!from || from.getTime() >= bound.getTime()) return null;
  return { start: from, end: bound };
}
