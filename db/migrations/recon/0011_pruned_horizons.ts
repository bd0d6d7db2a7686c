import type { Knex } from 'knex';

/**
 * Retention (`recon prune`).
 *
 * - `pruned_horizons`: per check, the instant before which `recon prune` may
 *   have deleted the source rows the check reads (outbox and consumed-event
 *   rows). It only moves forward, and it is recorded before anything is
 *   deleted: runs, re-checks (`--from`) and late-arrival scans never look
 *   behind it, so pruned history is never mistaken for drift.
 *   `last_counts` is what the last prune deleted, per table.
 * - Indexes by check and window end for the recon tables a prune thins out:
 *   closed discrepancies and the window records of runs.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    create table pruned_horizons (
      check_name text primary key,
      horizon timestamptz not null,
      pruned_at timestamptz not null default now(),
      last_counts jsonb not null default '{}'::jsonb
    );
    create index discrepancies_closed_window_idx on discrepancies (check_name, window_end) where status in ('resolved', 'dismissed');
    create index run_windows_check_end_idx on run_windows (check_name, window_end);
  `);
}

export async function down(db: Knex): Promise<void> {
  await db.raw(`
    drop index if exists run_windows_check_end_idx;
    drop index if exists discrepancies_closed_window_idx;
    drop table if exists pruned_horizons;
  `);
}
