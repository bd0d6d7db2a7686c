import type { Knex } from 'knex';
import type { CheckKindCounts, CheckName, DiscrepancyKind, KindCounts, RunStatus, RunTrigger } from '../../core/index.js';
import { decodeCursor, cursorColumn, page, type Page, type WithCursor } from './pages.js';
import type { RunHeld } from './decisions.js';

/** Create the run record (status `running`). Returns the server's start time. */
export async function insertRun(
  db: Knex | Knex.Transaction,
  run: {
    id: string;
    trigger: RunTrigger;
    checks: CheckName[];
    rangeFrom?: Date;
    rangeTo?: Date;
    options?: Record<string, unknown>;
    /** `workers`: its windows go to the window queue; with the session holding its checks' locks (the commits' fence). */
    mode?: 'in-process' | 'workers';
    /** The backend pid of the session holding the locks; its start time is read from `pg_stat_activity` (microseconds, which a `Date` would lose). */
    lockPid?: number;
  },
): Promise<Date> {
  const [row] = (await db('runs')
    .insert({
      id: run.id,
      trigger: run.trigger,
      checks: run.checks,
      range_from: run.rangeFrom ?? null,
      range_to: run.rangeTo ?? null,
      options: JSON.stringify(run.options ?? {}),
      mode: run.mode ?? 'in-process',
      lock_pid: run.lockPid ?? null,
      lock_backend_start: run.lockPid === undefined ? null : db.raw('(select backend_start from pg_stat_activity where pid = ?)', [run.lockPid]),
    })
    .returning('started_at')) as { started_at: Date }[];
  return row!.started_at;
}

/**
 * Add one window's counts to its run (in the window's transaction): the
 * window count grows by one (by `windows` for several at once) and each
 * kind's count by what the window found.
 */
export async function addRunWindowCounts(db: Knex | Knex.Transaction, runId: string, check: CheckName, found: KindCounts, windows = 1): Promise<void> {
  const row = (await db('runs').where({ id: runId }).forUpdate().first('counts')) as { counts: CheckKindCounts } | undefined;
  const counts: CheckKindCounts = row?.counts ?? {};
  const perKind = { ...(counts[check] ?? {}) };
  for (const [kind, n] of Object.entries(found) as [DiscrepancyKind, number][]) perKind[kind] = (perKind[kind] ?? 0) + n;
  counts[check] = perKind;
  await db('runs')
    .where({ id: runId })
    .update({ windows: db.raw('windows + ?', [windows]), counts: JSON.stringify(counts) });
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
  counts: KindCounts;
  rows_compared: number;
  segments_compared: number;
  duration_ms: number;
  /** The process that compared it. */
  worker_host: string;
  worker_pid: number;
}

/** Record a reconciled window of a run (again: the same window re-run in the same run overwrites it). */
export async function upsertRunWindow(db: Knex | Knex.Transaction, row: RunWindowInput): Promise<void> {
  await db('run_windows')
    .insert({ ...row, counts: JSON.stringify(row.counts), status: 'completed' })
    .onConflict(['run_id', 'check_name', 'window_start'])
    .merge({
      window_end: row.window_end,
      counts: JSON.stringify(row.counts),
      rows_compared: row.rows_compared,
      segments_compared: row.segments_compared,
      duration_ms: row.duration_ms,
      worker_host: row.worker_host,
      worker_pid: row.worker_pid,
      finished_at: db.fn.now(),
    });
}

/**
 * Session-level advisory locks that keep a check single-flight across
 * processes (scheduler, API, command line). They live on a dedicated
 * connection, outside any pool (a pool may recycle an idle connection and
 * silently drop a session lock); closing it releases them.
 */

export interface RunRow {
  id: string;
  trigger: RunTrigger;
  checks: CheckName[];
  range_from: Date | null;
  range_to: Date | null;
  dry_run: boolean;
  status: RunStatus;
  started_at: Date;
  finished_at: Date | null;
  windows: number;
  /** `{check: {kind: n}}`: what the run found. */
  counts: CheckKindCounts;
  options: Record<string, unknown>;
  error: string | null;
  /** `in-process` or `workers` (who compared its windows). */
  mode?: 'in-process' | 'workers';
  /** Per check: why the blast-radius guard held its compensations (empty when it held none). */
  held?: RunHeld;
}

/** A `run_windows` row as the read side shows it. */
export interface RunWindowDetail {
  run_id: string;
  check_name: CheckName;
  window_start: Date;
  window_end: Date;
  status: string;
  counts: KindCounts;
  rows_compared: number;
  segments_compared: number;
  duration_ms: number;
  finished_at: Date;
  /** The process that compared it (null on rows older than distributed runs, and on pending windows). */
  worker_host: string | null;
  worker_pid: number | null;
  /** Times a worker started it (more than 1: a worker died or failed on it and another took it over). */
  attempts: number;
}

/** A page of a keyset-paginated listing; `nextCursor` is absent on the last page. */

export interface ListRunsFilter {
  /** Most rows per page. Default 50. */
  limit?: number;
  cursor?: string;
  trigger?: RunTrigger;
  status?: RunStatus;
  /** Only runs started at or after this instant. */
  startedFrom?: Date;
  /** Only runs started before this instant. */
  startedBefore?: Date;
}

/** Runs, newest first. */
export async function listRuns(db: Knex, { limit = 50, cursor, trigger, status, startedFrom, startedBefore }: ListRunsFilter = {}): Promise<Page<RunRow>> {
  const q = db('runs')
    .select('*', cursorColumn(db, 'started_at'))
    .orderBy([
      { column: 'started_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit + 1);
  if (trigger) q.where('trigger', trigger);
  if (status) q.where('status', status);
  if (startedFrom) q.where('started_at', '>=', startedFrom);
  if (startedBefore) q.where('started_at', '<', startedBefore);
  const after = cursor ? decodeCursor(cursor) : undefined;
  if (after) q.whereRaw('(started_at, id) < (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return page((await q) as WithCursor<RunRow>[], limit);
}

/** One run by id (the read side's view of `runs`). */
export async function getRunRow(db: Knex, id: string): Promise<RunRow | undefined> {
  return (await db<RunRow>('runs').where({ id }).first()) as RunRow | undefined;
}

export async function getRunWindowDetails(db: Knex, runId: string): Promise<RunWindowDetail[]> {
  return (await db('run_windows').where({ run_id: runId }).orderBy(['check_name', 'window_start'])) as RunWindowDetail[];
}

/** The latest run started by `trigger` whose status is one of `statuses`. */
export async function lastRunByTrigger(db: Knex, trigger: RunTrigger, statuses: readonly RunStatus[] = ['running', 'completed']): Promise<RunRow | undefined> {
  return (await db<RunRow>('runs')
    .where({ trigger })
    .whereIn('status', [...statuses])
    .orderBy('started_at', 'desc')
    .first()) as RunRow | undefined;
}

/** The last `limit` runs, oldest first, for a chart of drift per run. */
export async function recentRuns(db: Knex, limit = 14): Promise<RunRow[]> {
  const rows = (await db<RunRow>('runs')
    .select('*')
    .orderBy([
      { column: 'started_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit)) as RunRow[];
  return rows.reverse();
}

/** Finished runs after `after` (all of the last `limit` when absent), oldest first: feeds the run-duration histogram. */
export async function finishedRunsSince(
  db: Knex,
  after: Date | undefined,
  limit = 500,
): Promise<{ id: string; trigger: RunTrigger; status: RunStatus; finished_at: Date; duration_seconds: number }[]> {
  const { rows } = await db.raw<{ rows: { id: string; trigger: RunTrigger; status: RunStatus; finished_at: Date; duration_seconds: number }[] }>(
    `select * from (
       select id, trigger, status, finished_at, extract(epoch from (finished_at - started_at))::float8 as duration_seconds
         from runs
        where finished_at is not null ${after ? 'and finished_at > ?' : ''}
        order by finished_at desc
        limit ?
     ) x order by finished_at`,
    after ? [after, limit] : [limit],
  );
  return rows;
}

/** The range a run's windows covered (first start to last end), or undefined when it compared none. */
export async function runWindowSpan(db: Knex, runId: string): Promise<{ from: Date; to: Date } | undefined> {
  const row = (await db('run_windows').where({ run_id: runId }).min({ from: 'window_start' }).max({ to: 'window_end' }).first()) as
    { from: Date | null; to: Date | null } | undefined;
  return row?.from && row.to ? { from: row.from, to: row.to } : undefined;
}
