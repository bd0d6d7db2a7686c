import type { Knex } from 'knex';

/** One event a consumer group has applied (same transaction as its effect). */
export interface ConsumedEventRow {
  event_id: string;
  consumer_group: string;
  topic: string;
  kafka_partition: number;
  kafka_offset: number;
  /** `occurredAt` of the event: the window key matching `outbox.occurred_at`. */
  event_occurred_at: Date;
}

const CHUNK = 5000;

/**
 * Record consumed events; an event this group consumed before is a no-op
 * (that is the consumer's deduplication). Returns the event ids that are new,
 * i.e. whose effect the caller must now apply in the same transaction.
 */
export async function insertConsumedEvents(trx: Knex | Knex.Transaction, rows: readonly ConsumedEventRow[]): Promise<Set<string>> {
  const fresh = new Set<string>();
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    const { rows: inserted } = await trx.raw<{ rows: { event_id: string }[] }>(
      `insert into consumed_events (event_id, consumer_group, topic, kafka_partition, kafka_offset, event_occurred_at)
       select * from unnest(?::uuid[], ?::text[], ?::text[], ?::int[], ?::bigint[], ?::timestamptz[])
       on conflict (event_id, consumer_group) do nothing
       returning event_id`,
      [
        chunk.map((r) => r.event_id),
        chunk.map((r) => r.consumer_group),
        chunk.map((r) => r.topic),
        chunk.map((r) => r.kafka_partition),
        chunk.map((r) => r.kafka_offset),
        chunk.map((r) => r.event_occurred_at),
      ],
    );
    for (const r of inserted) fresh.add(r.event_id);
  }
  return fresh;
}

/** How many events `group` has consumed (tests, progress). */
export async function countConsumedEvents(db: Knex | Knex.Transaction, group: string): Promise<number> {
  const [row] = await db('consumed_events').where({ consumer_group: group }).count<{ count: number }[]>({ count: '*' });
  return Number(row?.count ?? 0);
}

/** The event ids among `eventIds` that consumer group `group` has consumed (the consuming side's DB). */
export async function consumedEventIds(db: Knex | Knex.Transaction, group: string, eventIds: readonly string[]): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const { rows } = await db.raw<{ rows: { event_id: string }[] }>(
    'select event_id from consumed_events where consumer_group = ? and event_id = any(?::uuid[])',
    [group, Array.from(eventIds)],
  );
  return new Set(rows.map((r) => r.event_id));
}

/** A consumed-events row as stored. */
export interface StoredConsumedEvent extends ConsumedEventRow {
  consumed_at: Date;
}

/** The groups that consumed one event, with where they read it (the console's evidence). */
export async function consumedRowsOfEvent(db: Knex | Knex.Transaction, eventId: string): Promise<StoredConsumedEvent[]> {
  return (await db('consumed_events').select('*').where({ event_id: eventId }).orderBy('consumed_at')) as StoredConsumedEvent[];
}
