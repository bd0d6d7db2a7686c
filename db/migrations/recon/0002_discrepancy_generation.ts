import type { Knex } from 'knex';

/**
 * `generation` counts how often a resolved discrepancy was reopened. Jobs are
 * deduplicated by (id, generation): a re-run cannot queue the same fix twice,
 * yet a fix that did not hold can be queued again.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw('alter table discrepancies add column generation int not null default 0');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('alter table discrepancies drop column generation');
}
