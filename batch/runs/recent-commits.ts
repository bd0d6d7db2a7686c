/**
 * The grace measured from commit, not from the transaction's start. The
 * source row of a discrepancy (the user of a user discrepancy, the outbox row
 * of an event discrepancy) that committed less than the grace ago has not had
 * the grace to reach the other side: the discrepancy is not recorded in this
 * run, and the window is held (the watermark stays before it) so that a later
 * run decides. Only where the source database tracks commit timestamps
 * (and `RECON_GRACE_FROM` is `commit`, the default); without
 * `track_commit_timestamp` lateness is measured from the window key.
 */
import { decodeEventEntity, decodeUserEntity, type SourceDatabase } from '../../core/index.js';
import { outboxCommittedWithin, tracksCommitTimestamps, usersCommittedWithin, type Databases, type DiscrepancyInput } from '../../db/index.js';

/** Which source databases record commit timestamps. */
export type CommitTimeTracking = Readonly<Record<SourceDatabase, boolean>>;

/** `RECON_GRACE_FROM=start`: lateness from the window key everywhere. */
export const NO_COMMIT_TIMES: CommitTimeTracking = { users: false, points: false };

export async function commitTimeTracking(dbs: Pick<Databases, SourceDatabase>): Promise<CommitTimeTracking> {
  const [users, points] = await Promise.all([tracksCommitTimestamps(dbs.users), tracksCommitTimestamps(dbs.points)]);
  return { users, points };
}

/**
 * Split a window's findings into those to record now and those whose source
 * row committed less than `graceSeconds` ago (deferred to a later run). One
 * primary-key lookup per source database, of the flagged rows only.
 */
export async function deferRecentCommits(
  dbs: Pick<Databases, SourceDatabase>,
  tracking: CommitTimeTracking,
  found: readonly DiscrepancyInput[],
  graceSeconds: number,
): Promise<{ kept: DiscrepancyInput[]; deferred: DiscrepancyInput[] }> {
  const users = new Map<DiscrepancyInput, string>();
  const events = new Map<DiscrepancyInput, { sourceDb: SourceDatabase; eventId: string }>();
  for (const f of found) {
    if (f.entity_type === 'user') {
      const ref = decodeUserEntity(f.entity_id);
      if (ref && tracking.users) users.set(f, ref.userId);
    } else if (f.entity_type === 'event') {
      const ref = decodeEventEntity(f.entity_id);
      if (ref && tracking[ref.sourceDb]) events.set(f, ref);
    }
  }
  if (users.size === 0 && events.size === 0) return { kept: [...found], deferred: [] };
  const idsIn = (db: SourceDatabase) => [...new Set([...events.values()].filter((e) => e.sourceDb === db).map((e) => e.eventId))];
  const [recentUsers, recentUsersOutbox, recentPointsOutbox] = await Promise.all([
    usersCommittedWithin(dbs.users, [...new Set(users.values())], graceSeconds),
    outboxCommittedWithin(dbs.users, idsIn('users'), graceSeconds),
    outboxCommittedWithin(dbs.points, idsIn('points'), graceSeconds),
  ]);
  const recent = (f: DiscrepancyInput) => {
    const user = users.get(f);
    if (user !== undefined) return recentUsers.has(user);
    const event = events.get(f);
    if (event) return (event.sourceDb === 'users' ? recentUsersOutbox : recentPointsOutbox).has(event.eventId);
    return false;
  };
  return { kept: found.filter((f) => !recent(f)), deferred: found.filter(recent) };
}
