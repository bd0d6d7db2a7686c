import type { Knex } from 'knex';

/**
 * The work list's per-key index becomes a hash of the key: the relay asks,
 * for every row it claims, whether an earlier unpublished row of the same
 * topic and key exists outside its claim, and a republishing compensation
 * asks the same of every row it sends. Both only need the few rows of one
 * key, which an index on `hashtextextended(message_key, 0)` finds as well
 * as one on `(topic, message_key, occurred_at, event_id)` did (the topic,
 * the key itself and the order are checked on those rows). An 8-byte entry
 * instead of two strings, a UUID and a timestamp makes every outbox insert
 * (through the work list's trigger) and every probe cheaper: measured with
 * `npm run bench -- stream-statements`, see the README. Rows without a key
 * never wait, so they are not indexed.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    create index unpublished_events_key_hash_idx on unpublished_events (hashtextextended(message_key, 0)) where message_key is not null;
    drop index if exists unpublished_events_key_idx;
  `);
}

export async function down(db: Knex): Promise<void> {
  await db.raw(`
    create index if not exists unpublished_events_key_idx on unpublished_events (topic, message_key, occurred_at, event_id);
    drop index if exists unpublished_events_key_hash_idx;
  `);
}
