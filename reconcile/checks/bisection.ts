/**
 * Checksum bisection: compare per-segment checksums computed inside each
 * database, descend only into segments that differ, and compare rows only
 * where a segment is small. A clean window costs one grouped aggregate per
 * side; transfer grows with the discrepancies, not with the window.
 */
import type { Window } from '../../core/index.js';
import type { DiscrepancyInput } from '../../db/index.js';

export interface BisectionOptions {
  /** Segments the window is cut into at the first level. Default 1024 (a clean window is still one query per side). */
  topFanout: number;
  /** Sub-segments a differing segment is cut into at the next level. Default 32. */
  fanout: number;
  /**
   * A differing segment with at most this many rows (on its larger side) is
   * compared row by row. Default 100: descending one more level inside the
   * database is much cheaper than shipping a thousand rows to compare them
   * here (measured by `npm run bench -- reconcile`).
   */
  leafRows: number;
  /** Most ranges fetched in one row-comparison query. Default 256. */
  leafBatch: number;
}

export const DEFAULT_BISECTION: BisectionOptions = { topFanout: 1024, fanout: 32, leafRows: 100, leafBatch: 256 };

/** A segment whose checksums differ between the sides, with its row count (larger side). */
export interface DifferingSegment extends Window {
  rows: number;
}

export interface SegmentLevel {
  differing: DifferingSegment[];
  /** Rows covered on both sides together. */
  rows: number;
  /** Segments compared (present on either side). */
  segments: number;
}

/** The two operations a check provides to be bisected. */
export interface BisectionTarget {
  /** Compare checksums of the segments `strideMs` wide cut from each of `ranges` (from each range's start). */
  compareSegments(ranges: readonly Window[], strideMs: number): Promise<SegmentLevel>;
  /** Compare the rows of `ranges` exactly and classify. */
  compareRows(ranges: readonly Window[]): Promise<{ found: DiscrepancyInput[]; rowsFetched: number }>;
}

/** End of the segment starting at `seg`: a stride later, clipped to its range. */
export function segmentEnd(seg: Date, strideMs: number, rangeEnd: Date): Date {
  return new Date(Math.min(seg.getTime() + strideMs, rangeEnd.getTime()));
}

/** First-level stride: the window cut into about `fanout` millisecond-aligned segments. */
export function strideFor(widthMs: number, fanout: number): number {
  return Math.max(1, Math.ceil(widthMs / fanout));
}

export async function bisect(
  target: BisectionTarget,
  window: Window,
  options: Partial<BisectionOptions> = {},
): Promise<{ found: DiscrepancyInput[]; rowsCompared: number; segmentsCompared: number; rowsFetched: number }> {
  const o = { ...DEFAULT_BISECTION, ...options };
  let ranges: Window[] = [window];
  let stride = strideFor(window.end.getTime() - window.start.getTime(), o.topFanout);
  let rowsCompared: number | undefined;
  let segmentsCompared = 0;
  const leaves: Window[] = [];
  while (ranges.length > 0) {
    const level = await target.compareSegments(ranges, stride);
    rowsCompared ??= level.rows;
    segmentsCompared += level.segments;
    const next: Window[] = [];
    for (const d of level.differing) {
      const width = d.end.getTime() - d.start.getTime();
      // A segment one millisecond wide cannot be cut further: compare it whatever its size.
      if (d.rows <= o.leafRows || width <= 1) leaves.push({ start: d.start, end: d.end });
      else next.push({ start: d.start, end: d.end });
    }
    ranges = next;
    stride = Math.max(1, Math.ceil(stride / o.fanout));
  }
  leaves.sort((a, b) => a.start.getTime() - b.start.getTime());
  const found: DiscrepancyInput[] = [];
  let rowsFetched = 0;
  for (let i = 0; i < leaves.length; i += o.leafBatch) {
    const r = await target.compareRows(leaves.slice(i, i + o.leafBatch));
    found.push(...r.found);
    rowsFetched += r.rowsFetched;
  }
  return { found: dedupe(found), rowsCompared: rowsCompared ?? 0, segmentsCompared, rowsFetched };
}

/**
 * The same discrepancy found twice in one window (two paths to one dead
 * letter) is one discrepancy; the first finding is kept (callers list the
 * richer path first).
 */
export function dedupe(found: readonly DiscrepancyInput[]): DiscrepancyInput[] {
  const byId = new Map<string, DiscrepancyInput>();
  for (const d of found) if (!byId.has(d.id)) byId.set(d.id, d);
  return [...byId.values()];
}

/**
 * Pair the segments of two sides by start and report those where `same` is
 * false (a segment present on one side only compares to the other's `empty`).
 */
export function pairSegments<A extends { seg: Date; range_end: Date }, B extends { seg: Date; range_end: Date }>(
  left: readonly A[],
  right: readonly B[],
  strideMs: number,
  compare: (a: A | undefined, b: B | undefined) => { same: boolean; rows: number; covered: number },
): SegmentLevel {
  const byStart = new Map<number, { a?: A; b?: B; rangeEnd: Date; seg: Date }>();
  for (const a of left) byStart.set(a.seg.getTime(), { a, rangeEnd: a.range_end, seg: a.seg });
  for (const b of right) {
    const e = byStart.get(b.seg.getTime());
    if (e) e.b = b;
    else byStart.set(b.seg.getTime(), { b, rangeEnd: b.range_end, seg: b.seg });
  }
  const differing: DifferingSegment[] = [];
  let rows = 0;
  for (const { a, b, rangeEnd, seg } of byStart.values()) {
    const c = compare(a, b);
    rows += c.covered;
    if (!c.same) differing.push({ start: seg, end: segmentEnd(seg, strideMs, rangeEnd), rows: c.rows });
  }
  return { differing, rows, segments: byStart.size };
}
