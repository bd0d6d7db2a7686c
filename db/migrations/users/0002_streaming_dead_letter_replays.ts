import type { Knex } from 'knex';

/** When `recon dlq replay` sent a dead letter back to its topic (null: not replayed yet). */
export async function up(db: Knex): Promise<void> {
  await db.raw('alter table dead_letters add column replayed_at timestamptz null');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('alter table dead_letters drop column if exists replayed_at');
}
