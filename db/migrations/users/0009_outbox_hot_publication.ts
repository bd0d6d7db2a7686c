import type { Knex } from 'knex';

/**
 * The relay's write-back (`published_at`, partition, offset) becomes a HOT
 * update: the new row version stays in its page and no index gets an entry.
 * That needs two things.
 *
 * 1. No index of `outbox` may involve `published_at`, not even in a partial
 *    index's predicate. The relay's work list moves out of the outbox into
 *    `unpublished_events` (event id, topic, key, `occurred_at`): triggers on
 *    the outbox keep it equal to the outbox rows whose `published_at` is
 *    null, whoever writes them (the user service, the consumers, a
 *    republishing compensation, another team's code). It stays as small as
 *    the backlog, so the claim walks a small index.
 * 2. Room in the page for the row's second version. Every row is updated
 *    once, and one relay round updates all rows of a page in one
 *    transaction, which cannot prune its own old versions; so a page keeps
 *    half its space free (fillfactor 50). At 70, only about 40% of such
 *    updates were HOT.
 *
 * The trigger functions are SECURITY DEFINER (owned by the migrating role)
 * so the roles that insert or publish outbox rows need no privilege on the
 * work list. There is no foreign key to the outbox (its check would cost
 * every outbox insert a lookup and a row lock) and no trigger on DELETE
 * (`recon doctor`'s retention check rightly flags those): a work-list row
 * whose unpublished outbox row was deleted is dropped by the relay's next
 * claim of it.
 */
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    create table unpublished_events (
      event_id uuid primary key,
      topic text not null,
      message_key text,
      occurred_at timestamptz not null
    );
    -- The relay's claim: oldest first.
    create index unpublished_events_occurred_at_idx on unpublished_events (occurred_at, event_id);
    -- Per-key order: the earlier unpublished rows of one topic and key.
    create index unpublished_events_key_idx on unpublished_events (topic, message_key, occurred_at, event_id);

    insert into unpublished_events (event_id, topic, message_key, occurred_at)
      select event_id, topic, message_key, occurred_at from outbox where published_at is null;

    create function outbox_unpublished_inserted() returns trigger language plpgsql security definer set search_path from current as $$
    begin
      insert into unpublished_events (event_id, topic, message_key, occurred_at)
        select event_id, topic, message_key, occurred_at from inserted_rows where published_at is null
        on conflict (event_id) do nothing;
      return null;
    end $$;

    -- Rows published leave the work list; a row set back to unpublished joins it again. The ids go through
    -- an array so each statement is primary-key lookups, whatever the planner guesses of the transition tables.
    create function outbox_unpublished_updated() returns trigger language plpgsql security definer set search_path from current as $$
    begin
      delete from unpublished_events
       where event_id = any(array(select event_id from updated_rows where published_at is not null));
      insert into unpublished_events (event_id, topic, message_key, occurred_at)
        select n.event_id, n.topic, n.message_key, n.occurred_at
          from updated_rows n
         where n.published_at is null
           and n.event_id = any(array(select event_id from previous_rows where published_at is not null))
        on conflict (event_id) do nothing;
      return null;
    end $$;

    create trigger outbox_unpublished_inserted after insert on outbox
      referencing new table as inserted_rows for each statement execute function outbox_unpublished_inserted();
    create trigger outbox_unpublished_updated after update on outbox
      referencing old table as previous_rows new table as updated_rows for each statement execute function outbox_unpublished_updated();

    drop index if exists outbox_unpublished_idx;
    drop index if exists outbox_unpublished_key_idx;
    -- Applies to pages written from now on; existing rows were mostly published already.
    alter table outbox set (fillfactor = 50);
  `);
}

export async function down(db: Knex): Promise<void> {
  await db.raw(`
    alter table outbox reset (fillfactor);
    create index if not exists outbox_unpublished_idx on outbox (occurred_at) where published_at is null;
    create index if not exists outbox_unpublished_key_idx on outbox (topic, message_key, occurred_at, event_id) where published_at is null;
    drop trigger if exists outbox_unpublished_updated on outbox;
    drop trigger if exists outbox_unpublished_inserted on outbox;
    drop function if exists outbox_unpublished_updated();
    drop function if exists outbox_unpublished_inserted();
    drop table if exists unpublished_events;
  `);
}
