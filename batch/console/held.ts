/**
 * Held compensations of a run and the decisions taken on them, as the
 * console shows them: what `batch/compensation/decisions.ts` keeps.
 */
import type { Knex } from 'knex';
import type { CheckName, DiscrepancyKind } from '../../core/index.js';

export interface HeldGroup {
  check: CheckName;
  kind: DiscrepancyKind;
  count: number;
}

export interface Decision {
  runId: string;
  check: string | null;
  kind: string | null;
  action: string;
  actor: string;
  reason: string | null;
  requestedLimit: number | null;
  affected: number;
  decidedAt: Date;
}

/** Held discrepancies a run saw, per check and kind. */
export async function heldForRun(db: Knex, runId: string): Promise<HeldGroup[]> {
  const { rows } = await db.raw<{ rows: { check: CheckName; kind: DiscrepancyKind; count: number }[] }>(
    `select check_name as check, kind, count(*)::int as count from discrepancies
      where status = 'held' and (first_run_id = ?::uuid or last_run_id = ?::uuid)
      group by check_name, kind order by check_name, kind`,
    [runId, runId],
  );
  return rows;
}

/** The decisions taken on a run, oldest first; none where the decisions table does not exist yet. */
export async function decisionsForRun(db: Knex, runId: string): Promise<Decision[]> {
  const { rows } = await db.raw<{ rows: { present: boolean }[] }>("select to_regclass('compensation_decisions') is not null as present");
  if (!rows[0]?.present) return [];
  const found = (await db('compensation_decisions').where({ run_id: runId }).orderBy('decided_at')) as Record<string, unknown>[];
  return found.map((r) => ({
    runId: r.run_id as string,
    check: (r.check_name as string | null) ?? null,
    kind: (r.kind as string | null) ?? null,
    action: r.action as string,
    actor: r.actor as string,
    reason: (r.reason as string | null) ?? null,
    requestedLimit: (r.requested_limit as number | null) ?? null,
    affected: Number(r.affected),
    decidedAt: r.decided_at as Date,
  }));
}

/** Approve held compensations (queue them); the decisions module of the guard does it. */
export async function approveHeld(
  _deps: unknown,
  _o: { runId: string; kind?: DiscrepancyKind; limit?: number; actor: string },
): Promise<{ queued: number; approved: number }> {
  throw new Error('approving held compensations needs the decisions module (not in this build yet)');
}

/** Dismiss held compensations (close them without an effect). */
export async function dismissHeld(
  _deps: unknown,
  _o: { runId: string; kind?: DiscrepancyKind; reason: string; actor: string },
): Promise<{ dismissed: number }> {
  throw new Error('dismissing held compensations needs the decisions module (not in this build yet)');
}
