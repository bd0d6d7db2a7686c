/** The points database's side of the checks: window checksums and leaf rows of the signup entries in `point_ledger` (see ../window-sql.ts). */
import type { Window } from '../../core/index.js';
import { inRanges, noJit, type Db, type SegmentKey } from '../window-sql.js';

export interface LedgerSegmentSums extends SegmentKey {
  /** Signup entries (grants and revocations) in the segment. */
  n: number;
  /** Σ amount. */
  a: string;
  /** Σ amount · uuid_hash(user_id). */
  ah: string;
}

const SIGNUP_REASONS = ['signup_bonus', 'signup_bonus_revocation'];

/** Per-segment (count, Σamount, Σamount·h) of signup ledger entries whose `user_created_at` lies in `ranges`. */
export async function ledgerSegmentSums(db: Db, ranges: readonly Window[], strideMs: number): Promise<LedgerSegmentSums[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'point_ledger', 'p', 'user_created_at', ['p.user_created_at', 'p.user_id', 'p.amount'], 'and p.reason = any(?::text[])');
  const { rows } = await noJit(db, (trx) =>
    trx.raw<{ rows: LedgerSegmentSums[] }>(
      `select date_bin(? * interval '1 millisecond', p.user_created_at, r.s) as seg, r.e as range_end,
            count(*) as n, sum(p.amount)::text as a, sum(p.amount::int8 * uuid_hash(p.user_id))::text as ah
     from ${r.sql}
     group by 1, 2`,
      [strideMs, ...r.bindings, SIGNUP_REASONS],
    ),
  );
  return rows;
}

/** Net signup amount per ledger user id whose `user_created_at` lies in `ranges` (leaf comparison). */
export async function ledgerNetsInRanges(
  db: Db,
  ranges: readonly Window[],
): Promise<{ user_id: string; net: number; entries: number; user_created_at: Date }[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'point_ledger', 'p', 'user_created_at', ['p.user_id', 'p.amount', 'p.user_created_at'], 'and p.reason = any(?::text[])');
  const { rows } = await noJit(db, (trx) =>
    trx.raw<{ rows: { user_id: string; net: number; entries: number; user_created_at: Date }[] }>(
      `select p.user_id, sum(p.amount) as net, count(*) as entries, min(p.user_created_at) as user_created_at
     from ${r.sql}
     group by p.user_id`,
      [...r.bindings, SIGNUP_REASONS],
    ),
  );
  return rows;
}

/**
 * Every signup entry of the given ledger user ids, netted per window key,
 * whatever window the keys fall in (points DB): lookups by user id on
 * `point_ledger_user_idx`, for the leaf rows that did not balance only. A
 * user whose grant is keyed at another time than its `created_at` (a foreign
 * producer's `occurredAt`) is then judged by all its entries.
 */
export async function ledgerNetsByKey(db: Db, userIds: readonly string[]): Promise<Map<string, { user_created_at: Date; net: number }[]>> {
  const out = new Map<string, { user_created_at: Date; net: number }[]>();
  const ids = [...new Set(userIds)];
  if (ids.length === 0) return out;
  const { rows } = await db.raw<{ rows: { user_id: string; user_created_at: Date; net: string }[] }>(
    `select p.user_id, p.user_created_at, sum(p.amount)::text as net
       from unnest(?::uuid[]) as u(id)
       cross join lateral (select user_id, user_created_at, amount from point_ledger
                            where user_id = u.id and reason = any(?::text[]) offset 0) p
      group by p.user_id, p.user_created_at`,
    [ids, SIGNUP_REASONS],
  );
  for (const r of rows) out.set(r.user_id, [...(out.get(r.user_id) ?? []), { user_created_at: r.user_created_at, net: Number(r.net) }]);
  return out;
}
