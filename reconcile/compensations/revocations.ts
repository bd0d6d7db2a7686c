/**
 * `orphan_grant` and `excess_grant`: the ledger is append-only, so the fix is
 * a revocation entry bringing the user's net signup amount to its target (0
 * for a ledger user id with no committed user, `B` for a committed user).
 *
 * The revocation's entry id is `revocationEntryId(user, "<discrepancy id>:
 * <generation>:<n>")`, n = revocations this discrepancy has written so far.
 * Two executions that see the same state derive the same id, so only one
 * insert has an effect; an execution that runs after the first one's effect
 * finds the invariant holding and writes nothing. The amount is what the
 * ledger says now, never what the discrepancy's details say.
 */
import { LEDGER_REASONS, revocationEntryId } from '../../core/index.js';
import { ledgerUserCreatedAt, netSignupAmounts, revocationCountsByDiscrepancy, usersCreatedAtById } from '../../db/index.js';
import { appendAndVerify, byUser, type LedgerWrite } from './ledger-writes.js';
import type { CompensationHandler, CompensationOutcome } from './types.js';

export const compensateRevocations: CompensationHandler = async ({ dbs, config }, rows) => {
  const B = config.signupBonusPoints;
  const outcomes: CompensationOutcome[] = [];
  const todo = byUser(rows, outcomes);
  const userIds = todo.map((t) => t.userId);
  const users = await usersCreatedAtById(dbs.users, userIds);
  // Net and revocation count from one snapshot: read apart, a concurrent
  // execution's revocation could show in the count but not yet in the net, and
  // this one would then revoke a second time under the next id.
  const [before, windowKeys, revocations] = await dbs.points.transaction(
    async (trx) => [await netSignupAmounts(trx, userIds), await ledgerUserCreatedAt(trx, userIds), await revocationCountsByDiscrepancy(trx, userIds)] as const,
    { isolationLevel: 'repeatable read', readOnly: true },
  );

  const writes: LedgerWrite[] = [];
  for (const { row, userId } of todo) {
    const exists = users.has(userId);
    const net = before.get(userId) ?? 0;
    const orphan = row.kind === 'orphan_grant';
    // An orphan whose user has committed since is held to invariant 1, an excess to B as well.
    const target = orphan && !exists ? 0 : B;
    if (!orphan && !exists) {
      outcomes.push({ id: row.id, result: 'failed', reason: `user ${userId} has no committed user: an orphan, not an excess (a re-run classifies it)` });
      continue;
    }
    if (net === target) {
      outcomes.push({ id: row.id, result: 'resolved', effect: false });
      continue;
    }
    if (net < target) {
      outcomes.push({ id: row.id, result: 'failed', reason: `net signup amount of ${userId} is ${net}, below ${target}: a revocation cannot fix it` });
      continue;
    }
    const createdAt = users.get(userId) ?? windowKeys.get(userId);
    if (!createdAt) {
      outcomes.push({ id: row.id, result: 'failed', reason: `no ledger entry of ${userId} to take the window key from` });
      continue;
    }
    const n = revocations.get(row.id) ?? 0;
    writes.push({
      row,
      target,
      entry: {
        entry_id: revocationEntryId(userId, `${row.id}:${row.generation}:${n}`),
        user_id: userId,
        amount: target - net,
        reason: LEDGER_REASONS.revocation,
        user_created_at: createdAt,
        source: 'compensation',
        discrepancy_id: row.id,
      },
    });
  }
  outcomes.push(...(await appendAndVerify({ dbs, config }, writes, 'revocation')));
  return outcomes;
};
