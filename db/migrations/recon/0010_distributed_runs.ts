import type { Knex } from 'knex';

/**
 * Distributed runs: a run's windows compared by any `recon worker`.
 *
 * - `run_windows` rows are written up front, `pending`, for a run in
 *   `workers` mode (`status` keeps its default `completed` for in-process
 *   runs, which write a row only once a window is done). `advance` says the
 *   window is on the forward walk (its completion may move the watermark),
 *   `held` that it had rows committed less than the grace ago (the watermark
 *   stops before it). `worker_host` / `worker_pid` name the process that
 *   compared it, `attempts` how many times a worker started it, `started_at`
 *   when the last attempt began.
 * - `runs.mode` is `in-process` or `workers`; `lock_pid` and
 *   `lock_backend_start` name the coordinator's lock session (the backend
 *   holding the checks' advisory locks): a window commits only while that
 *   session still holds its check's lock, so a window job of a run that lost
 *   its check can never commit.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    alter table run_windows
      add column worker_host text null,
      add column worker_pid integer null,
      add column attempts integer not null default 1,
      add column advance boolean not null default false,
      add column held boolean not null default false,
      add column started_at timestamptz null,
      add column recorded uuid[] not null default '{}';
    alter table runs
      add column mode text not null default 'in-process',
      add column lock_pid integer null,
      add column lock_backend_start timestamptz null;
  `);
}

export async function down(db: Knex): Promise<void> {
  await db.raw(`
    alter table run_windows drop column worker_host, drop column worker_pid, drop column attempts,
      drop column advance, drop column held, drop column started_at, drop column recorded;
    alter table runs drop column mode, drop column lock_pid, drop column lock_backend_start;
  `);
}
