/**
 * Compensation planning: which handler restores which invariant, and how
 * discrepancies are cut into jobs. Every handler checks its entity's invariant
 * on the real tables before writing (already holds → resolved, no write) and
 * after (holds → resolved; else retry or fail), and writes only with
 * deterministic ids, so executing a compensation twice has one effect.
 */
import { isCompensable, type CompensableKind, type DiscrepancyKind } from '../../core/index.js';
import { compensationDatabases, type DiscrepancyRow } from '../../db/index.js';
import { compensateMissingGrants } from './grants.js';
import { compensateUnconsumed, compensateUnpublished } from './republish.js';
import { compensateRevocations } from './revocations.js';
import type { CompensationDeps, CompensationHandler, CompensationJobState, CompensationOutcome } from './types.js';

/** One handler per compensable kind: complete, so a compensable kind added to the registry without a handler does not compile. */
export const COMPENSATION_HANDLERS: Readonly<Record<CompensableKind, CompensationHandler>> = {
  missing_grant: compensateMissingGrants,
  orphan_grant: compensateRevocations,
  excess_grant: compensateRevocations,
  unpublished_event: compensateUnpublished,
  unconsumed_event: compensateUnconsumed,
};

/**
 * Compensate open discrepancies (any mix of kinds): one handler call per kind,
 * each with multi-row SQL. Returns one outcome per row. Reported-only kinds
 * (phantom, dead-lettered) come back `failed`: they are never compensated.
 */
export async function compensate(
  deps: CompensationDeps,
  rows: readonly DiscrepancyRow[],
  state: CompensationJobState = { resent: new Set() },
): Promise<CompensationOutcome[]> {
  const byKind = new Map<DiscrepancyKind, DiscrepancyRow[]>();
  for (const row of rows) {
    const list = byKind.get(row.kind);
    if (list) list.push(row);
    else byKind.set(row.kind, [row]);
  }
  const outcomes: CompensationOutcome[] = [];
  // The handlers read and write the sources as the writer role (INSERT on the ledger and the points outbox, no more).
  const writing: CompensationDeps = { ...deps, dbs: compensationDatabases(deps.dbs) };
  for (const [kind, mine] of byKind) {
    if (!isCompensable(kind)) {
      for (const r of mine) outcomes.push({ id: r.id, result: 'failed', reason: `${kind} is reported, not compensated` });
      continue;
    }
    outcomes.push(...(await COMPENSATION_HANDLERS[kind](writing, mine, state)));
  }
  return outcomes;
}

/** One job's worth of discrepancies: all of one kind, at most the batch size. */
export interface CompensationBatch {
  kind: DiscrepancyKind;
  items: { id: string; generation: number }[];
}

/**
 * Cut discrepancies into jobs: compensable kinds only, grouped by kind (one
 * handler, one set of multi-row statements per job), at most `batchSize` each,
 * in id order so the same set always makes the same batches.
 */
export function planCompensationBatches(found: readonly { id: string; kind: DiscrepancyKind; generation?: number }[], batchSize: number): CompensationBatch[] {
  const byKind = new Map<DiscrepancyKind, { id: string; generation: number }[]>();
  for (const f of found) {
    if (!isCompensable(f.kind)) continue;
    const item = { id: f.id, generation: f.generation ?? 0 };
    const list = byKind.get(f.kind);
    if (list) list.push(item);
    else byKind.set(f.kind, [item]);
  }
  const batches: CompensationBatch[] = [];
  for (const [kind, items] of [...byKind].sort(([a], [b]) => a.localeCompare(b))) {
    items.sort((a, b) => a.id.localeCompare(b.id));
    for (let i = 0; i < items.length; i += Math.max(1, batchSize)) batches.push({ kind, items: items.slice(i, i + batchSize) });
  }
  return batches;
}
