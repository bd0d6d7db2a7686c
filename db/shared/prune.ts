/**
 * The source databases' side of retention (`recon prune`): outbox and
 * consumed-event rows behind a horizon, found by their window index in key
 * order and deleted by primary key in small batches, each in its own short
 * transaction.
 *
 * Keys travel as whole microseconds since the epoch (a JavaScript Date holds
 * milliseconds only, and a keyset cursor rounded down would find the same
 * rows again).
 */
import { ReconError } from '../../core/index.js';
import type { Db } from '../window-sql.js';
import type { Knex } from 'knex';

/** The tables a prune deletes from on each source database. */
export const PRUNED_SOURCE_TABLES = ['outbox', 'consumed_events', 'unpublished_events'] as const;
export type PrunedSourceTable = (typeof PRUNED_SOURCE_TABLES)[number];

/** One row a prune may delete: its id and its window key in microseconds. */
export interface PruneCandidate {
  event_id: string;
  key_us: number;
}

/** Where the next batch starts: after this (key, id). */
export type PruneCursor = PruneCandidate | null;

const AT_US = `(timestamptz 'epoch' + ?::bigint * interval '1 microsecond')`;

/**
 * Fail closed unless the connected role may read and delete the pruned
 * tables: names the role, the database and the grant that is missing.
 */
export async function assertPrunePrivileges(db: Db): Promise<void> {
  const { rows } = await db.raw<{ rows: { role: string; database: string; tbl: string; sel: boolean; del: boolean }[] }>(
    `select current_user as role, current_database() as database, t as tbl,
            has_table_privilege(current_user, t, 'SELECT') as sel, has_table_privilege(current_user, t, 'DELETE') as del
       from unnest(?::text[]) as t`,
    [[...PRUNED_SOURCE_TABLES]],
  );
  const missing = rows.flatMap((r) => [...(r.sel ? [] : [`select on ${r.tbl}`]), ...(r.del ? [] : [`delete on ${r.tbl}`])]);
  if (missing.length === 0) return;
  const { role, database } = rows[0]!;
  throw new ReconError(
    'MISSING_PRIVILEGE',
    `role "${role}" may not prune database "${database}": it lacks ${missing.join(', ')}; ` +
      `grant select, delete on ${PRUNED_SOURCE_TABLES.join(', ')} to "${role}" (or point USERS_PRUNE_DATABASE_URL / POINTS_PRUNE_DATABASE_URL at a role that has them)`,
  );
}

/** Outbox rows with `occurred_at < before`, after `cursor`, in window-key order (index range scan on `outbox_occurred_at_idx`). */
export async function outboxPruneCandidates(db: Db, before: Date, cursor: PruneCursor, limit: number): Promise<PruneCandidate[]> {
  const after = cursor ? `and (occurred_at, event_id) > (${AT_US}, ?::uuid)` : '';
  const { rows } = await db.raw<{ rows: PruneCandidate[] }>(
    `select event_id, (extract(epoch from occurred_at) * 1000000)::bigint as key_us
       from outbox where occurred_at < ? ${after}
      order by occurred_at, event_id limit ?`,
    [before, ...(cursor ? [cursor.key_us, cursor.event_id] : []), limit],
  );
  return rows;
}

/** The consumer groups that have consumed-event rows (a loose index scan: one index probe per group). */
export async function consumedGroups(db: Db): Promise<string[]> {
  const { rows } = await db.raw<{ rows: { consumer_group: string }[] }>(
    `with recursive g as (
       (select consumer_group from consumed_events order by consumer_group limit 1)
       union all
       select (select c.consumer_group from consumed_events c where c.consumer_group > g.consumer_group order by c.consumer_group limit 1)
         from g where g.consumer_group is not null
     ) select consumer_group from g where consumer_group is not null`,
  );
  return rows.map((r) => r.consumer_group);
}

/** A group's consumed events with `event_occurred_at < before`, after `cursor`, in window-key order (`consumed_events_window_idx`). */
export async function consumedPruneCandidates(db: Db, group: string, before: Date, cursor: PruneCursor, limit: number): Promise<PruneCandidate[]> {
  const after = cursor ? `and (event_occurred_at, event_id) > (${AT_US}, ?::uuid)` : '';
  const { rows } = await db.raw<{ rows: PruneCandidate[] }>(
    `select event_id, (extract(epoch from event_occurred_at) * 1000000)::bigint as key_us
       from consumed_events where consumer_group = ? and event_occurred_at < ? ${after}
      order by event_occurred_at, event_id limit ?`,
    [group, before, ...(cursor ? [cursor.key_us, cursor.event_id] : []), limit],
  );
  return rows;
}

/** Of `eventIds`, those with an outbox row at or after `horizon` (primary-key lookups): their consumed rows must stay. */
export async function outboxEventsFrom(db: Db, eventIds: readonly string[], horizon: Date): Promise<string[]> {
  if (eventIds.length === 0) return [];
  const { rows } = await db.raw<{ rows: { event_id: string }[] }>('select event_id from outbox where event_id = any(?::uuid[]) and occurred_at >= ?', [
    [...eventIds],
    horizon,
  ]);
  return rows.map((r) => r.event_id);
}

/** Of `eventIds`, those with a consumed row (any group) keyed at or after `horizon` (primary-key prefix lookups): their outbox rows must stay. */
export async function consumedEventsFrom(db: Db, eventIds: readonly string[], horizon: Date): Promise<string[]> {
  if (eventIds.length === 0) return [];
  const { rows } = await db.raw<{ rows: { event_id: string }[] }>(
    'select distinct event_id from consumed_events where event_id = any(?::uuid[]) and event_occurred_at >= ?',
    [[...eventIds], horizon],
  );
  return rows.map((r) => r.event_id);
}

/** One delete batch: rows deleted, and how long its transaction (and so its row locks) lasted. */
export interface PruneDelete {
  deleted: number;
  transactionMs: number;
}

/**
 * Delete the given rows in one short transaction that waits at most
 * `lockTimeoutMs` for a lock (a relay holding an outbox row: Postgres code
 * 55P03, retryable), re-checking the horizon so nothing at or after it goes.
 */
export async function deleteOutboxRows(db: Knex, eventIds: readonly string[], before: Date, lockTimeoutMs: number): Promise<PruneDelete> {
  return timedDelete(db, lockTimeoutMs, (trx) =>
    // The relay's work list goes with its rows (Debezium never publishes, so nothing else would clear it).
    trx.raw<{ rowCount: number }>(
      `with gone as (delete from outbox where event_id = any(?::uuid[]) and occurred_at < ? returning event_id),
            listed as (delete from unpublished_events where event_id in (select event_id from gone))
       select event_id from gone`,
      [[...eventIds], before],
    ),
  );
}

/** As {@link deleteOutboxRows}, for one group's consumed events. */
export async function deleteConsumedRows(db: Knex, group: string, eventIds: readonly string[], before: Date, lockTimeoutMs: number): Promise<PruneDelete> {
  return timedDelete(db, lockTimeoutMs, (trx) =>
    trx.raw<{ rowCount: number }>('delete from consumed_events where consumer_group = ? and event_id = any(?::uuid[]) and event_occurred_at < ?', [
      group,
      [...eventIds],
      before,
    ]),
  );
}

async function timedDelete(db: Knex, lockTimeoutMs: number, run: (trx: Knex.Transaction) => Promise<{ rowCount: number }>): Promise<PruneDelete> {
  let started = 0;
  const deleted = await db.transaction(async (trx) => {
    await trx.raw(`set local lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
    started = performance.now();
    const { rowCount } = await run(trx);
    return rowCount ?? 0;
  });
  return { deleted, transactionMs: performance.now() - started };
}
