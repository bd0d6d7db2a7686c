import type { Knex } from 'knex';

/**
 * The blast-radius guard and its audit trail.
 *
 * - `discrepancies.status` gains `held` (a run's guard kept its compensation
 *   back for an operator) and `dismissed` (an operator closed it without an
 *   effect). `held_run_id` is the run whose guard held it (kept when a later
 *   run finds it again), `decision_id` the decision that approved or
 *   dismissed it, `dismissed_reason` the operator's reason.
 * - `runs.held`: per check, why the guard held its compensations and how many
 *   (`{"<check>": {"reason": "count"|"ratio", "compensable": n, "rowsCompared": m, ...}}`).
 * - `compensation_decisions`: who approved or dismissed what, when, how many.
 * - The partial index of open discrepancies also covers `held` ones (open
 *   until a decision).
 */
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    alter table discrepancies drop constraint if exists discrepancies_status_check;
    alter table discrepancies add constraint discrepancies_status_check
      check (status in ('detected', 'queued', 'resolved', 'failed', 'held', 'dismissed'));

    create table compensation_decisions (
      id uuid primary key,
      run_id uuid not null references runs (id) on delete cascade,
      check_name text null,
      -- null: every kind
      kind text null,
      action text not null check (action in ('approve', 'dismiss')),
      actor text not null,
      reason text null,
      requested_limit int null,
      affected int not null default 0,
      decided_at timestamptz not null default now()
    );
    create index compensation_decisions_run_idx on compensation_decisions (run_id, decided_at);

    alter table discrepancies
      add column held_run_id uuid null,
      add column decision_id uuid null references compensation_decisions (id) on delete set null,
      add column dismissed_reason text null;
    create index discrepancies_held_idx on discrepancies (held_run_id, check_name, kind) where status = 'held';

    drop index if exists discrepancies_open_idx;
    create index discrepancies_open_idx on discrepancies (status, updated_at) where status in ('detected', 'queued', 'held');

    alter table runs add column held jsonb not null default '{}'::jsonb;
  `);
}

export async function down(db: Knex): Promise<void> {
  await db.raw(`
    alter table runs drop column if exists held;
    drop index if exists discrepancies_open_idx;
    create index discrepancies_open_idx on discrepancies (status, updated_at) where status in ('detected', 'queued');
    drop index if exists discrepancies_held_idx;
    alter table discrepancies drop column if exists dismissed_reason, drop column if exists decision_id, drop column if exists held_run_id;
    drop table if exists compensation_decisions;
    update discrepancies set status = 'detected' where status in ('held', 'dismissed');
    alter table discrepancies drop constraint if exists discrepancies_status_check;
    alter table discrepancies add constraint discrepancies_status_check check (status in ('detected', 'queued', 'resolved', 'failed'));
  `);
}
