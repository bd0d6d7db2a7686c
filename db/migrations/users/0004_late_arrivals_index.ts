import type { Knex } from 'knex';

/**
 * Rows a consumer writes late (it was down longer than the grace period) carry
 * an old window key. An index on their insert time lets each run find, cheaply,
 * which windows behind the watermark received such rows and check them again.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    create index consumed_events_consumed_at_idx on consumed_events (consumed_at);
  `);
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop index if exists consumed_events_consumed_at_idx');
}
