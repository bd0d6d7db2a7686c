/**
 * The write-then-verify step shared by grants and revocations: append the
 * entries (and their `point.granted` events) in one points-DB transaction,
 * then re-read each user's net signup amount and resolve only where it meets
 * its target.
 */
import { TOPICS, decodeUserEntity, namespaced } from '../../core/index.js';
import { appendLedgerEntries, netSignupAmounts, type DiscrepancyRow, type LedgerEntry } from '../../db/index.js';
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

export async function appendAndVerify(
  { dbs, config }: Pick<CompensationDeps, 'dbs' | 'config'>,
  writes: readonly LedgerWrite[],
  what: 'grant' | 'revocation',
): Promise<CompensationOutcome[]> {
  if (writes.length === 0) return [];
  const inserted = await dbs.points.transaction((trx) =>
    appendLedgerEntries(
      trx,
      writes.map((w) => w.entry),
      { pointGrantedTopic: namespaced(config, TOPICS.pointGranted) },
    ),
  );
  const wrote = new Set(inserted.map((e) => e.entry_id));
  const after = await netSignupAmounts(
    dbs.points,
    writes.map((w) => w.entry.user_id),
  );
  return writes.map(({ row, entry, target }) => {
    const net = after.get(entry.user_id) ?? 0;
    return net === target
      ? { id: row.id, result: 'resolved', effect: wrote.has(entry.entry_id) }
      : { id: row.id, result: 'retry', reason: `net signup amount of ${entry.user_id} is ${net} after the ${what}, expected ${target}` };
  });
}
