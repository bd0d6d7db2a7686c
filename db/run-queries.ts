/**
 * Read side of runs and discrepancies for the API, the dashboard, the report
 * and the metrics: listings with keyset (cursor) pagination and cheap
 * aggregates. One query per function; nothing here writes.
 */
import type { Knex } from 'knex';
import type { CheckName, DiscrepancyKind, DiscrepancyStatus, RunStatus, RunTrigger } from '../core/index.js';
import type { DiscrepancyRow } from './discrepancies.js';

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
  counts: Partial<Record<CheckName, Partial<Record<DiscrepancyKind, number>>>>;
  options: Record<string, unknown>;
  error: string | null;
}

/** A `run_windows` row as the read side shows it. */
export interface RunWindowDetail {
  run_id: string;
  check_name: CheckName;
  window_start: Date;
  window_end: Date;
  status: string;
  counts: Partial<Record<DiscrepancyKind, number>>;
  rows_compared: number;
  segments_compared: number;
  duration_ms: number;
  finished_at: Date;
}

/** A page of a keyset-paginated listing; `nextCursor` is absent on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/**
 * Opaque cursor: the sort key of the last row of a page. The timestamp keeps
 * Postgres' microseconds (a JS Date would cut them to milliseconds and skip
 * rows stamped within the same millisecond).
 */
function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`, 'utf8').toString('base64url');
}

/** Decodes a cursor made by {@link encodeCursor}; `undefined` when it is not one. */
export function decodeCursor(cursor: string): { at: string; id: string } | undefined {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!at || !id || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(at) || !/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  return { at, id };
}

/** The full-precision UTC text of a timestamp column, for cursors. */
function cursorColumn(db: Knex, column: string) {
  return db.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at`);
}

type WithCursor<T> = T & { cursor_at?: string };

export interface ListRunsFilter {
  /** Most rows per page. Default 50. */
  limit?: number;
  cursor?: string;
  trigger?: RunTrigger;
  status?: RunStatus;
}

/** Runs, newest first. */
export async function listRuns(db: Knex, { limit = 50, cursor, trigger, status }: ListRunsFilter = {}): Promise<Page<RunRow>> {
  const q = db('runs').select('*', cursorColumn(db, 'started_at')).orderBy([{ column: 'started_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit + 1);
  if (trigger) q.where('trigger', trigger);
  if (status) q.where('status', status);
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

export interface StatusCount {
  check_name: CheckName;
  kind: DiscrepancyKind;
  status: DiscrepancyStatus;
  n: number;
}

/**
 * Current status of the discrepancies a run saw (first found or found again),
 * per check × kind × status: what its compensations have achieved so far.
 */
export async function runDiscrepancyStatusCounts(db: Knex, runId: string): Promise<StatusCount[]> {
  const { rows } = await db.raw<{ rows: StatusCount[] }>(
    `select check_name, kind, status, count(*)::int as n
       from discrepancies
      where first_run_id = ?::uuid or last_run_id = ?::uuid
      group by check_name, kind, status
      order by check_name, kind, status`,
    [runId, runId],
  );
  return rows;
}

/** Up to `perKind` discrepancies of each kind the run saw, newest first. */
export async function runDiscrepancyExamples(db: Knex, runId: string, perKind = 20): Promise<DiscrepancyRow[]> {
  const { rows } = await db.raw<{ rows: DiscrepancyRow[] }>(
    `select * from (
       select d.*, row_number() over (partition by d.kind order by d.detected_at desc, d.id) as rn
         from discrepancies d
        where d.first_run_id = ?::uuid or d.last_run_id = ?::uuid
     ) x where rn <= ? order by kind, rn`,
    [runId, runId, perKind],
  );
  return rows;
}

export interface ListDiscrepanciesFilter {
  runId?: string;
  kind?: DiscrepancyKind;
  status?: DiscrepancyStatus;
  check?: CheckName;
  /** Most rows per page. Default 100. */
  limit?: number;
  cursor?: string;
}

/** Discrepancies, newest first; `runId` matches the run that first found or last saw them. */
export async function listDiscrepancies(db: Knex, f: ListDiscrepanciesFilter = {}): Promise<Page<DiscrepancyRow>> {
  const limit = f.limit ?? 100;
  const q = db('discrepancies')
    .select('*', cursorColumn(db, 'detected_at'))
    .orderBy([{ column: 'detected_at', order: 'desc' }, { column: 'id', order: 'desc' }])
    .limit(limit + 1);
  if (f.runId) q.where((w) => w.where('first_run_id', f.runId!).orWhere('last_run_id', f.runId!));
  if (f.kind) q.where('kind', f.kind);
  if (f.status) q.where('status', f.status);
  if (f.check) q.where('check_name', f.check);
  const after = f.cursor ? decodeCursor(f.cursor) : undefined;
  if (after) q.whereRaw('(detected_at, id) < (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return page((await q) as WithCursor<DiscrepancyRow>[], limit);
}

/** Every discrepancy counted by kind and status (a small aggregate, fit for a metrics scrape). */
export async function discrepancyCountsByKindStatus(db: Knex): Promise<{ kind: DiscrepancyKind; status: DiscrepancyStatus; n: number }[]> {
  const { rows } = await db.raw<{ rows: { kind: DiscrepancyKind; status: DiscrepancyStatus; n: number }[] }>(
    'select kind, status, count(*)::int as n from discrepancies group by kind, status order by kind, status',
  );
  return rows;
}

/** Per check: its watermark and how far it is behind now, in seconds. */
export async function watermarkLags(db: Knex): Promise<{ check_name: CheckName; watermark: Date; lag_seconds: number }[]> {
  const { rows } = await db.raw<{ rows: { check_name: CheckName; watermark: Date; lag_seconds: number }[] }>(
    'select check_name, watermark, extract(epoch from (now() - watermark))::float8 as lag_seconds from watermarks order by check_name',
  );
  return rows;
}

/** The last `limit` runs, oldest first, for a chart of drift per run. */
export async function recentRuns(db: Knex, limit = 14): Promise<RunRow[]> {
  const rows = (await db<RunRow>('runs').select('*').orderBy([{ column: 'started_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit)) as RunRow[];
  return rows.reverse();
}

/** Finished runs after `after` (all of the last `limit` when absent), oldest first: feeds the run-duration histogram. */
export async function finishedRunsSince(db: Knex, after: Date | undefined, limit = 500): Promise<{ id: string; trigger: RunTrigger; status: RunStatus; finished_at: Date; duration_seconds: number }[]> {
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

export interface DeadLetterCount {
  consumer_group: string;
  topic: string;
  total: number;
  /** Not replayed yet. */
  pending: number;
}

/**
 * Dead letters of one source database per group and topic, or `undefined`
 * when that database has no `dead_letters` table (streaming path not migrated).
 */
export async function countDeadLetters(db: Knex): Promise<DeadLetterCount[] | undefined> {
  const { rows } = await db.raw<{ rows: { present: boolean }[] }>("select to_regclass('dead_letters') is not null as present");
  if (!rows[0]?.present) return undefined;
  const { rows: counted } = await db.raw<{ rows: DeadLetterCount[] }>(
    `select consumer_group, topic, count(*)::int as total, (count(*) filter (where replayed_at is null))::int as pending
       from dead_letters group by consumer_group, topic order by consumer_group, topic`,
  );
  return counted;
}

/** One more row than `limit` was fetched: its presence says whether a next page exists. */
function page<T extends { id: string }>(rows: WithCursor<T>[], limit: number): Page<T> {
  const items = rows.slice(0, limit).map(({ cursor_at: _, ...row }) => row as unknown as T);
  if (rows.length <= limit) return { items };
  return { items, nextCursor: encodeCursor(rows[limit - 1]!.cursor_at!, rows[limit - 1]!.id) };
}
