/**
 * Reads and writes of the compensating jobs on the source databases (users,
 * points): the real state a handler checks its invariant against, never the
 * discrepancy's `details`. One statement per operation, for a whole batch.
 */
import type { Knex } from 'knex';

/** `created_at` of the users that exist, by id (users DB). Absent ids have no committed user. */
export async function usersCreatedAtById(db: Knex | Knex.Transaction, userIds: readonly string[]): Promise<Map<string, Date>> {
  const out = new Map<string, Date>();
  if (userIds.length === 0) return out;
  const { rows } = await db.raw<{ rows: { id: string; created_at: Date }[] }>('select id, created_at from users where id = any(?::uuid[])', [
    Array.from(userIds),
  ]);
  for (const r of rows) out.set(r.id, r.created_at);
  return out;
}

/**
 * Per discrepancy id, how many revocation entries it has written already
 * (points DB). A revocation's entry id is derived from (discrepancy,
 * generation, this count): two executions that see the same state write the
 * same entry, so only one of them has an effect.
 */
export async function revocationCountsByDiscrepancy(
  db: Knex | Knex.Transaction,
  userIds: readonly string[],
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (userIds.length === 0) return out;
  const { rows } = await db.raw<{ rows: { discrepancy_id: string; n: number }[] }>(
    `select discrepancy_id, count(*)::int as n from point_ledger
     where user_id = any(?::uuid[]) and reason = 'signup_bonus_revocation' and discrepancy_id is not null
     group by discrepancy_id`,
    [Array.from(userIds)],
  );
  for (const r of rows) out.set(r.discrepancy_id, r.n);
  return out;
}

/**
 * Record a republished row as published, only if nobody did meanwhile: the
 * relay may publish the same row concurrently, and the first position
 * recorded stays (the duplicate message is harmless, consumers deduplicate by
 * event id). Returns the event ids this call marked.
 */
export async function markRepublished(
  db: Knex | Knex.Transaction,
  rows: readonly { event_id: string; partition: number | null; offset: number | null }[],
): Promise<string[]> {
  if (rows.length === 0) return [];
  const { rows: marked } = await db.raw<{ rows: { event_id: string }[] }>(
    `update outbox o set published_at = clock_timestamp(), kafka_partition = x.p, kafka_offset = x.o
     from unnest(?::uuid[], ?::int[], ?::bigint[]) as x(id, p, o)
     where o.event_id = x.id and o.published_at is null
     returning o.event_id`,
    [rows.map((r) => r.event_id), rows.map((r) => r.partition), rows.map((r) => r.offset)] as unknown as readonly Knex.Value[],
  );
  return marked.map((r) => r.event_id);
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

/**
 * Window key of ledger user ids (points DB): the `user_created_at` their
 * entries carry (the earliest, should they disagree). A revocation carries the
 * same key as what it revokes, so it lands in the same window.
 */
export async function ledgerUserCreatedAt(db: Knex | Knex.Transaction, userIds: readonly string[]): Promise<Map<string, Date>> {
  const out = new Map<string, Date>();
  if (userIds.length === 0) return out;
  const { rows } = await db.raw<{ rows: { user_id: string; at: Date }[] }>(
    'select user_id, min(user_created_at) as at from point_ledger where user_id = any(?::uuid[]) group by user_id',
    [Array.from(userIds)],
  );
  for (const r of rows) out.set(r.user_id, r.at);
  return out;
}
