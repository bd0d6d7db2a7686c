/**
 * Shared types of recon.
 *
 * Terminology:
 *
 * - **source**: one side of a comparison, living in one database (users,
 *   points). Code never joins across databases.
 * - **window key**: the timestamp column a check ranges over on each side
 *   (`users.created_at`, `point_ledger.user_created_at`, `outbox.occurred_at`,
 *   `consumed_events.event_occurred_at`). Every batch query is an index range
 *   scan on it.
 * - **window**: a half-open interval `[start, end)` of window-key values,
 *   `RECON_WINDOW_SECONDS` wide. The unit of work, of commit and of retry.
 * - **watermark**: per check, the end of the last fully reconciled window.
 *   The next run starts there.
 * - **safe upper bound**: min(now − grace, start of the oldest transaction
 *   still writing to a source). No window ends after it, so rows that are not
 *   yet visible cannot look missing.
 * - **check**: a named comparison of two sources over a window (for example
 *   `users-vs-points`) that yields discrepancies.
 * - **discrepancy**: one broken invariant for one entity, with a deterministic
 *   id derived from (check, kind, entity); status
 *   `detected → queued → resolved | failed`. A later finding can supersede
 *   one (a dead letter replaces an unconsumed event): it is then `resolved`
 *   with a `resolution` saying by what. A run whose compensable findings of a
 *   check exceed the blast-radius guard records them `held` instead of
 *   queueing them; an operator's **decision** then approves them (`queued`)
 *   or dismisses them (`dismissed`, closed without an effect).
 * - **compensation**: the idempotent write that restores the invariant for one
 *   discrepancy (grant, revocation, republish), run as a BullMQ job.
 * - **run**: one execution of one or more checks over their windows, started
 *   by the scheduler, the API or the command line.
 */

export const DISCREPANCY_STATUSES = ['detected', 'queued', 'resolved', 'failed', 'held', 'dismissed'] as const;
export type DiscrepancyStatus = (typeof DISCREPANCY_STATUSES)[number];

export const CHECK_NAMES = {
  usersVsPoints: 'users-vs-points',
  outboxVsConsumed: 'outbox-vs-consumed',
} as const;
export type CheckName = (typeof CHECK_NAMES)[keyof typeof CHECK_NAMES];
export const ALL_CHECK_NAMES = Object.values(CHECK_NAMES) as CheckName[];

export const RUN_TRIGGERS = ['cli', 'cron', 'api', 'console', 'demo', 'test'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

export const RUN_STATUSES = ['running', 'completed', 'failed', 'skipped'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The databases recon compares (each a source of the checks; in production, different servers). */
export const SOURCE_DATABASES = ['users', 'points'] as const;
export type SourceDatabase = (typeof SOURCE_DATABASES)[number];

/** Half-open interval `[start, end)` of window-key values. */
export interface Window {
  start: Date;
  end: Date;
}

/** Base names of the Kafka topics (the namespace prefix is applied by `namespaced`). */
export const TOPICS = {
  userCreated: 'user.created',
  pointGranted: 'point.granted',
} as const;
export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];

export const DLT_SUFFIX = '.DLT';

/** Base names of the consumer groups. */
export const CONSUMER_GROUPS = {
  pointService: 'point-service',
  userServiceBalances: 'user-service-balances',
} as const;

/** Partitions of every topic we create. */
export const TOPIC_PARTITIONS = 6;

/** Base name of the BullMQ queue of compensations. */
export const COMPENSATION_QUEUE = 'recon-compensations';
/** Base name of the BullMQ queue of scheduled and on-demand runs. */
export const RUN_QUEUE = 'recon-runs';
/** Base name of the BullMQ queue of window jobs: the windows of distributed runs, compared by any `recon worker`. */
export const WINDOW_QUEUE = 'recon-run-windows';

/** `user.created` value, schema version 1 (fixed: other services read it). */
export interface UserCreatedEvent {
  eventId: string;
  type: 'user.created';
  schemaVersion: 1;
  occurredAt: string;
  userId: string;
  email: string;
}

/** `point.granted` value, schema version 1 (fixed: other services read it). */
export interface PointGrantedEvent {
  eventId: string;
  type: 'point.granted';
  schemaVersion: 1;
  occurredAt: string;
  userId: string;
  entryId: string;
  amount: number;
  reason: string;
  userCreatedAt: string;
}
