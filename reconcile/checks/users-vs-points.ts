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
  ledgerNetsInRanges,
  ledgerSegmentSums,
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
      return { found: classifyGrants(config.signupBonusPoints, window, users, nets), rowsFetched: users.length + nets.length };
    },
  };
}

/**
 * Row-level classification: a user netting less than B misses (part of) its
 * grant, more than B has an excess; a ledger user id with no user and a
 * non-zero net is an orphan.
 */
export function classifyGrants(
  bonus: number,
  window: Window,
  users: readonly { id: string; created_at: Date }[],
  nets: readonly { user_id: string; net: number; user_created_at: Date }[],
): DiscrepancyInput[] {
  const netOf = new Map(nets.map((n) => [n.user_id, n]));
  const userIds = new Set(users.map((u) => u.id));
  const found: DiscrepancyInput[] = [];
  const add = (kind: DiscrepancyKind, userId: string, userCreatedAt: Date, net: number, expected: number) =>
    found.push({
      id: discrepancyId(NAME, kind, userId),
      check_name: NAME,
      kind,
      ...encodeEntity({ type: 'user', userId }),
      window_start: window.start,
      window_end: window.end,
      // `amount` is the signed correction: what to grant (positive) or revoke (negative).
      details: { userId, userCreatedAt: userCreatedAt.toISOString(), net, expected, amount: expected - net },
    });
  for (const u of users) {
    const net = Number(netOf.get(u.id)?.net ?? 0);
    if (net < bonus) add('missing_grant', u.id, u.created_at, net, bonus);
    else if (net > bonus) add('excess_grant', u.id, u.created_at, net, bonus);
  }
  for (const n of nets) {
    const net = Number(n.net);
    if (!userIds.has(n.user_id) && net !== 0) add('orphan_grant', n.user_id, n.user_created_at, net, 0);
  }
  return found;
}
