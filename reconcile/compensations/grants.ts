/**
 * `missing_grant`: a committed user whose net signup amount is 0 gets the
 * signup grant, with the very entry id the stream's consumer uses
 * (`grantEntryId(userId)`). Whichever of the two writes first wins; the other
 * insert is a no-op, so a late stream event can never double-grant.
 */
import { LEDGER_REASONS, grantEntryId } from '../../core/index.js';
import { netSignupAmounts, usersCreatedAtById } from '../../db/index.js';
import { appendAndVerify, byUser, type LedgerWrite } from './ledger-writes.js';
import type { CompensationHandler, CompensationOutcome } from './types.js';

export const compensateMissingGrants: CompensationHandler = async ({ dbs, config }, rows) => {
  const B = config.signupBonusPoints;
  const outcomes: CompensationOutcome[] = [];
  const todo = byUser(rows, outcomes);
  const userIds = todo.map((t) => t.userId);
  const [users, before] = await Promise.all([usersCreatedAtById(dbs.users, userIds), netSignupAmounts(dbs.points, userIds)]);

  // Invariant 1 before writing: already B (the stream got there first) → resolved without a write.
  const grants: LedgerWrite[] = [];
  for (const { row, userId } of todo) {
    const createdAt = users.get(userId);
    const net = before.get(userId) ?? 0;
    if (!createdAt)
      outcomes.push({ id: row.id, result: 'failed', reason: `user ${userId} has no committed user: not a missing grant (a re-run classifies it)` });
    else if (net === B) outcomes.push({ id: row.id, result: 'resolved', effect: false });
    else if (net !== 0)
      outcomes.push({ id: row.id, result: 'failed', reason: `net signup amount of ${userId} is ${net}, neither 0 nor ${B}: not a missing grant` });
    else
      grants.push({
        row,
        target: B,
        entry: {
          entry_id: grantEntryId(userId),
          user_id: userId,
          amount: B,
          reason: LEDGER_REASONS.grant,
          user_created_at: createdAt,
          source: 'compensation',
          discrepancy_id: row.id,
        },
      });
  }
  outcomes.push(...(await appendAndVerify({ dbs, config }, grants, 'grant')));
  return outcomes;
};
