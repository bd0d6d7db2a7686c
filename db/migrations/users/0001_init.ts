import type { Knex } from 'knex';

/** Users, their transactional outbox, and the balance view fed by `point.granted`. */
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    create table users (
      id uuid primary key,
      email text not null unique,
      created_at timestamptz not null default now()
    );
    -- Window key of users-vs-points; (created_at, id) also serves keyset pagination.
    create index users_created_at_idx on users (created_at, id);

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
    -- Window key of outbox-vs-consumed.
    create index outbox_occurred_at_idx on outbox (occurred_at, event_id);
    -- The relay's work list: only unpublished rows are indexed, so it stays small.
    create index outbox_unpublished_idx on outbox (occurred_at) where published_at is null;

    -- Balance view maintained by consumer group user-service-balances.
    create table user_balances (
      user_id uuid primary key,
      balance bigint not null default 0,
      updated_at timestamptz not null default now()
    );

    create table consumed_events (
      event_id uuid not null,
      consumer_group text not null,
      topic text not null,
      kafka_partition int not null,
      kafka_offset bigint not null,
      consumed_at timestamptz not null default now(),
      -- occurredAt of the event: the window key matching outbox.occurred_at.
      event_occurred_at timestamptz not null default now(),
      primary key (event_id, consumer_group)
    );
    create index consumed_events_window_idx on consumed_events (consumer_group, event_occurred_at, event_id);

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
  await db.raw('drop table if exists dead_letters, consumed_events, user_balances, outbox, users');
}
