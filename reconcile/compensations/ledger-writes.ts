/**
 * The locked plan-write-verify step shared by grants and revocations. In one
 * points-DB transaction per chunk of users: take each user's ledger lock,
 * read its committed user and its signup entries (after the lock, so the
 * state includes whatever an earlier holder wrote), let the handler plan the
 * entries on that state, append them with their `point.granted` events, and
 * re-read each user's net signup amount: resolved only where it meets its
 * target. Two executions for one user, of any kind and any generation, are
 * thus serialized; the second plans on the first one's result.
 */
import { TOPICS, decodeUserEntity, namespaced } from '../../core/index.js';
import {
  appendLedgerEntries,
  lockUserLedgers,
  netSignupAmounts,
  userLedgerStates,
  usersCreatedAtById,
  type DiscrepancyRow,
  type LedgerEntry,
  type UserLedgerState,
} from '../../db/index.js';
import type { CompensationDeps, CompensationOutcome } from './types.js';

/** The user a users-vs-points discrepancy is about: its entity id (details are not trusted). */
export function discrepancyUserId(row: Pick<DiscrepancyRow, 'entity_id'>): string | undefined {
  return decodeUserEntity(row.entity_id)?.userId;
}

/** Each discrepancy with its user; one that names no user gets a `failed` outcome. */
export function byUser(rows: readonly DiscrepancyRow[], outcomes: CompensationOutcome[]): { row: DiscrepancyRow; userId: string }[] {
  const todo: { row: DiscrepancyRow; userId: string }[] = [];
  for (const row of rows) {
    const userId = discrepancyUserId(row);
    if (userId) todo.push({ row, userId });
    else outcomes.push({ id: row.id, result: 'failed', reason: `entity id ${JSON.stringify(row.entity_id)} is not a user id` });
  }
  return todo;
}

export interface LedgerWrite {
  row: DiscrepancyRow;
  entry: LedgerEntry;
  /** The net signup amount the user must have once the entry is in: `B` for a grant, `0` or `B` for a revocation. */
  target: number;
}

/** What a handler plans on: the users that exist and the ledger state of each, read under the users' locks. */
export interface LedgerView {
  users: ReadonlyMap<string, Date>;
  ledger: ReadonlyMap<string, UserLedgerState>;
}

/** The state of a user with no signup entry. */
export const EMPTY_LEDGER: UserLedgerState = { net: 0, entries: 0, hasGrant: false, userCreatedAt: null };

/**
 * Users per locked transaction: bounds the advisory locks one transaction
 * holds (the lock table is shared and sized by `max_locks_per_transaction`)
 * whatever `RECON_COMPENSATION_BATCH` says.
 */
export const LEDGER_LOCK_CHUNK = 200;

/**
 * Lock, plan, append and verify `todo` (see above), a chunk of users at a
 * time. `plan` returns the entries to write and the outcomes it settles
 * without a write; a user it writes for is resolved only when the net after
 * the write is the entry's target.
 */
export async function planAndAppend(
  { dbs, config }: Pick<CompensationDeps, 'dbs' | 'config'>,
  todo: readonly { row: DiscrepancyRow; userId: string }[],
  what: 'grant' | 'revocation',
  plan: (todo: readonly { row: DiscrepancyRow; userId: string }[], view: LedgerView) => { writes: LedgerWrite[]; settled: CompensationOutcome[] },
): Promise<CompensationOutcome[]> {
  const outcomes: CompensationOutcome[] = [];
  const byUserId = new Map<string, { row: DiscrepancyRow; userId: string }[]>();
  for (const t of todo) byUserId.set(t.userId, [...(byUserId.get(t.userId) ?? []), t]);
  const userIds = [...byUserId.keys()];
  for (let i = 0; i < userIds.length; i += LEDGER_LOCK_CHUNK) {
    const chunkIds = userIds.slice(i, i + LEDGER_LOCK_CHUNK);
    const chunk = chunkIds.flatMap((u) => byUserId.get(u)!);
    const done = await dbs.points.transaction(async (trx) => {
      await lockUserLedgers(trx, chunkIds);
      const [users, ledger] = await Promise.all([usersCreatedAtById(dbs.users, chunkIds), userLedgerStates(trx, chunkIds)]);
      const { writes, settled } = plan(chunk, { users, ledger });
      if (writes.length === 0) return settled;
      const inserted = await appendLedgerEntries(
        trx,
        writes.map((w) => w.entry),
        { pointGrantedTopic: namespaced(config, TOPICS.pointGranted) },
      );
      const wrote = new Set(inserted.map((e) => e.entry_id));
      const after = await netSignupAmounts(
        trx,
        writes.map((w) => w.entry.user_id),
      );
      return [
        ...settled,
        ...writes.map(({ row, entry, target }): CompensationOutcome => {
          const net = after.get(entry.user_id) ?? 0;
          return net === target
            ? { id: row.id, result: 'resolved', effect: wrote.has(entry.entry_id) }
            : { id: row.id, result: 'retry', reason: `net signup amount of ${entry.user_id} is ${net} after the ${what}, expected ${target}` };
        }),
      ];
    });
    outcomes.push(...done);
  }
  return outcomes;
}
