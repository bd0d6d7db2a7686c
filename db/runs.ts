import type { Knex } from 'knex';
import pg from 'pg';
import { ReconError, describeError, type CheckName, type DiscrepancyKind, type RunStatus, type RunTrigger } from '../core/index.js';
import { withDefaultUser } from './connections.js';

/** Counts per check and kind, as stored in `runs.counts` (`{"<check>": {"<kind>": n}}`). */
export type StoredRunCounts = Partial<Record<CheckName, Partial<Record<DiscrepancyKind, number>>>>;

/** Create the run record (status `running`). Returns the server's start time. */
export async function insertRun(
  db: Knex | Knex.Transaction,
  run: { id: string; trigger: RunTrigger; checks: CheckName[]; rangeFrom?: Date; rangeTo?: Date; options?: Record<string, unknown> },
): Promise<Date> {
  const [row] = (await db('runs')
    .insert({
      id: run.id,
      trigger: run.trigger,
      checks: run.checks,
      range_from: run.rangeFrom ?? null,
      range_to: run.rangeTo ?? null,
      options: JSON.stringify(run.options ?? {}),
    })
    .returning('started_at')) as { started_at: Date }[];
  return row!.started_at;
}

/**
 * Add one window's counts to its run (in the window's transaction): the
 * window count grows by one and each kind's count by what the window found.
 */
export async function addRunWindowCounts(db: Knex | Knex.Transaction, runId: string, check: CheckName, found: Partial<Record<DiscrepancyKind, number>>): Promise<void> {
  const row = (await db('runs').where({ id: runId }).forUpdate().first('counts')) as { counts: StoredRunCounts } | undefined;
  const counts: StoredRunCounts = row?.counts ?? {};
  const perKind = { ...(counts[check] ?? {}) };
  for (const [kind, n] of Object.entries(found) as [DiscrepancyKind, number][]) perKind[kind] = (perKind[kind] ?? 0) + n;
  counts[check] = perKind;
  await db('runs').where({ id: runId }).update({ windows: db.raw('windows + 1'), counts: JSON.stringify(counts) });
}

/** Finish a run: final status, finish time, and the error or skip reason. */
export async function finishRun(db: Knex | Knex.Transaction, runId: string, status: RunStatus, error?: string): Promise<Date> {
  const [row] = (await db('runs')
    .where({ id: runId })
    .update({ status, finished_at: db.fn.now(), error: error ?? null })
    .returning('finished_at')) as { finished_at: Date }[];
  return row?.finished_at ?? new Date();
}

/**
 * Mark `failed` the runs still recorded as `running` on any of `checks`,
 * other than `byRunId`. Call it only while holding those checks' locks: a live
 * run holds the locks of all its checks until it ends, so such a record is
 * left over from a process that died (SIGKILL, power loss). Returns their ids.
 */
export async function failInterruptedRuns(db: Knex | Knex.Transaction, checks: readonly CheckName[], byRunId: string): Promise<string[]> {
  if (checks.length === 0) return [];
  const rows: { id: string }[] = await db('runs')
    .where({ status: 'running' })
    .whereNot({ id: byRunId })
    // Only the checks the run held: a run that skipped a check never held its lock.
    .whereRaw(
      `exists (select 1 from unnest(checks) as c(name)
                where c.name = any(?::text[]) and not jsonb_exists(coalesce(options->'skipped', '[]'::jsonb), c.name))`,
      [Array.from(checks)],
    )
    .update({ status: 'failed', finished_at: db.fn.now(), error: `interrupted: its process ended before the run finished (found by run ${byRunId})` })
    .returning('id');
  return rows.map((r) => r.id);
}

/** One reconciled window of a run, as the run writes it. */
export interface RunWindowInput {
  run_id: string;
  check_name: CheckName;
  window_start: Date;
  window_end: Date;
  counts: Partial<Record<DiscrepancyKind, number>>;
  rows_compared: number;
  segments_compared: number;
  duration_ms: number;
}

/** Record a reconciled window of a run (again: the same window re-run in the same run overwrites it). */
export async function upsertRunWindow(db: Knex | Knex.Transaction, row: RunWindowInput): Promise<void> {
  await db('run_windows')
    .insert({ ...row, counts: JSON.stringify(row.counts), status: 'completed' })
    .onConflict(['run_id', 'check_name', 'window_start'])
    .merge({ window_end: row.window_end, counts: JSON.stringify(row.counts), rows_compared: row.rows_compared, segments_compared: row.segments_compared, duration_ms: row.duration_ms, finished_at: db.fn.now() });
}

/**
 * Session-level advisory locks that keep a check single-flight across
 * processes (scheduler, API, command line). They live on a dedicated
 * connection, outside any pool (a pool may recycle an idle connection and
 * silently drop a session lock); closing it releases them.
 */
export interface CheckLocks {
  /** Try to take the lock of `check`; false when another run holds it. */
  tryLock(check: CheckName): Promise<boolean>;
  /**
   * Throw when the connection holding the locks is gone (the server ended it,
   * the network dropped it): its locks went with it, and another run may now
   * hold the check. One round trip; called before each window commits.
   */
  assertHeld(): Promise<void>;
  /** Release every lock taken and close the connection. */
  release(): Promise<void>;
}

export async function openCheckLocks(reconUrl: string): Promise<CheckLocks> {
  const client = new pg.Client({ connectionString: withDefaultUser(reconUrl), application_name: 'recon-run-lock' });
  await client.connect();
  // A broken lock connection means the locks are gone: the run must not go on believing it holds them.
  let lost: Error | undefined;
  client.on('error', (err) => (lost ??= err));
  client.on('end', () => (lost ??= new Error('connection ended')));
  return {
    async assertHeld() {
      try {
        if (lost) throw lost;
        await client.query('select 1');
      } catch (err) {
        throw new ReconError('CONFLICT', `lost the connection holding the check locks (${describeError(err).message}); stopping before another run takes the same windows`, { cause: err, retryable: true });
      }
    },
    async tryLock(check) {
      const { rows } = await client.query<{ ok: boolean }>("select pg_try_advisory_lock(hashtextextended('recon-check:' || $1, 0)) as ok", [check]);
      return rows[0]?.ok === true;
    },
    async release() {
      try {
        await client.query('select pg_advisory_unlock_all()');
      } finally {
        await client.end();
      }
    },
  };
}
