import type { Knex } from 'knex';

/** Runs, their windows, watermarks, discrepancies and report history. */
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    create table runs (
      id uuid primary key,
      trigger text not null,
      checks text[] not null,
      range_from timestamptz null,
      range_to timestamptz null,
      dry_run boolean not null default false,
      status text not null default 'running',
      started_at timestamptz not null default now(),
      finished_at timestamptz null,
      windows int not null default 0,
      -- {"<check>": {"<kind>": n}}
      counts jsonb not null default '{}'::jsonb,
      options jsonb not null default '{}'::jsonb,
      error text null
    );
    create index runs_started_at_idx on runs (started_at desc);

    create table run_windows (
      run_id uuid not null references runs (id) on delete cascade,
      check_name text not null,
      window_start timestamptz not null,
      window_end timestamptz not null,
      status text not null default 'completed',
      counts jsonb not null default '{}'::jsonb,
      rows_compared bigint not null default 0,
      segments_compared int not null default 0,
      duration_ms int not null default 0,
      finished_at timestamptz not null default now(),
      primary key (run_id, check_name, window_start)
    );

    -- Per check: the end of the last fully reconciled window.
    create table watermarks (
      check_name text primary key,
      watermark timestamptz not null,
      updated_at timestamptz not null default now(),
      last_run_id uuid null
    );

    create table discrepancies (
      -- uuidv5(check, kind, entity): a re-run finds the same row, not a new one.
      id uuid primary key,
      check_name text not null,
      kind text not null,
      entity_type text not null,
      entity_id text not null,
      window_start timestamptz not null,
      window_end timestamptz not null,
      details jsonb not null default '{}'::jsonb,
      status text not null default 'detected'
        check (status in ('detected', 'queued', 'resolved', 'failed')),
      first_run_id uuid null,
      last_run_id uuid null,
      detected_at timestamptz not null default now(),
      queued_at timestamptz null,
      resolved_at timestamptz null,
      failed_at timestamptz null,
      attempts int not null default 0,
      last_error text null,
      updated_at timestamptz not null default now()
    );
    create index discrepancies_open_idx on discrepancies (status, updated_at) where status in ('detected', 'queued');
    create index discrepancies_run_idx on discrepancies (first_run_id, kind);
    create index discrepancies_kind_idx on discrepancies (kind, status, detected_at desc);

    create table reports (
      id uuid primary key,
      run_id uuid not null references runs (id) on delete cascade,
      created_at timestamptz not null default now(),
      html_path text null,
      eml_path text null,
      emailed_to text[] not null default '{}',
      message_id text null,
      subject text not null default ''
    );
    create index reports_run_idx on reports (run_id, created_at desc);
  `);
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop table if exists reports, discrepancies, watermarks, run_windows, runs');
}
