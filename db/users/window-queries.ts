/** The users database's side of the checks: window checksums and leaf rows of `users` (see ../window-sql.ts). */
import type { Window } from '../../core/index.js';
import { inRanges, noJit, type Db, type SegmentKey } from '../window-sql.js';

export interface UsersSegmentSums extends SegmentKey {
  /** Users in the segment. */
  n: number;
  /** Σ uuid_hash(id), as a decimal string. */
  h: string;
}

/** Per-segment (count, Σh) of users whose `created_at` lies in `ranges`, segments `strideMs` wide from each range's start. */
export async function usersSegmentSums(db: Db, ranges: readonly Window[], strideMs: number): Promise<UsersSegmentSums[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'users', 'u', 'created_at', ['u.created_at', 'u.id']);
  const { rows } = await noJit(db, (trx) =>
    trx.raw<{ rows: UsersSegmentSums[] }>(
      `select date_bin(? * interval '1 millisecond', u.created_at, r.s) as seg, r.e as range_end,
            count(*) as n, sum(uuid_hash(u.id))::text as h
     from ${r.sql}
     group by 1, 2`,
      [strideMs, ...r.bindings],
    ),
  );
  return rows;
}

/** Users whose `created_at` lies in `ranges` (leaf comparison). */
export async function usersInRanges(db: Db, ranges: readonly Window[]): Promise<{ id: string; created_at: Date }[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'users', 'u', 'created_at', ['u.id', 'u.created_at']);
  const { rows } = await noJit(db, (trx) => trx.raw<{ rows: { id: string; created_at: Date }[] }>(`select u.id, u.created_at from ${r.sql}`, r.bindings));
  return rows;
}
