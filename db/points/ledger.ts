import type { Knex } from 'knex';
import { pointGrantedEvent, pointGrantedEventId } from '../../core/index.js';
import { insertOutboxEvents } from '../shared/index.js';

export interface LedgerEntry {
  /** Deterministic: `grantEntryId(userId)` or `revocationEntryId(...)`. */
  entry_id: string;
  user_id: string;
  amount: number;
  reason: string;
  user_created_at: Date;
  /** `stream` or `compensation`. */
  source: string;
  discrepancy_id?: string | null;
}

/**
 * Append ledger entries and, in the same transaction, the `point.granted`
 * outbox rows announcing them. An entry whose id exists already is a no-op,
 * and so is its event: this is where the stream and the batch layer converge.
 * Returns the entries actually inserted.
 *
 * Call it inside a transaction (the caller's consumed-events row or
 * discrepancy update belongs in the same one).
 */
export async function appendLedgerEntries(
  trx: Knex.Transaction,
  entries: readonly LedgerEntry[],
  { pointGrantedTopic }: { pointGrantedTopic: string },
): Promise<LedgerEntry[]> {
  if (entries.length === 0) return [];
  // Parallel arrays through unnest: one statement, seven bind parameters, whatever the batch size.
  const { rows: inserted } = await trx.raw<{ rows: { entry_id: string }[] }>(
    `insert into point_ledger (entry_id, user_id, amount, reason, user_created_at, source, discrepancy_id)
     select * from unnest(?::uuid[], ?::uuid[], ?::int[], ?::text[], ?::timestamptz[], ?::text[], ?::uuid[])
     on conflict (entry_id) do nothing
     returning entry_id`,
    [
      entries.map((e) => e.entry_id),
      entries.map((e) => e.user_id),
      entries.map((e) => e.amount),
      entries.map((e) => e.reason),
      entries.map((e) => e.user_created_at),
      entries.map((e) => e.source),
      entries.map((e) => e.discrepancy_id ?? null),
    ] as Knex.RawBinding[],
  );
  if (inserted.length === 0) return [];
  const ids = new Set(inserted.map((r) => r.entry_id));
  const fresh = entries.filter((e) => ids.has(e.entry_id));
  const { rows } = await trx.raw<{ rows: { now: Date }[] }>('select now() as now');
  const occurredAt = rows[0]!.now;
  await insertOutboxEvents(
    trx,
    fresh.map((e) => {
      const eventId = pointGrantedEventId(e.entry_id);
      return {
        event_id: eventId,
        topic: pointGrantedTopic,
        message_key: e.user_id,
        occurred_at: occurredAt,
        payload: pointGrantedEvent({
          eventId,
          userId: e.user_id,
          entryId: e.entry_id,
          amount: e.amount,
          reason: e.reason,
          userCreatedAt: e.user_created_at,
          occurredAt,
        }),
      };
    }),
  );
  return fresh;
}

/** Net signup amount per user id (grants minus revocations), for the given users. */
export async function netSignupAmounts(db: Knex | Knex.Transaction, userIds: readonly string[]): Promise<Map<string, number>> {
  const result = new Map<string, number>();
  if (userIds.length === 0) return result;
  const rows: { user_id: string; net: number }[] = await db('point_ledger')
    .select('user_id')
    .sum({ net: 'amount' })
    .whereRaw('user_id = any(?::uuid[])', [Array.from(userIds)])
    .whereIn('reason', ['signup_bonus', 'signup_bonus_revocation'])
    .groupBy('user_id');
  for (const r of rows) result.set(r.user_id, Number(r.net));
  return result;
}

/**
 * Per discrepancy id, how many revocation entries it has written already
 * (points DB). A revocation's entry id is derived from (discrepancy,
 * generation, this count): two executions that see the same state write the
 * same entry, so only one of them has an effect.
 */
export async function revocationCountsByDiscrepancy(db: Knex | Knex.Transaction, userIds: readonly string[]): Promise<Map<string, number>> {
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
