/**
 * Drift built by SQL for the batch layer's tests: users, grants, outbox rows,
 * consumed events and dead letters written directly, at chosen instants in the
 * past (older than the grace period), with no stream involved.
 */
import { randomUUID } from 'node:crypto';
import { grantEntryId, revocationEntryId } from '../../core/index.js';
import type { Knex } from '../../db/index.js';

/** `count` instants spread evenly over `[start, start + spanMs)`, with microseconds as `now()` would write them. */
export function spread(start: Date, spanMs: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const ms = start.getTime() + Math.floor((i * spanMs) / count);
    const micros = String(((i * 7919) % 1000) + 0).padStart(3, '0');
    return new Date(ms).toISOString().replace('Z', `${micros}Z`);
  });
}

/** Insert users at the given instants; returns them with `created_at` as written (microseconds). */
export async function insertUsers(db: Knex, at: readonly string[]): Promise<{ id: string; createdAt: string }[]> {
  const users = at.map((createdAt) => ({ id: randomUUID(), createdAt }));
  if (users.length === 0) return users;
  await db.raw("insert into users (id, email, created_at) select u, u::text || '@example.test', t from unnest(?::uuid[], ?::timestamptz[]) x(u, t)", [
    users.map((u) => u.id),
    users.map((u) => u.createdAt),
  ]);
  return users;
}

/** The key the stream writes on the ledger: the user's created_at truncated to the millisecond. */
export function msKey(createdAt: string): Date {
  return new Date(createdAt);
}

/** Signup grants (the stream's deterministic entry id) of `amount` for these users. */
export async function insertGrants(db: Knex, users: readonly { id: string; createdAt: string }[], amount: number, { extra = false } = {}): Promise<void> {
  if (users.length === 0) return;
  await db.raw(
    `insert into point_ledger (entry_id, user_id, amount, reason, user_created_at)
     select e, u, ?, 'signup_bonus', t from unnest(?::uuid[], ?::uuid[], ?::timestamptz[]) x(e, u, t)`,
    [amount, users.map((u) => (extra ? randomUUID() : grantEntryId(u.id))), users.map((u) => u.id), users.map((u) => msKey(u.createdAt))],
  );
}

/** Revocations of `amount` (positive number: the entry is negative). */
export async function insertRevocations(db: Knex, users: readonly { id: string; createdAt: string }[], amount: number): Promise<void> {
  if (users.length === 0) return;
  await db.raw(
    `insert into point_ledger (entry_id, user_id, amount, reason, user_created_at, source)
     select e, u, ?, 'signup_bonus_revocation', t, 'compensation' from unnest(?::uuid[], ?::uuid[], ?::timestamptz[]) x(e, u, t)`,
    [-amount, users.map((u) => revocationEntryId(u.id, String(amount))), users.map((u) => u.id), users.map((u) => msKey(u.createdAt))],
  );
}

/** Outbox rows at the given instants, published or not. Returns their event ids. */
export async function insertOutbox(
  db: Knex,
  topic: string,
  at: readonly string[],
  { published }: { published: boolean },
): Promise<{ eventId: string; occurredAt: string }[]> {
  const rows = at.map((occurredAt) => ({ eventId: randomUUID(), occurredAt }));
  if (rows.length === 0) return rows;
  await db.raw(
    `insert into outbox (event_id, topic, message_key, payload, occurred_at, published_at)
     select e, ?, e::text, jsonb_build_object('eventId', e), t, case when ? then t + interval '1 second' end
     from unnest(?::uuid[], ?::timestamptz[]) x(e, t)`,
    [topic, published, rows.map((r) => r.eventId), rows.map((r) => r.occurredAt)],
  );
  return rows;
}

/** Consumed-events rows of `group` for these events (the key is the event's occurredAt, in milliseconds). */
export async function insertConsumed(db: Knex, group: string, topic: string, events: readonly { eventId: string; occurredAt: string }[]): Promise<void> {
  if (events.length === 0) return;
  await db.raw(
    `insert into consumed_events (event_id, consumer_group, topic, kafka_partition, kafka_offset, event_occurred_at)
     select e, ?, ?, 0, o, t from unnest(?::uuid[], ?::timestamptz[]) with ordinality x(e, t, o)`,
    [group, topic, events.map((e) => e.eventId), events.map((e) => msKey(e.occurredAt))],
  );
}

/** Dead letters of `group`, with or without event ids, dead-lettered at `at`. */
export async function insertDeadLetters(db: Knex, group: string, topic: string, eventIds: readonly (string | null)[], at: Date): Promise<void> {
  if (eventIds.length === 0) return;
  await db.raw(
    `insert into dead_letters (consumer_group, topic, kafka_partition, kafka_offset, event_id, error_class, error_message, dead_lettered_at)
     select ?, ?, 0, (extract(epoch from clock_timestamp()) * 1000000)::int8 + o, e, 'PoisonError', 'cannot apply', ? from unnest(?::uuid[]) with ordinality x(e, o)`,
    [group, topic, at, [...eventIds] as unknown as Knex.Value],
  );
}

/** An instant `hoursAgo` hours before now, on a whole hour (windows of tests start there). */
export function hoursAgo(hours: number): Date {
  const t = Date.now() - hours * 3600_000;
  return new Date(t - (t % 3600_000));
}
