import type { Knex } from 'knex';

/**
 * Reports and the API list the discrepancies a run saw: found first
 * (`first_run_id`, indexed) or found again (`last_run_id`, indexed here).
 */
export async function up(db: Knex): Promise<void> {
  await db.raw('create index if not exists discrepancies_last_run_idx on discrepancies (last_run_id, kind)');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop index if exists discrepancies_last_run_idx');
}
