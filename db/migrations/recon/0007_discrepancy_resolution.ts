import type { Knex } from 'knex';

/**
 * How a discrepancy was resolved when its own compensation did not resolve it:
 * an `unconsumed_event` whose event was dead-lettered later is closed by the
 * run that records the `dead_lettered_event` (`superseded by ...`), so it is
 * never republished again. Null otherwise.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw('alter table discrepancies add column resolution text null');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('alter table discrepancies drop column if exists resolution');
}
