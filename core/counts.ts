/**
 * Counts of discrepancies per kind, and per check and kind (what a run found,
 * as `runs.counts` stores it: `{"<check>": {"<kind>": n}}`). One type each,
 * one way to count and one way to total, for the run, the API, the report and
 * the command line.
 */
import type { DiscrepancyKind } from './kinds.js';
import type { CheckName } from './types.js';

export type KindCounts = Partial<Record<DiscrepancyKind, number>>;
export type CheckKindCounts = Partial<Record<CheckName, KindCounts>>;

/** How many of `items` there are of each kind. */
export function countByKind(items: Iterable<{ kind: DiscrepancyKind }>): KindCounts {
  const counts: KindCounts = {};
  for (const d of items) counts[d.kind] = (counts[d.kind] ?? 0) + 1;
  return counts;
}

/** `more` added into `into` (returned). */
export function addCounts(into: KindCounts, more: KindCounts): KindCounts {
  for (const [kind, n] of Object.entries(more) as [DiscrepancyKind, number | undefined][]) into[kind] = (into[kind] ?? 0) + (Number(n) || 0);
  return into;
}

/** Per kind, over all checks. */
export function kindTotals(counts: CheckKindCounts): KindCounts {
  const out: KindCounts = {};
  for (const kinds of Object.values(counts)) if (kinds) addCounts(out, kinds);
  return out;
}

/** The total of the kinds `include` accepts (all by default), over all checks. */
export function countTotal(counts: CheckKindCounts, include: (kind: DiscrepancyKind) => boolean = () => true): number {
  let n = 0;
  for (const [kind, v] of Object.entries(kindTotals(counts)) as [DiscrepancyKind, number][]) if (include(kind)) n += v;
  return n;
}
