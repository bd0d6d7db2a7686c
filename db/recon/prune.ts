/**
 * The recon database's side of retention: the pruned horizon of each check,
 * what bounds it (open discrepancies), and the batched deletes of old window
 * records and closed discrepancies.
 */
import type { Knex } from 'knex';
import type { CheckName } from '../../core/index.js';

/** Statuses of a discrepancy that is not settled: its window's rows are kept. */
export const OPEN_DISCREPANCY_STATUSES = ['detected', 'queued', 'held', 'failed'] as const;
/** Statuses of a settled discrepancy: a prune may delete it once its window is behind the horizon. */
export const CLOSED_DISCREPANCY_STATUSES = ['resolved', 'dismissed'] as const;

/** Per check, the instant before which its source rows may have been pruned. Checks never pruned are absent. */
export async function prunedHorizons(db: Knex | Knex.Transaction): Promise<Map<CheckName, Date>> {
  const rows = (await db('pruned_horizons').select('check_name', 'horizon')) as { check_name: CheckName; horizon: Date }[];
  return new Map(rows.map((r) => [r.check_name, r.horizon]));
}

/** The pruned horizon of one check, or null when nothing it reads was ever pruned. */
export async function prunedHorizon(db: Knex | Knex.Transaction, check: CheckName): Promise<Date | null> {
  const row = (await db('pruned_horizons').where({ check_name: check }).first('horizon')) as { horizon: Date } | undefined;
  return row?.horizon ?? null;
}

/** Move a check's pruned horizon forward to `horizon` (never back). Recorded before any row behind it is deleted. */
export async function recordPrunedHorizon(db: Knex | Knex.Transaction, check: CheckName, horizon: Date): Promise<void> {
  await db.raw(
    `insert into pruned_horizons (check_name, horizon) values (?, ?)
     on conflict (check_name) do update set horizon = greatest(pruned_horizons.horizon, excluded.horizon), pruned_at = now()`,
    [check, horizon],
  );
}

/** Keep what a finished prune deleted, per table, beside the horizon. */
export async function recordPruneCounts(db: Knex | Knex.Transaction, check: CheckName, counts: Record<string, number>): Promise<void> {
  await db('pruned_horizons')
    .where({ check_name: check })
    .update({ last_counts: JSON.stringify(counts) });
}

/** Start of the oldest window holding a discrepancy of `check` that is still open (detected, queued, held, failed), or null. */
export async function oldestOpenWindowStart(db: Knex | Knex.Transaction, check: CheckName): Promise<Date | null> {
  const { rows } = await db.raw<{ rows: { t: Date | null }[] }>(
    'select min(window_start) as t from discrepancies where check_name = ? and status = any(?::text[])',
    [check, [...OPEN_DISCREPANCY_STATUSES]],
  );
  return rows[0]?.t ?? null;
}

/** What one batched delete of the recon database did. */
export interface ReconPruneBatch {
  deleted: number;
}

/**
 * Delete (or, with `dryRun`, count) up to `limit` window records of `check`
 * that end at or before `before` and were written before `writtenBefore`,
 * in one short statement. The runs themselves (one row each, and the
 * report history hanging off them) are kept.
 */
export async function pruneRunWindows(
  db: Knex,
  o: { check: CheckName; before: Date; writtenBefore: Date; limit: number; dryRun: boolean },
): Promise<ReconPruneBatch> {
  const select = `select ctid from run_windows where check_name = ? and window_end <= ? and finished_at < ? limit ?`;
  const args = [o.check, o.before, o.writtenBefore, o.limit];
  if (o.dryRun) {
    const { rows } = await db.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from (${select.replace(' limit ?', '')}) s`, args.slice(0, 3));
    return { deleted: rows[0]?.n ?? 0 };
  }
  const { rowCount } = await db.raw<{ rowCount: number }>(`delete from run_windows where ctid = any(array(${select}))`, args);
  return { deleted: rowCount ?? 0 };
}

/**
 * Delete (or count) up to `limit` closed discrepancies (resolved, dismissed)
 * of `check` whose window ends at or before `before` and that last changed
 * before `changedBefore`. Open ones are never touched.
 */
export async function pruneClosedDiscrepancies(
  db: Knex,
  o: { check: CheckName; before: Date; changedBefore: Date; limit: number; dryRun: boolean },
): Promise<ReconPruneBatch> {
  const where = `check_name = ? and window_end <= ? and status = any(?::text[]) and updated_at < ?`;
  const args = [o.check, o.before, [...CLOSED_DISCREPANCY_STATUSES], o.changedBefore];
  if (o.dryRun) {
    const { rows } = await db.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from discrepancies where ${where}`, args);
    return { deleted: rows[0]?.n ?? 0 };
  }
  const { rowCount } = await db.raw<{ rowCount: number }>(
    `delete from discrepancies where id = any(array(select id from discrepancies where ${where} limit ?))`,
    [...args, o.limit],
  );
  return { deleted: rowCount ?? 0 };
}
