import type { Knex } from 'knex';

/** A message a consumer group gave up on and sent to `<topic>.DLT`. */
export interface DeadLetterRow {
  consumer_group: string;
  topic: string;
  kafka_partition: number;
  kafka_offset: number;
  /** The `id` header or the decoded event id, when there was one. */
  event_id: string | null;
  error_class: string;
  error_message: string;
  attempts: number;
  message_timestamp: Date | null;
  /** Why the dead letter could not be sent to `<topic>.DLT` (it is only here); null or absent: it is on the DLT. */
  dlt_error?: string | null;
}

export interface DeadLetterRecord extends DeadLetterRow {
  id: number;
  dead_lettered_at: Date;
  replayed_at: Date | null;
}

/**
 * Postgres `text` cannot hold NUL, and an error message often quotes the very
 * bytes that made a message undecodable: without this, recording the dead
 * letter would fail and hold the partition back behind the poison.
 */
export function storableText(value: string, max: number): string {
  return value.replaceAll('\u0000', '\\u0000').slice(0, max);
}

/**
 * Record dead letters in one statement. The same message dead-lettered again
 * (redelivered before its offset was committed) keeps its first row.
 */
export async function insertDeadLetters(trx: Knex | Knex.Transaction, rows: readonly DeadLetterRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const inserted: { id: number }[] = await trx('dead_letters')
    .insert(
      rows.map((r) => ({
        ...r,
        error_class: storableText(r.error_class, 200),
        error_message: storableText(r.error_message, 2000),
        dlt_error: r.dlt_error ? storableText(r.dlt_error, 2000) : null,
      })),
    )
    .onConflict(['consumer_group', 'topic', 'kafka_partition', 'kafka_offset'])
    .ignore()
    .returning('id');
  return inserted.length;
}

/** Dead letters, oldest first, optionally only those dead-lettered since `since` or of `topic`. */
export async function listDeadLetters(
  db: Knex | Knex.Transaction,
  { since, topic, limit = 1000 }: { since?: Date; topic?: string; limit?: number } = {},
): Promise<DeadLetterRecord[]> {
  const q = db('dead_letters').select('*').orderBy('dead_lettered_at').orderBy('id').limit(limit);
  if (since) q.where('dead_lettered_at', '>=', since);
  if (topic) q.where({ topic });
  return (await q) as DeadLetterRecord[];
}

/** The newest dead letters first (the console's list), optionally only those of `eventId`. */
export async function recentDeadLetters(
  db: Knex | Knex.Transaction,
  { limit = 200, eventId }: { limit?: number; eventId?: string } = {},
): Promise<DeadLetterRecord[]> {
  const { rows } = await db.raw<{ rows: { present: boolean }[] }>("select to_regclass('dead_letters') is not null as present");
  if (!rows[0]?.present) return [];
  const q = db('dead_letters').select('*').orderBy('dead_lettered_at', 'desc').orderBy('id', 'desc').limit(limit);
  if (eventId) q.where('event_id', eventId);
  return (await q) as DeadLetterRecord[];
}

/** Mark dead letters as replayed, by their original coordinates. Returns how many matched. */
export async function markDeadLettersReplayed(
  db: Knex | Knex.Transaction,
  coordinates: readonly { consumer_group: string; topic: string; kafka_partition: number; kafka_offset: number }[],
): Promise<number> {
  if (coordinates.length === 0) return 0;
  const { rowCount } = await db.raw<{ rowCount: number }>(
    `update dead_letters d set replayed_at = now()
     from unnest(?::text[], ?::text[], ?::int[], ?::bigint[]) as x(g, t, p, o)
     where d.consumer_group = x.g and d.topic = x.t and d.kafka_partition = x.p and d.kafka_offset = x.o`,
    [
      coordinates.map((c) => c.consumer_group),
      coordinates.map((c) => c.topic),
      coordinates.map((c) => c.kafka_partition),
      coordinates.map((c) => c.kafka_offset),
    ],
  );
  return rowCount;
}

export interface DeadLetterCount {
  consumer_group: string;
  topic: string;
  total: number;
  /** Not replayed yet. */
  pending: number;
}

/**
 * Dead letters of one source database per group and topic, or `undefined`
 * when that database has no `dead_letters` table (streaming path not migrated).
 */
export async function countDeadLetters(db: Knex): Promise<DeadLetterCount[] | undefined> {
  const { rows } = await db.raw<{ rows: { present: boolean }[] }>("select to_regclass('dead_letters') is not null as present");
  if (!rows[0]?.present) return undefined;
  const { rows: counted } = await db.raw<{ rows: DeadLetterCount[] }>(
    `select consumer_group, topic, count(*)::int as total, (count(*) filter (where replayed_at is null))::int as pending
       from dead_letters group by consumer_group, topic order by consumer_group, topic`,
  );
  return counted;
}

/** One dead letter by its row id, or none. */
export async function deadLetterById(db: Knex | Knex.Transaction, id: number): Promise<DeadLetterRecord[]> {
  return (await db('dead_letters').where({ id }).limit(1)) as DeadLetterRecord[];
}
