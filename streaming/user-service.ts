/**
 * The user service: create users and announce them with `user.created`.
 *
 * - `outbox` mode (the default, the cure): each user and its outbox row are
 *   written in one transaction (many users per transaction for throughput;
 *   each user is still atomic with its own row). The relay publishes later.
 * - `direct` mode (the disease, kept on purpose so the batch layer has real
 *   drift to repair): one user per transaction, and the event is sent with
 *   the producer inside the transaction, before it commits. The outbox row is
 *   still written, marked published with where the send landed, so the relay
 *   never sends it again. A rollback after the send leaves an event for a user
 *   who does not exist. With `acks: 1` the send waits for the partition
 *   leader only, so a leader failover can lose an event the outbox row says
 *   was published.
 *
 * Timestamps: `users.created_at`, `outbox.occurred_at` and the payload's
 * `occurredAt` are the same value, the writing transaction's `now()`.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { userCreatedEvent } from '../core/index.js';
import { insertOutboxEvents, insertUsers, markPublished, transactionStart, type OutboxEventRow } from '../db/index.js';
import { NO_FAULT, type FaultDecision, type FaultInjector } from './faults.js';
import type { Producer } from './kafka.js';
import { outboxMessage, sendLocated, type Acks } from './publish.js';

export const USER_SERVICE_MODES = ['outbox', 'direct'] as const;
export type UserServiceMode = (typeof USER_SERVICE_MODES)[number];

export interface UserServiceDeps {
  /** The users database. */
  db: Knex;
  /** Full name of the `user.created` topic (namespace applied). */
  userCreatedTopic: string;
  /** Needed in direct mode, and for duplicate/poison faults. */
  producer?: Producer;
  /** Fault injection; none when absent. */
  faults?: FaultInjector;
  /**
   * Direct mode: what each send waits for. Default `-1` (all in-sync
   * replicas). `1` needs a non-idempotent producer; a leader that dies before
   * its followers copied an acknowledged event loses it for real.
   */
  acks?: Acks;
}

export interface CreatedUsers {
  /** Users that committed. */
  committed: number;
  /** Users rolled back on purpose (rollback fault). */
  rolledBack: number;
}

function newUser(): { id: string; email: string; eventId: string } {
  const id = randomUUID();
  return { id, email: `user-${id}@example.test`, eventId: randomUUID() };
}

function outboxRow(topic: string, u: { id: string; email: string; eventId: string }, now: Date): OutboxEventRow {
  return {
    event_id: u.eventId,
    topic,
    message_key: u.id,
    occurred_at: now,
    payload: userCreatedEvent({ eventId: u.eventId, userId: u.id, email: u.email, occurredAt: now }),
  };
}

function requireProducer(deps: UserServiceDeps, why: string): Producer {
  if (!deps.producer) throw new TypeError(`the user service needs a producer for ${why}`);
  return deps.producer;
}

/** Outbox mode: `count` users and their outbox rows in one transaction. */
export async function createUsersOutbox(deps: UserServiceDeps, count: number): Promise<CreatedUsers> {
  const decisions: FaultDecision[] = Array.from({ length: count }, () => deps.faults?.decide('outbox') ?? NO_FAULT);
  let made: { id: string; email: string; eventId: string }[] = [];
  await deps.db.transaction(async (trx) => {
    const now = await transactionStart(trx);
    made = decisions.map(() => newUser());
    await insertUsers(
      trx,
      made.map((u) => ({ id: u.id, email: u.email, created_at: now })),
    );
    await insertOutboxEvents(
      trx,
      made.map((u) => outboxRow(deps.userCreatedTopic, u, now)),
    );
    const lost = made.filter((_, i) => decisions[i]!.lose);
    if (lost.length)
      await markPublished(
        trx,
        lost.map((u) => ({ event_id: u.eventId, partition: null, offset: null })),
      );
  });
  const lost = decisions.filter((d) => d.lose).length;
  if (lost) deps.faults?.count('lose', lost);
  await afterCommit(deps, made, decisions);
  return { committed: count, rolledBack: 0 };
}

/** Direct mode: one user, its event sent inside the transaction before commit. */
export async function createUserDirect(deps: UserServiceDeps): Promise<CreatedUsers> {
  const producer = requireProducer(deps, 'direct mode');
  const decision = deps.faults?.decide('direct') ?? NO_FAULT;
  const trx = await deps.db.transaction();
  let user: { id: string; email: string; eventId: string };
  try {
    const now = await transactionStart(trx);
    user = newUser();
    await insertUsers(trx, [{ id: user.id, email: user.email, created_at: now }]);
    const row = outboxRow(deps.userCreatedTopic, user, now);
    await insertOutboxEvents(trx, [row]);
    if (decision.lose) {
      // Committed, never sent: the send "was lost".
      await markPublished(trx, [{ event_id: user.eventId, partition: null, offset: null }]);
    } else {
      // The naive pattern: the event leaves before the transaction is decided.
      const [landed] = await sendLocated(
        producer,
        [outboxMessage({ event_id: row.event_id, topic: row.topic, message_key: row.message_key, payload: JSON.stringify(row.payload), headers: {} })],
        deps.acks,
      );
      await markPublished(trx, [{ event_id: user.eventId, partition: landed!.partition, offset: landed!.offset }]);
    }
    if (decision.rollback) {
      await trx.rollback();
      deps.faults?.count('rollback');
      return { committed: 0, rolledBack: 1 };
    }
    await trx.commit();
  } catch (err) {
    if (!trx.isCompleted()) await trx.rollback().catch(() => undefined);
    throw err;
  }
  if (decision.lose) deps.faults?.count('lose');
  await afterCommit(deps, [user], [decision]);
  return { committed: 1, rolledBack: 0 };
}

async function afterCommit(deps: UserServiceDeps, made: readonly { id: string; eventId: string }[], decisions: readonly FaultDecision[]): Promise<void> {
  if (!deps.faults) return;
  const duplicateEventIds = made.filter((_, i) => decisions[i]!.duplicate).map((u) => u.eventId);
  const poisonKeys = made.filter((_, i) => decisions[i]!.poison).map((u) => u.id);
  if (duplicateEventIds.length || poisonKeys.length) {
    await deps.faults.afterCommit(
      { db: deps.db, producer: requireProducer(deps, 'duplicate and poison faults'), userCreatedTopic: deps.userCreatedTopic },
      { duplicateEventIds, poisonKeys },
    );
  }
}
