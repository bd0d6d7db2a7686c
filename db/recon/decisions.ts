/**
 * Recon-DB side of the blast-radius guard: holding a check's compensations,
 * the operators' decisions (approve, dismiss) and their audit trail.
 */
import type { Knex } from 'knex';
import type { CheckName, DiscrepancyKind } from '../../core/index.js';

/** Why a run's guard held a check's compensations, as kept in `runs.held`. */
export interface HeldCheck {
  /** `count`: more than `limit`; `ratio`: more than `ratio` of the rows compared (and at least `ratioMinCount`). */
  reason: 'count' | 'ratio';
  /** Compensable discrepancies the check would have queued. */
  compensable: number;
  /** Rows the check compared in the run (both sides, every window). */
  rowsCompared: number;
  limit: number;
  ratio: number;
  ratioMinCount: number;
  /** Held per kind. */
  kinds: Partial<Record<DiscrepancyKind, number>>;
  /** One line for people: "1500 compensations > RECON_AUTO_COMPENSATE_LIMIT 1000". */
  message: string;
}

export type RunHeld = Partial<Record<CheckName, HeldCheck>>;

/** One row of the audit trail. */
export interface DecisionRow {
  id: string;
  run_id: string;
  check_name: CheckName | null;
  kind: DiscrepancyKind | null;
  action: 'approve' | 'dismiss';
  actor: string;
  reason: string | null;
  requested_limit: number | null;
  affected: number;
  decided_at: Date;
}

/** A discrepancy of a run's check that the guard is to judge: recorded by this run, not yet queued. */
export interface GuardCandidate {
  id: string;
  kind: DiscrepancyKind;
  generation: number;
}

/**
 * What a run's guard judges for `check`: of `ids` (what its windows recorded
 * as new, reopened or unjudged), those still `detected`, and the ones an
 * earlier run recorded but ended (failed, interrupted, aborted) before its
 * guard judged them: their windows are behind the watermark, so no later run
 * finds them again. Approved ones are not judged again.
 */
export async function guardCandidates(
  db: Knex | Knex.Transaction,
  { runId, check, kinds, ids }: { runId: string; check: CheckName; kinds: readonly DiscrepancyKind[]; ids: readonly string[] },
): Promise<GuardCandidate[]> {
  const { rows } = await db.raw<{ rows: GuardCandidate[] }>(
    `select id, kind, generation from discrepancies
      where check_name = ? and status = 'detected' and kind = any(?::text[]) and decision_id is null
        -- Report-only findings (an offsets group's event on the topic) are never compensated: nothing to judge.
        and coalesce(details->>'compensation', '') <> 'report'
        and (id = any(?::uuid[])
             or (last_run_id <> ?::uuid
                 and exists (select 1 from runs r where r.id = discrepancies.last_run_id and r.status not in ('running', 'completed'))))
      order by detected_at, id`,
    [check, Array.from(kinds), Array.from(ids), runId],
  );
  return rows;
}

/** Rows `check` compared in the run, over all its windows. */
export async function runRowsCompared(db: Knex | Knex.Transaction, runId: string, check: CheckName): Promise<number> {
  const row = (await db('run_windows').where({ run_id: runId, check_name: check }).sum({ n: 'rows_compared' }).first()) as
    { n: string | number | null } | undefined;
  return Number(row?.n ?? 0);
}

/** Hold `ids` (still `detected`) for run `runId`'s decision, and note why in `runs.held`. Returns how many were held, per kind. */
export async function holdDiscrepancies(
  db: Knex,
  runId: string,
  check: CheckName,
  ids: readonly string[],
  why: Omit<HeldCheck, 'kinds'>,
): Promise<Partial<Record<DiscrepancyKind, number>>> {
  return db.transaction(async (trx) => {
    const kinds: Partial<Record<DiscrepancyKind, number>> = {};
    for (let i = 0; i < ids.length; i += 5000) {
      const { rows } = await trx.raw<{ rows: { kind: DiscrepancyKind; n: number }[] }>(
        `with held as (
           update discrepancies set status = 'held', held_run_id = ?::uuid, updated_at = now()
            where id = any(?::uuid[]) and status = 'detected'
           returning kind
         ) select kind, count(*)::int as n from held group by kind`,
        [runId, ids.slice(i, i + 5000)],
      );
      for (const r of rows) kinds[r.kind] = (kinds[r.kind] ?? 0) + r.n;
    }
    await trx.raw(`update runs set held = held || jsonb_build_object(?::text, ?::jsonb) where id = ?::uuid`, [check, JSON.stringify({ ...why, kinds }), runId]);
    return kinds;
  });
}

/** Held discrepancies of a run (held by its guard), per check and kind. */
export async function heldCounts(db: Knex | Knex.Transaction, runId: string): Promise<{ check: CheckName; kind: DiscrepancyKind; count: number }[]> {
  const { rows } = await db.raw<{ rows: { check: CheckName; kind: DiscrepancyKind; count: number }[] }>(
    `select check_name as check, kind, count(*)::int as count from discrepancies
      where held_run_id = ?::uuid and status = 'held'
      group by check_name, kind order by check_name, kind`,
    [runId],
  );
  return rows;
}

/** Insert one decision (in the caller's transaction). */
export async function insertDecision(trx: Knex | Knex.Transaction, row: Omit<DecisionRow, 'decided_at'>): Promise<DecisionRow> {
  const [out] = (await trx('compensation_decisions').insert(row).returning('*')) as DecisionRow[];
  return out!;
}

/** Set a decision's `affected` count once its rows are known. */
export async function setDecisionAffected(trx: Knex | Knex.Transaction, id: string, affected: number): Promise<void> {
  await trx('compensation_decisions').where({ id }).update({ affected });
}

/** The audit trail of a run, oldest first. */
export async function listDecisions(db: Knex | Knex.Transaction, runId: string): Promise<DecisionRow[]> {
  return (await db('compensation_decisions')
    .where({ run_id: runId })
    .orderBy([{ column: 'decided_at' }, { column: 'id' }])) as DecisionRow[];
}

export interface HeldSelection {
  runId: string;
  kind?: DiscrepancyKind;
  check?: CheckName;
  /** At most this many, oldest first. */
  limit?: number;
}

/**
 * The held rows `s` selects, locked (others' locked rows skipped), in a
 * materialized CTE: as a plain `in (subquery ... limit)` the planner may scan
 * the subquery again, and with SKIP LOCKED each scan can pick other rows.
 */
function pickHeld(s: HeldSelection): { sql: string; bindings: Knex.Value[] } {
  const where = ['held_run_id = ?::uuid', "status = 'held'"];
  const bindings: Knex.Value[] = [s.runId];
  if (s.kind) {
    where.push('kind = ?');
    bindings.push(s.kind);
  }
  if (s.check) {
    where.push('check_name = ?');
    bindings.push(s.check);
  }
  const limit = s.limit !== undefined ? ' limit ?' : '';
  if (s.limit !== undefined) bindings.push(s.limit);
  return {
    sql: `with picked as materialized (
            select id from discrepancies where ${where.join(' and ')} order by detected_at, id${limit} for update skip locked
          )`,
    bindings,
  };
}

/** Approve held discrepancies: `held` → `detected` under `decisionId`, ready for `enqueueCompensations`. */
export async function releaseHeld(trx: Knex.Transaction, s: HeldSelection, decisionId: string): Promise<GuardCandidate[]> {
  const pick = pickHeld(s);
  const { rows } = await trx.raw<{ rows: GuardCandidate[] }>(
    `${pick.sql}
     update discrepancies d set status = 'detected', decision_id = ?::uuid, updated_at = now()
       from picked where d.id = picked.id and d.status = 'held'
     returning d.id, d.kind, d.generation`,
    [...pick.bindings, decisionId],
  );
  return rows;
}

/** Dismiss held discrepancies: `held` → `dismissed` with the reason, under `decisionId`. Returns how many. */
export async function dismissHeldRows(trx: Knex.Transaction, s: HeldSelection, decisionId: string, reason: string): Promise<number> {
  const pick = pickHeld(s);
  const { rowCount } = await trx.raw<{ rowCount: number }>(
    `${pick.sql}
     update discrepancies d set status = 'dismissed', decision_id = ?::uuid, dismissed_reason = ?, updated_at = now()
       from picked where d.id = picked.id and d.status = 'held'`,
    [...pick.bindings, decisionId, reason],
  );
  return rowCount;
}

/** Note the decision that let `ids` through (a run's `--approve-all`). */
export async function markDecided(db: Knex | Knex.Transaction, ids: readonly string[], decisionId: string): Promise<void> {
  for (let i = 0; i < ids.length; i += 5000)
    await db('discrepancies')
      .whereRaw('id = any(?::uuid[])', [ids.slice(i, i + 5000)])
      .update({ decision_id: decisionId });
}
