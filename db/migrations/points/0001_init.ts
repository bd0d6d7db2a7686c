import type { Knex } from 'knex';

/** The append-only point ledger, consumed events, the point.granted outbox, dead letters. */
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    create table point_ledger (
      entry_id uuid primary key,
      user_id uuid not null,
      amount integer not null,
      reason text not null,
      user_created_at timestamptz not null,
      created_at timestamptz not null default now(),
      source text not null default 'stream',
      discrepancy_id uuid null
    );
    -- Window key of users-vs-points (index-only scans with user_id and amount).
    create index point_ledger_window_idx on point_ledger (user_created_at, user_id) include (amount, reason);
    create index point_ledger_user_idx on point_ledger (user_id);

    -- Append-only: the ledger is never updated or deleted.
    create function point_ledger_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'point_ledger is append-only (% refused)', tg_op using errcode = '55000';
    end $$;
    create trigger point_ledger_append_only before update or delete on point_ledger
      for each statement execute function point_ledger_append_only();

    create table consumed_events (
      event_id uuid not null,
      consumer_group text not null,
      topic text not null,
      kafka_partition int not null,
      kafka_offset bigint not null,
      consumed_at timestamptz not null default now(),
      event_occurred_at timestamptz not null default now(),
      primary key (event_id, consumer_group)
    );
    create index consumed_events_window_idx on consumed_events (consumer_group, event_occurred_at, event_id);

    create table outbox (
      event_id uuid primary key,
      topic text not null,
      message_key text,
      payload jsonb not null,
      headers jsonb not null default '{}'::jsonb,
      occurred_at timestamptz not null default now(),
      published_at timestamptz null,
      kafka_partition int null,
      kafka_offset bigint null,
      attempts int not null default 0,
      last_error text null
    );
    create index outbox_occurred_at_idx on outbox (occurred_at, event_id);
    create index outbox_unpublished_idx on outbox (occurred_at) where published_at is null;

    create table dead_letters (
      id bigserial primary key,
      consumer_group text not null,
      topic text not null,
      kafka_partition int not null,
      kafka_offset bigint not null,
      event_id uuid null,
      error_class text not null,
      error_message text not null,
      attempts int not null default 1,
      message_timestamp timestamptz null,
      dead_lettered_at timestamptz not null default now(),
      unique (consumer_group, topic, kafka_partition, kafka_offset)
    );
    create index dead_letters_at_idx on dead_letters (dead_lettered_at);
  `);
}

export async function down(db: Knex): Promise<void> {
  await db.raw(`
    drop table if exists dead_letters, outbox, consumed_events, point_ledger;
    drop function if exists point_ledger_append_only();
  `);
}
