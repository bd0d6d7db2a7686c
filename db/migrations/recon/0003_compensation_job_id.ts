import type { Knex } from 'knex';

/**
 * `job_id` is the BullMQ job that currently carries a queued discrepancy. The
 * sweeper asks Redis about it: a queued discrepancy whose job is gone (Redis
 * flushed or restarted) or finished without resolving it is queued again.
 * Claiming a discrepancy for a job is a conditional update on
 * (status, job_id), so two enqueuers never both queue the same one.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    alter table discrepancies add column job_id text null;
    create index discrepancies_job_idx on discrepancies (job_id) where status = 'queued';
  `);
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop index if exists discrepancies_job_idx; alter table discrepancies drop column job_id');
}
