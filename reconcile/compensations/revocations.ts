/**
 * `orphan_grant` and `excess_grant`: the ledger is append-only, so the fix is
 * a revocation entry bringing the user's net signup amount to its target (0
 * for a ledger user id with no committed user, `B` for a committed user).
 *
 * The plan is made under the user's ledger lock, on the net read inside the
 * writing transaction (see `planAndAppend`): an execution that runs after
 * another one's revocation finds the invariant holding and writes nothing,
 * whatever discrepancy or generation either was started for. The entry id is
 * `revocationEntryId(user, "ledger:<signup entries>")`, keyed on the state of
 * the user's ledger, so even a writer that planned on the same state without
 * the lock would have one effect. The amount is what the ledger says now,
 * never what the discrepancy's details say.
 */
import { LEDGER_REASONS, ledgerStateDiscriminator, revocationEntryId } from '../../core/index.js';
import { EMPTY_LEDGER, byUser, planAndAppend, type LedgerWrite } from './ledger-writes.js';
import type { CompensationHandler, CompensationOutcome } from './types.js';

export const compensateRevocations: CompensationHandler = async ({ dbs, config }, rows) => {
  const B = config.signupBonusPoints;
  const outcomes: CompensationOutcome[] = [];
  const todo = byUser(rows, outcomes);
  const done = await planAndAppend({ dbs, config }, todo, 'revocation', (mine, { users, ledger }) => {
    const writes: LedgerWrite[] = [];
    const settled: CompensationOutcome[] = [];
    for (const { row, userId } of mine) {
      const exists = users.has(userId);
      const state = ledger.get(userId) ?? EMPTY_LEDGER;
      const { net } = state;
      const orphan = row.kind === 'orphan_grant';
      // An orphan whose user has committed since is held to invariant 1, an excess to B as well.
      const target = orphan && !exists ? 0 : B;
      if (!orphan && !exists) {
        settled.push({ id: row.id, result: 'failed', reason: `user ${userId} has no committed user: an orphan, not an excess (a re-run classifies it)` });
        continue;
      }
      if (net === target) {
        settled.push({ id: row.id, result: 'resolved', effect: false });
        continue;
      }
      if (net < target) {
        settled.push({ id: row.id, result: 'failed', reason: `net signup amount of ${userId} is ${net}, below ${target}: a revocation cannot fix it` });
        continue;
      }
      // A revocation carries the same window key as what it revokes, so it lands in the same window.
      const createdAt = users.get(userId) ?? state.userCreatedAt;
      if (!createdAt) {
        settled.push({ id: row.id, result: 'failed', reason: `no ledger entry of ${userId} to take the window key from` });
        continue;
      }
      writes.push({
        row,
        target,
        entry: {
          entry_id: revocationEntryId(userId, ledgerStateDiscriminator(state.entries)),
          user_id: userId,
          amount: target - net,
          reason: LEDGER_REASONS.revocation,
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
