/** Where a check's windows may start and end on a source database: the earliest window key, the writers' horizon, late arrivals. */
import { ReconError, type SourceDatabase } from '../core/index.js';
import type { Db } from './window-sql.js';

/** The window-key columns a check can start from. */
export const WINDOW_KEYS = {
  users: { table: 'users', column: 'created_at' },
  ledger: { table: 'point_ledger', column: 'user_created_at' },
  outbox: { table: 'outbox', column: 'occurred_at' },
  consumed: { table: 'consumed_events', column: 'event_occurred_at' },
} as const;
export type WindowKeyName = keyof typeof WINDOW_KEYS;

/** Smallest window-key value of a source (an index endpoint read), or null when it is empty. */
export async function earliestWindowKey(db: Db, key: WindowKeyName, group?: string): Promise<Date | null> {
  const { table, column } = WINDOW_KEYS[key];
  const where = key === 'consumed' && group !== undefined ? 'where consumer_group = ?' : '';
  const { rows } = await db.raw<{ rows: { t: Date | null }[] }>(`select min(${column}) as t from ${table} ${where}`, where ? [group!] : []);
  return rows[0]?.t ?? null;
}

/**
 * The database server's clock and the start of the oldest transaction open on
 * this database (a client backend other than ours). Rows such a transaction
 * writes carry times from its start and become visible only when it commits.
 * Every open transaction counts, not only those that already hold a write
 * xid: Postgres assigns one at the first write, and a transaction may read or
 * wait for a long time before it writes rows keyed by its start time.
 *
 * Fails closed: `pg_stat_activity` shows a role without the privileges of
 * `pg_read_all_stats` (superuser, or membership of it or of `pg_monitor`)
 * other roles' sessions with `xact_start` (and `backend_type`) NULL, so the
 * oldest writer would silently come back as "none" and a window could close
 * over a transaction still open. Without the privilege this throws a
 * `MISSING_PRIVILEGE` error naming the grant instead of guessing.
 */
export async function writerHorizon(db: Db): Promise<{ now: Date; oldestWriterStart: Date | null }> {
  const { rows } = await db.raw<{ rows: { now: Date; oldest: Date | null; sees: boolean; role: string; database: string }[] }>(
    `select now() as now, pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') as sees, current_user as role, current_database() as database,
            (select min(xact_start) from pg_stat_activity
              where datname = current_database() and backend_type = 'client backend'
                and xact_start is not null and pid <> pg_backend_pid()) as oldest`,
  );
  const row = rows[0]!;
  if (!row.sees) {
    throw new ReconError(
      'MISSING_PRIVILEGE',
      `role "${row.role}" cannot see other sessions' transaction starts on database "${row.database}", so the safe upper bound is unknown: ` +
        `grant pg_read_all_stats (or pg_monitor) to "${row.role}" (a superuser runs: grant pg_read_all_stats to "${row.role}")`,
    );
  }
  return { now: row.now, oldestWriterStart: row.oldest };
}

/** A table whose rows can be written long after their window-key time (a consumer catching up). */
export type LateSource = LateRows | LateDeadLetters;

/** Rows that carry their window key themselves. */
export interface LateRows {
  table: 'point_ledger' | 'consumed_events';
  /** When the row was written (indexed). */
  insertedAt: 'created_at' | 'consumed_at';
  /** The window key it is compared by. */
  key: 'user_created_at' | 'event_occurred_at';
}

/**
 * Dead letters: a consumer back after longer than the grace dead-letters an
 * event whose window a run already closed (as `unconsumed_event`). A dead
 * letter has no window key of its own: its window is its event's, read by
 * event id from the outbox in `outboxDb` (the other database).
 */
export interface LateDeadLetters {
  table: 'dead_letters';
  insertedAt: 'dead_lettered_at';
  outboxDb: SourceDatabase;
}

/**
 * Starts of the windows (aligned to multiples of `windowSeconds` since the
 * epoch) holding rows written at or after `since` whose key is before
 * `before`: the windows behind a watermark that received rows late. An index
 * range scan on the insert time; table and column names come from
 * {@link LateRows}, never from input.
 */
export async function lateWindowStarts(db: Db, source: LateRows, since: Date, before: Date, windowSeconds: number): Promise<Date[]> {
  const { rows } = await db.raw<{ rows: { bucket: number }[] }>(
    `select distinct floor(extract(epoch from ${source.key}) / ?) as bucket
       from ${source.table}
      where ${source.insertedAt} >= ? and ${source.key} < ?
      order by 1`,
    [windowSeconds, since, before],
  );
  return rows.map((r) => bucketStart(r.bucket, windowSeconds));
}

function bucketStart(bucket: number | string, windowSeconds: number): Date {
  return new Date(Number(bucket) * windowSeconds * 1000);
}

/**
 * Event ids of the dead letters recorded at or after `since` (consuming
 * database): an index range scan on `dead_letters_at_idx`. Dead letters
 * without an event id are found in the window of their own insert time
 * (the check's `deadLettersIn`), which is never behind the watermark.
 */
export async function deadLetteredEventIdsSince(db: Db, since: Date): Promise<string[]> {
  const { rows } = await db.raw<{ rows: { event_id: string }[] }>(
    'select distinct event_id from dead_letters where dead_lettered_at >= ? and event_id is not null',
    [since],
  );
  return rows.map((r) => r.event_id);
}

/**
 * Starts of the windows (aligned as in {@link lateWindowStarts}) of the outbox
 * events among `eventIds` whose `occurred_at` is before `before` (outbox
 * database): primary-key lookups, in chunks.
 */
export async function outboxWindowStarts(db: Db, eventIds: readonly string[], before: Date, windowSeconds: number): Promise<Date[]> {
  const buckets = new Set<number>();
  for (let i = 0; i < eventIds.length; i += 10_000) {
    const { rows } = await db.raw<{ rows: { bucket: number }[] }>(
      `select distinct floor(extract(epoch from occurred_at) / ?) as bucket
         from outbox where event_id = any(?::uuid[]) and occurred_at < ?`,
      [windowSeconds, eventIds.slice(i, i + 10_000), before],
    );
    for (const r of rows) buckets.add(Number(r.bucket));
  }
  return [...buckets].sort((a, b) => a - b).map((b) => bucketStart(b, windowSeconds));
}
