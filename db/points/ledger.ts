import type { Knex } from 'knex';
import { LEDGER_REASONS, grantEntryId, pointGrantedEvent, pointGrantedEventId } from '../../core/index.js';
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
  // `now()` (the transaction's start) comes back with the rows: the events' occurred_at, without a round trip of its own.
  const { rows: inserted } = await trx.raw<{ rows: { entry_id: string; now: Date }[] }>(
    `insert into point_ledger (entry_id, user_id, amount, reason, user_created_at, source, discrepancy_id)
     select * from unnest(?::uuid[], ?::uuid[], ?::int[], ?::text[], ?::timestamptz[], ?::text[], ?::uuid[])
     on conflict (entry_id) do nothing
     returning entry_id, now() as now`,
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
  const occurredAt = inserted[0]!.now;
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
 * Serialize ledger writes per user (points DB), for the rest of the caller's
 * transaction: a transaction-scoped advisory lock per user id, taken in one
 * statement in a fixed order (by the key), so two batches with users in
 * common never deadlock. A compensation that takes these locks and only then
 * reads the user's ledger sees every entry an earlier holder wrote: it plans
 * its write on the state the write lands on.
 *
 * The key is (LEDGER_USER_LOCK_CLASS, the first 32 bits of the user id): the
 * two-key form of the lock space keeps clear of single-key advisory locks, and
 * two users sharing a key only wait for each other. Advisory locks need no
 * privilege on any table.
 */
export async function lockUserLedgers(trx: Knex.Transaction, userIds: readonly string[]): Promise<void> {
  const keys = [...new Set(userIds.map(userLockKey))].sort((a, b) => a - b);
  if (keys.length === 0) return;
  // unnest yields the array in order, and each row's lock is taken as it is produced.
  await trx.raw('select count(pg_advisory_xact_lock(?, k)) from unnest(?::int[]) as k', [LEDGER_USER_LOCK_CLASS, keys]);
}

/** First key of the per-user ledger locks ('rcnL' as an int4), so they share no key with other advisory locks. */
export const LEDGER_USER_LOCK_CLASS = 0x72636e4c;

/** Second key of a user's ledger lock: the first 32 bits of its id, as a signed int4. */
export function userLockKey(userId: string): number {
  return Number.parseInt(userId.slice(0, 8), 16) | 0;
}

/** What a compensation needs to know of one user's signup entries (all of them, whatever their window key). */
export interface UserLedgerState {
  /** Σ amount of the signup grants and revocations. */
  net: number;
  /** How many signup entries (grants and revocations) the user has: with the id, it names the ledger's state. */
  entries: number;
  /** Whether the stream's grant (`grantEntryId(userId)`) is among them. */
  hasGrant: boolean;
  /** The earliest window key its entries carry, or null when it has none. */
  userCreatedAt: Date | null;
}

/**
 * The signup-entry state of each user (points DB; users without entries come
 * back with zeros): lookups by user id on `point_ledger_user_idx`.
 */
export async function userLedgerStates(db: Knex | Knex.Transaction, userIds: readonly string[]): Promise<Map<string, UserLedgerState>> {
  const out = new Map<string, UserLedgerState>();
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return out;
  const { rows } = await db.raw<{ rows: { user_id: string; net: string; entries: number; has_grant: boolean; user_created_at: Date | null }[] }>(
    `select x.user_id,
            coalesce(sum(l.amount), 0)::text as net,
            count(l.entry_id)::int as entries,
            coalesce(bool_or(l.entry_id = x.grant_id), false) as has_grant,
            min(l.user_created_at) as user_created_at
       from unnest(?::uuid[], ?::uuid[]) as x(user_id, grant_id)
       left join point_ledger l on l.user_id = x.user_id and l.reason = any(?::text[])
      group by x.user_id`,
    [ids, ids.map(grantEntryId), [LEDGER_REASONS.grant, LEDGER_REASONS.revocation]],
  );
  for (const r of rows) out.set(r.user_id, { net: Number(r.net), entries: r.entries, hasGrant: r.has_grant, userCreatedAt: r.user_created_at });
  return out;
}

/** The entry ids among `entryIds` that the ledger holds (primary-key lookups). */
export async function ledgerEntryIdsAmong(db: Knex | Knex.Transaction, entryIds: readonly string[]): Promise<Set<string>> {
  if (entryIds.length === 0) return new Set();
  const { rows } = await db.raw<{ rows: { entry_id: string }[] }>('select entry_id from point_ledger where entry_id = any(?::uuid[])', [Array.from(entryIds)]);
  return new Set(rows.map((r) => r.entry_id));
}

/** A ledger entry as stored, with its write time. */
export interface StoredLedgerEntry extends LedgerEntry {
  created_at: Date;
}

/** Every ledger entry of one user, oldest first (the console's evidence; the ledger's user index). */
export async function ledgerEntriesOfUser(db: Knex | Knex.Transaction, userId: string, limit = 200): Promise<StoredLedgerEntry[]> {
  return (await db('point_ledger')
    .select('entry_id', 'user_id', 'amount', 'reason', 'user_created_at', 'source', 'created_at')
    .where({ user_id: userId })
    .orderBy('created_at')
    .limit(limit)) as StoredLedgerEntry[];
}
