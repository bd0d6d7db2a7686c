import type { Knex } from 'knex';
import type { CheckName } from '../../core/index.js';

/** A check's watermark: the end of its last fully reconciled window. Null when it has none yet. */
export async function getWatermark(db: Knex | Knex.Transaction, check: CheckName): Promise<Date | null> {
  const row = (await db('watermarks').where({ check_name: check }).first('watermark')) as { watermark: Date } | undefined;
  return row?.watermark ?? null;
}

/** Every check's watermark (for reports and the API). */
export async function listWatermarks(
  db: Knex | Knex.Transaction,
): Promise<{ check_name: CheckName; watermark: Date; updated_at: Date; last_run_id: string | null }[]> {
  return db('watermarks').select('check_name', 'watermark', 'updated_at', 'last_run_id').orderBy('check_name');
}

/**
 * Move a check's watermark to `to`, in the caller's transaction (the one that
 * records the window's discrepancies). It only moves forward: a late writer
 * with an older value leaves it alone.
 */
export async function advanceWatermark(db: Knex | Knex.Transaction, check: CheckName, to: Date, runId: string): Promise<void> {
  await db.raw(
    `insert into watermarks (check_name, watermark, last_run_id) values (?, ?, ?::uuid)
     on conflict (check_name) do update
       set watermark = excluded.watermark, last_run_id = excluded.last_run_id, updated_at = now()
       where watermarks.watermark < excluded.watermark`,
    [check, to, runId],
  );
}

/** Insert time from which the next run looks for rows written late behind the check's watermark; null before the first run. */
export async function getLateScanFrom(db: Knex | Knex.Transaction, check: CheckName): Promise<Date | null> {
  const row = (await db('watermarks').where({ check_name: check }).first('late_scan_from')) as { late_scan_from: Date | null } | undefined;
  return row?.late_scan_from ?? null;
}

/** Record where the next late-arrival scan starts (only forward; needs the check's watermark row). */
export async function setLateScanFrom(db: Knex | Knex.Transaction, check: CheckName, from: Date): Promise<void> {
  await db('watermarks')
    .where({ check_name: check })
    .andWhere((q) => q.whereNull('late_scan_from').orWhere('late_scan_from', '<', from))
    .update({ late_scan_from: from });
}

/** Per check: its watermark and how far it is behind now, in seconds. */
export async function watermarkLags(db: Knex): Promise<{ check_name: CheckName; watermark: Date; lag_seconds: number }[]> {
  const { rows } = await db.raw<{ rows: { check_name: CheckName; watermark: Date; lag_seconds: number }[] }>(
    'select check_name, watermark, extract(epoch from (now() - watermark))::float8 as lag_seconds from watermarks order by check_name',
  );
  return rows;
}
