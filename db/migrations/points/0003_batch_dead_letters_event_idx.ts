import type { Knex } from 'knex';

/**
 * The batch layer looks up a group's dead letters by event id (a dead-lettered
 * event is reported as such, not republished as unconsumed); without this
 * index that lookup would scan the whole table.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw('create index dead_letters_event_idx on dead_letters (consumer_group, event_id) where event_id is not null');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop index if exists dead_letters_event_idx');
}
