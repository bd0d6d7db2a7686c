/**
 * `users-vs-points`: every committed user nets exactly B in signup entries;
 * every ledger user id without a committed user nets 0.
 *
 * The invariant is linear, so a segment is clean without grouping by user
 * when, with h a hash of the user id: Σ amount = B · count(users) and
 * Σ amount · h = B · Σ h (a revoked orphan nets 0 and cancels out). Each side
 * computes its sums in its own database; nothing joins the two.
 */
import { CHECK_NAMES, discrepancyId, type DiscrepancyKind, type Window, encodeEntity } from '../../core/index.js';
import {
  earliestWindowKey,
  ledgerNetsByKey,
  ledgerNetsInRanges,
  ledgerSegmentSums,
  usersCreatedAtById,
  usersInRanges,
  usersSegmentSums,
  type DiscrepancyInput,
  type LedgerSegmentSums,
  type UsersSegmentSums,
} from '../../db/index.js';
import { bisect, pairSegments, type BisectionTarget } from './bisection.js';
import type { Check, CheckContext } from './check.js';

const NAME = CHECK_NAMES.usersVsPoints;

export const usersVsPoints: Check = {
  name: NAME,
  sources: ['users', 'points'],
  // A grant consumed late (a rolled-back direct producer's event, say) keeps its user's old time.
  lateSources: [{ db: 'points', source: { table: 'point_ledger', insertedAt: 'created_at', key: 'user_created_at' } }],

  async earliest({ dbs }) {
    const [u, p] = await Promise.all([earliestWindowKey(dbs.users, 'users'), earliestWindowKey(dbs.points, 'ledger')]);
    return earliestOf([u, p]);
  },

  async compare(ctx, window) {
    return bisect(usersVsPointsTarget(ctx, window), window, ctx.bisection);
  },
};

export function earliestOf(dates: readonly (Date | null)[]): Date | null {
  const present = dates.filter((d): d is Date => d !== null);
  return present.length ? new Date(Math.min(...present.map((d) => d.getTime()))) : null;
}

/** Whether a segment's sums satisfy the invariant. */
export function segmentClean(bonus: bigint, users: UsersSegmentSums | undefined, ledger: LedgerSegmentSums | undefined): boolean {
  const n = BigInt(users?.n ?? 0);
  const h = BigInt(users?.h ?? '0');
  const a = BigInt(ledger?.a ?? '0');
  const ah = BigInt(ledger?.ah ?? '0');
  return a === bonus * n && ah === bonus * h;
}

function usersVsPointsTarget({ dbs, config }: CheckContext, window: Window): BisectionTarget {
  const bonus = BigInt(config.signupBonusPoints);
  return {
    async compareSegments(ranges, strideMs) {
      const [users, ledger] = await Promise.all([usersSegmentSums(dbs.users, ranges, strideMs), ledgerSegmentSums(dbs.points, ranges, strideMs)]);
      return pairSegments(users, ledger, strideMs, (u, l) => ({
        same: segmentClean(bonus, u, l),
        rows: Math.max(u?.n ?? 0, l?.n ?? 0),
        covered: (u?.n ?? 0) + (l?.n ?? 0),
      }));
    },
    async compareRows(ranges) {
      const [users, nets] = await Promise.all([usersInRanges(dbs.users, ranges), ledgerNetsInRanges(dbs.points, ranges)]);
      // Rows that do not balance here may balance with their other half keyed elsewhere: look those up by id.
      const { userSide, ledgerSide } = unbalanced(config.signupBonusPoints, users, nets);
      const elsewhereUsers = await usersCreatedAtById(dbs.users, ledgerSide);
      const ledger = await ledgerNetsByKey(dbs.points, [...userSide, ...elsewhereUsers.keys()]);
      return {
        found: classifyGrants(config.signupBonusPoints, window, users, nets, { ranges, users: elsewhereUsers, ledger }),
        rowsFetched: users.length + nets.length + elsewhereUsers.size + [...ledger.values()].reduce((n, keys) => n + keys.length, 0),
      };
    },
  };
}

/** What classification knows beyond the leaf rows: lookups by id of the rows that did not balance. */
export interface ElsewhereRows {
  /** The leaf ranges compared: a ledger key outside them was not among the leaf rows. */
  ranges: readonly Window[];
  /** Committed users among the ledger user ids that had no user in the ranges, with their `created_at` (outside the ranges). */
  users: ReadonlyMap<string, Date>;
  /** All signup entries, netted per window key, of the unbalanced users and of those committed elsewhere. */
  ledger: ReadonlyMap<string, readonly { user_created_at: Date; net: number }[]>;
}

const NOTHING_ELSEWHERE: ElsewhereRows = { ranges: [], users: new Map(), ledger: new Map() };

/** Leaf rows that do not balance: users netting other than B in the ranges, and ledger user ids with a net but no user there. */
export function unbalanced(
  bonus: number,
  users: readonly { id: string }[],
  nets: readonly { user_id: string; net: number }[],
): { userSide: string[]; ledgerSide: string[] } {
  const netOf = new Map(nets.map((n) => [n.user_id, Number(n.net)]));
  const userIds = new Set(users.map((u) => u.id));
  return {
    userSide: users.filter((u) => (netOf.get(u.id) ?? 0) !== bonus).map((u) => u.id),
    ledgerSide: nets.filter((n) => !userIds.has(n.user_id) && Number(n.net) !== 0).map((n) => n.user_id),
  };
}

function inAnyRange(at: Date, ranges: readonly Window[]): boolean {
  const t = at.getTime();
  return ranges.some((r) => t >= r.start.getTime() && t < r.end.getTime());
}

/**
 * Row-level classification: a user netting less than B misses (part of) its
 * grant, more than B has an excess; a ledger user id with no user and a
 * non-zero net is an orphan.
 *
 * A user's entries keyed at another time than its `created_at` (a foreign
 * producer) are compared apart from it: its window sees a user without its
 * grant, the other sees a grant without its user. With the lookups of
 * `elsewhere`, both are judged by the user's whole ledger instead: the user's
 * window reports a missing grant or an excess only when all its entries
 * together are off B, and the window of the entries keyed elsewhere reports
 * `grant_key_mismatch` (the same id from any window, so once), never an
 * orphan, and the net too when it is off B (the user's window may have
 * balanced without them).
 */
export function classifyGrants(
  bonus: number,
  window: Window,
  users: readonly { id: string; created_at: Date }[],
  nets: readonly { user_id: string; net: number; user_created_at: Date }[],
  elsewhere: ElsewhereRows = NOTHING_ELSEWHERE,
): DiscrepancyInput[] {
  const netOf = new Map(nets.map((n) => [n.user_id, n]));
  const userIds = new Set(users.map((u) => u.id));
  const found: DiscrepancyInput[] = [];
  const add = (kind: DiscrepancyKind, userId: string, userCreatedAt: Date, net: number, expected: number, extra: Record<string, unknown> = {}) =>
    found.push({
      id: discrepancyId(NAME, kind, userId),
      check_name: NAME,
      kind,
      ...encodeEntity({ type: 'user', userId }),
      window_start: window.start,
      window_end: window.end,
      // `amount` is the signed correction: what to grant (positive) or revoke (negative).
      details: { userId, userCreatedAt: userCreatedAt.toISOString(), net, expected, amount: expected - net, ...extra },
    });
  const judge = (userId: string, userCreatedAt: Date, net: number) => {
    if (net < bonus) add('missing_grant', userId, userCreatedAt, net, bonus);
    else if (net > bonus) add('excess_grant', userId, userCreatedAt, net, bonus);
  };
  const whole = (userId: string) => {
    const keys = elsewhere.ledger.get(userId) ?? [];
    return { keys, net: keys.reduce((a, k) => a + k.net, 0) };
  };
  for (const u of users) {
    const net = Number(netOf.get(u.id)?.net ?? 0);
    if (net === bonus) continue;
    const all = whole(u.id);
    const keyedElsewhere = all.keys.some((k) => k.net !== 0 && !inAnyRange(k.user_created_at, elsewhere.ranges));
    judge(u.id, u.created_at, keyedElsewhere ? all.net : net);
  }
  for (const n of nets) {
    const net = Number(n.net);
    if (userIds.has(n.user_id) || net === 0) continue;
    const createdAt = elsewhere.users.get(n.user_id);
    if (!createdAt) {
      add('orphan_grant', n.user_id, n.user_created_at, net, 0);
      continue;
    }
    const all = whole(n.user_id);
    add('grant_key_mismatch', n.user_id, createdAt, all.net, bonus, {
      ledgerKeys: all.keys.filter((k) => k.net !== 0).map((k) => k.user_created_at.toISOString()),
    });
    judge(n.user_id, createdAt, all.net);
  }
  return found;
}
