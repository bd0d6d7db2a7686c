import type { Knex } from 'knex';

/**
 * The unpublished rows of one topic and key in outbox order: a republishing
 * compensation asks, for each row it is about to send, whether an earlier row
 * of its key is still unpublished (one index range scan per row, however large
 * the backlog).
 */
export async function up(db: Knex): Promise<void> {
  await db.raw('create index outbox_unpublished_key_idx on outbox (topic, message_key, occurred_at, event_id) where published_at is null');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop index if exists outbox_unpublished_key_idx');
}
