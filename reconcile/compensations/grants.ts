/**
 * `missing_grant`: a committed user whose net signup amount is below B gets
 * the signup grant, with the very entry id the stream's consumer uses
 * (`grantEntryId(userId)`). Whichever of the two writes first wins; the other
 * insert is a no-op, so a late stream event can never double-grant.
 *
 * When that grant exists already but was revoked (an orphan revoked before
 * its user committed, say), writing it again would be a no-op for ever: the
 * user gets a re-grant of the difference instead, with its own deterministic
 * id keyed on the state of the user's ledger (`regrantEntryId`). The plan is
 * made under the user's ledger lock (see `planAndAppend`), so two executions
 * re-grant once.
 */
import { LEDGER_REASONS, grantEntryId, ledgerStateDiscriminator, regrantEntryId } from '../../core/index.js';
import { EMPTY_LEDGER, byUser, planAndAppend, type LedgerWrite } from './ledger-writes.js';
import type { CompensationHandler, CompensationOutcome } from './types.js';

export const compensateMissingGrants: CompensationHandler = async ({ dbs, config }, rows) => {
  const B = config.signupBonusPoints;
  const outcomes: CompensationOutcome[] = [];
  const todo = byUser(rows, outcomes);
  const done = await planAndAppend({ dbs, config }, todo, 'grant', (mine, { users, ledger }) => {
    const writes: LedgerWrite[] = [];
    const settled: CompensationOutcome[] = [];
    for (const { row, userId } of mine) {
      const createdAt = users.get(userId);
      const state = ledger.get(userId) ?? EMPTY_LEDGER;
      const { net } = state;
      // Invariant 1 before writing: already B (the stream got there first) → resolved without a write.
      if (!createdAt)
        settled.push({ id: row.id, result: 'failed', reason: `user ${userId} has no committed user: not a missing grant (a re-run classifies it)` });
      else if (net === B) settled.push({ id: row.id, result: 'resolved', effect: false });
      else if (net > B)
        settled.push({ id: row.id, result: 'failed', reason: `net signup amount of ${userId} is ${net}, above ${B}: an excess, not a missing grant` });
      else if (state.hasGrant)
        // The grant is in and was revoked (in part or more): append what is missing.
        writes.push({
          row,
          target: B,
          entry: {
            entry_id: regrantEntryId(userId, ledgerStateDiscriminator(state.entries)),
            user_id: userId,
            amount: B - net,
            reason: LEDGER_REASONS.grant,
            user_created_at: createdAt,
            source: 'compensation',
            discrepancy_id: row.id,
          },
        });
      else if (net !== 0)
        settled.push({ id: row.id, result: 'failed', reason: `net signup amount of ${userId} is ${net} without its signup grant: not a missing grant` });
      else
        writes.push({
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
    return { writes, settled };
  });
  return [...outcomes, ...done];
};
