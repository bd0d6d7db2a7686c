/**
 * The user service's balance view (group `user-service-balances`):
 * `point.granted` → `user_balances` in the users database, amounts summed per
 * user, one upsert per batch, deduplicated by event id like every consumer.
 */
import type { Knex } from 'knex';
import { decodePointGranted, type PointGrantedEvent } from '../core/index.js';
import { addToBalances } from '../db/index.js';
import type { BatchHandler } from './idempotent-consumer.js';

export function balanceHandler({ db, group, pointGrantedTopic }: { db: Knex; group: string; pointGrantedTopic: string }): BatchHandler<PointGrantedEvent> {
  return {
    group,
    topic: pointGrantedTopic,
    db,
    decode: decodePointGranted,
    identify: (e) => ({ eventId: e.eventId, occurredAt: new Date(e.occurredAt) }),
    async apply(trx, fresh) {
      await addToBalances(
        trx,
        fresh.map(({ event }) => ({ user_id: event.userId, amount: event.amount })),
      );
    },
  };
}
