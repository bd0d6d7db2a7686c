import type { Knex } from 'knex';

/**
 * Why a dead letter is not on its `.DLT` topic (null: it is). A dead letter
 * the topic can never take (too large, ...) is kept here with the reason, and
 * the consumer moves on instead of stopping its partition behind it.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw('alter table dead_letters add column dlt_error text null');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('alter table dead_letters drop column if exists dlt_error');
}
