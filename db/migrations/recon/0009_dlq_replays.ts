import type { Knex } from 'knex';

/**
 * Letters of foreign consumer groups (a Spring service: it writes nothing
 * recon reads but its `<topic>.DLT`) that `recon dlq replay --group` sent
 * back to their topic: one row per letter (its DLT position), with where
 * the replayed record landed, so a letter is replayed once and a run can
 * tell a replayed, consumed letter from an open one. recon's own letters
 * keep `dead_letters.replayed_at` in the users/points databases.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    create table dlq_replays (
      dlt_topic text not null,
      dlt_partition integer not null,
      dlt_offset bigint not null,
      consumer_group text not null,
      topic text not null,
      kafka_partition integer not null,
      kafka_offset bigint not null,
      event_id uuid null,
      replay_count integer not null,
      replayed_partition integer not null,
      replayed_offset bigint not null,
      replayed_at timestamptz not null default now(),
      primary key (dlt_topic, dlt_partition, dlt_offset)
    )`);
  await db.raw('create index dlq_replays_replayed_idx on dlq_replays (topic, replayed_partition, replayed_offset)');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('drop table if exists dlq_replays');
}
