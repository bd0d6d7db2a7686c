/**
 * The point service's consumer (group `point-service`): `user.created` →
 * signup grant in the ledger (deterministic entry id, so a grant the batch
 * layer wrote first makes this a no-op) and its `point.granted` outbox row,
 * in the same transaction as the consumed-events row.
 */
import type { Knex } from 'knex';
import { decodeUserCreated, grantEntryId, LEDGER_REASONS, type UserCreatedEvent } from '../core/index.js';
import { appendLedgerEntries, type LedgerEntry } from '../db/index.js';
import type { BatchHandler } from './idempotent-consumer.js';

/** Ledger calls are chunked so one statement stays well below Postgres' bind-parameter limit. */
const LEDGER_CHUNK = 2000;

export function pointServiceHandler({
  db,
  group,
  userCreatedTopic,
  pointGrantedTopic,
  signupBonusPoints,
}: {
  /** The points database. */
  db: Knex;
  group: string;
  userCreatedTopic: string;
  pointGrantedTopic: string;
  signupBonusPoints: number;
}): BatchHandler<UserCreatedEvent> {
  return {
    group,
    topic: userCreatedTopic,
    db,
    decode: decodeUserCreated,
    identify: (e) => ({ eventId: e.eventId, occurredAt: new Date(e.occurredAt) }),
    async apply(trx, fresh) {
      const byEntry = new Map<string, LedgerEntry>();
      for (const { event } of fresh) {
        const entryId = grantEntryId(event.userId);
        if (byEntry.has(entryId)) continue;
        byEntry.set(entryId, {
          entry_id: entryId,
          user_id: event.userId,
          amount: signupBonusPoints,
          reason: LEDGER_REASONS.grant,
          user_created_at: new Date(event.occurredAt),
          source: 'stream',
        });
      }
      const entries = Array.from(byEntry.values());
      for (let i = 0; i < entries.length; i += LEDGER_CHUNK) {
        await appendLedgerEntries(trx, entries.slice(i, i + LEDGER_CHUNK), { pointGrantedTopic });
      }
    },
  };
}
