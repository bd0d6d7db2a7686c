/**
 * Lateness measured from commit. A row's window key is its transaction's
 * start, but the row becomes visible only at commit: a transaction longer than
 * the grace that commits just before a run shows a user with no grant yet, an
 * outbox event not yet relayed. With `track_commit_timestamp = on` the
 * database knows when each row's transaction committed
 * (`pg_xact_commit_timestamp(xmin)`), and the batch layer leaves rows
 * committed less than the grace ago to the next run.
 *
 * These look up only the rows a window's comparison flagged, by primary key:
 * nothing here scans a window.
 */
import type { Db } from './window-sql.js';

/** Whether the server records commit timestamps (`track_commit_timestamp`, set in postgresql.conf; a restart applies it). */
export async function tracksCommitTimestamps(db: Db): Promise<boolean> {
  const { rows } = await db.raw<{ rows: { on: boolean }[] }>("select current_setting('track_commit_timestamp') = 'on' as on");
  return rows[0]?.on ?? false;
}

/**
 * Of these users, the ones whose row committed less than `graceSeconds` ago
 * by the database's clock (users DB; needs `track_commit_timestamp`). A row
 * whose commit time is not known any more (frozen, or older than the setting)
 * is old.
 */
export async function usersCommittedWithin(db: Db, userIds: readonly string[], graceSeconds: number): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const { rows } = await db.raw<{ rows: { id: string }[] }>(
    `select id from users
      where id = any(?::uuid[]) and pg_xact_commit_timestamp(xmin) > now() - make_interval(secs => ?)`,
    [Array.from(userIds), graceSeconds],
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * Of these outbox events, the ones that became visible less than
 * `graceSeconds` ago: committed then, or published then (the relay's update
 * is the row's newest version, and its consumer's grace starts there). A row
 * the relay failed to send (`attempts > 0`, unpublished) carries the failed
 * attempt's transaction, not its own commit: it is not held back, the relay
 * is failing rather than late. Either source database; needs
 * `track_commit_timestamp`.
 */
export async function outboxCommittedWithin(db: Db, eventIds: readonly string[], graceSeconds: number): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const { rows } = await db.raw<{ rows: { event_id: string }[] }>(
    `select event_id from outbox
      where event_id = any(?::uuid[]) and (published_at is not null or attempts = 0)
        and pg_xact_commit_timestamp(xmin) > now() - make_interval(secs => ?)`,
    [Array.from(eventIds), graceSeconds],
  );
  return new Set(rows.map((r) => r.event_id));
}
