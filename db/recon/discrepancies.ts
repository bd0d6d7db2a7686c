import type { Knex } from 'knex';
import { cursorColumn, decodeCursor, page, type Page, type WithCursor } from './pages.js';
import type { CheckName, DiscrepancyKind, DiscrepancyStatus, KindCounts } from '../../core/index.js';

/** A discrepancy as a check reports it (before it is stored). */
export interface DiscrepancyInput {
  /** `discrepancyId(check, kind, entity)`: deterministic. */
  id: string;
  check_name: CheckName;
  kind: DiscrepancyKind;
  /** `user` or `event` (or `dead_letter`). */
  entity_type: string;
  /** The user id, `<group>:<event id>`, ...: what `id` was derived from. */
  entity_id: string;
  window_start: Date;
  window_end: Date;
  /** Everything a compensation or a report needs (user id, amounts, event id, source database, group...). */
  details: Record<string, unknown>;
}

export interface DiscrepancyRow extends DiscrepancyInput {
  status: DiscrepancyStatus;
  first_run_id: string | null;
  last_run_id: string | null;
  detected_at: Date;
  queued_at: Date | null;
  resolved_at: Date | null;
  failed_at: Date | null;
  attempts: number;
  last_error: string | null;
  updated_at: Date;
  /** How often this discrepancy was reopened after a resolution; part of its job id. */
  generation: number;
  /** Set when something other than its own compensation resolved it (`superseded by ...`); cleared when it is reopened. */
  resolution: string | null;
}

/** An earlier discrepancy a new finding replaces, and the note it is closed with. */
export interface Supersession {
  /** The discrepancy replaced. */
  id: string;
  /** The discrepancy that replaces it. */
  by: string;
  resolution: string;
}

/**
 * Record what a window found, in the caller's transaction (the same one that
 * advances the watermark). A discrepancy seen before keeps its row: it is not
 * new, and a detected, queued, held or dismissed one keeps its status (a
 * held or dismissed one waits for, or had, an operator's decision: finding it
 * again does not queue it). A resolved or failed one
 * that shows up again is reopened (`detected`, generation + 1): its fix did not
 * hold, or failed while something it needed was down (a broker outage outlasts
 * a job's attempts), and the invariant is still broken.
 * Returns the rows that are new or reopened, or were left `detected` by a
 * run that ended before its guard judged them: the ones to compensate.
 */
export async function recordDiscrepancies(
  trx: Knex | Knex.Transaction,
  runId: string,
  found: readonly DiscrepancyInput[],
): Promise<{ id: string; kind: DiscrepancyKind; generation: number; inserted: boolean }[]> {
  if (found.length === 0) return [];
  const out: { id: string; kind: DiscrepancyKind; generation: number; inserted: boolean }[] = [];
  // Chunks keep each statement well under Postgres' 65,535 bind parameters.
  for (let i = 0; i < found.length; i += 2000) {
    const chunk = found.slice(i, i + 2000);
    const { rows } = await trx.raw<{
      rows: { id: string; kind: DiscrepancyKind; generation: number; inserted: boolean; old_status: string | null; unjudged: boolean }[];
    }>(
      `with input as (
         select * from jsonb_to_recordset(?::jsonb) as x(id uuid, check_name text, kind text, entity_type text, entity_id text,
                                                          window_start timestamptz, window_end timestamptz, details jsonb)
       ), previous as (
         select d.id, d.status,
                -- Left detected by a run that ended (died, failed) before its guard judged it: still to be judged.
                (d.status = 'detected' and d.decision_id is null
                 and exists (select 1 from runs r where r.id = d.last_run_id and r.status not in ('running', 'completed'))) as unjudged
           from discrepancies d where d.id in (select id from input)
       )
       insert into discrepancies as d (id, check_name, kind, entity_type, entity_id, window_start, window_end, details, first_run_id, last_run_id)
       select id, check_name, kind, entity_type, entity_id, window_start, window_end, details, ?::uuid, ?::uuid from input
       on conflict (id) do update set
         last_run_id = excluded.last_run_id,
         details = excluded.details,
         status = case when d.status in ('resolved', 'failed') then 'detected' else d.status end,
         generation = case when d.status in ('resolved', 'failed') then d.generation + 1 else d.generation end,
         resolution = case when d.status in ('resolved', 'failed') then null else d.resolution end,
         -- Reopened, it is judged afresh: an approval (or a hold) of an earlier generation does not carry over.
         decision_id = case when d.status in ('resolved', 'failed') then null else d.decision_id end,
         held_run_id = case when d.status in ('resolved', 'failed') then null else d.held_run_id end,
         updated_at = case when d.status in ('resolved', 'failed') then now() else d.updated_at end
       returning d.id, d.kind, d.generation, (xmax = 0) as inserted, (select p.status from previous p where p.id = d.id) as old_status,
                 coalesce((select p.unjudged from previous p where p.id = d.id), false) as unjudged`,
      [JSON.stringify(chunk), runId, runId],
    );
    for (const r of rows)
      if (r.inserted || r.old_status === 'resolved' || r.old_status === 'failed' || r.unjudged)
        out.push({ id: r.id, kind: r.kind, generation: r.generation, inserted: r.inserted });
  }
  return out;
}

/**
 * Close discrepancies a finding of this window replaces (in the window's
 * transaction): pending (`detected`, `queued`, `held`) or `failed` ones become
 * `resolved` with their `resolution` note. A job holding one finds it settled
 * and leaves it alone; `recon retry` no longer selects it; a later run that
 * finds it again reopens it as usual. Returns the ids closed.
 */
export async function supersedeDiscrepancies(trx: Knex | Knex.Transaction, supersessions: readonly Supersession[]): Promise<string[]> {
  if (supersessions.length === 0) return [];
  const { rows } = await trx.raw<{ rows: { id: string }[] }>(
    `update discrepancies d
        set status = 'resolved', resolved_at = now(), updated_at = now(), resolution = x.resolution
       from unnest(?::uuid[], ?::text[]) as x(id, resolution)
      where d.id = x.id and d.status in ('detected', 'queued', 'failed', 'held')
      returning d.id`,
    [supersessions.map((s) => s.id), supersessions.map((s) => s.resolution)] as unknown as readonly Knex.Value[],
  );
  return rows.map((r) => r.id);
}

/** Move discrepancies to `status`, stamping the matching time column. */
export async function setDiscrepancyStatus(
  db: Knex | Knex.Transaction,
  ids: readonly string[],
  status: DiscrepancyStatus,
  { error }: { error?: string } = {},
): Promise<number> {
  if (ids.length === 0) return 0;
  const stamp = { detected: null, queued: 'queued_at', resolved: 'resolved_at', failed: 'failed_at', held: null, dismissed: null }[status];
  return db('discrepancies')
    .whereRaw('id = any(?::uuid[])', [Array.from(ids)])
    .update({
      status,
      updated_at: db.fn.now(),
      ...(stamp ? { [stamp]: db.fn.now() } : {}),
      ...(error !== undefined ? { last_error: error } : {}),
    });
}

export async function getDiscrepancies(db: Knex | Knex.Transaction, ids: readonly string[]): Promise<DiscrepancyRow[]> {
  if (ids.length === 0) return [];
  return db('discrepancies').whereRaw('id = any(?::uuid[])', [Array.from(ids)]);
}

/** Which `failed` discrepancies an operator asks to try again (all filters optional, combined with "and"). */
export interface FailedSelection {
  /** Only these kinds; default: every compensable kind. */
  kinds: readonly DiscrepancyKind[];
  check?: string;
  ids?: readonly string[];
  /** Only those that failed at or after this instant. */
  failedSince?: Date;
  /** At most this many, oldest failure first. */
  limit: number;
}

function failedQuery(db: Knex | Knex.Transaction, s: FailedSelection) {
  const q = db('discrepancies')
    .where('status', 'failed')
    .whereRaw('kind = any(?::text[])', [Array.from(s.kinds)]);
  if (s.check) q.where('check_name', s.check);
  if (s.ids) q.whereRaw('id = any(?::uuid[])', [Array.from(s.ids)]);
  if (s.failedSince) q.where('failed_at', '>=', s.failedSince);
  return q;
}

/** How many `failed` discrepancies `s` selects, per kind (what a dry run of `recon retry` prints). */
export async function countFailed(db: Knex | Knex.Transaction, s: FailedSelection): Promise<KindCounts> {
  const sub = failedQuery(db, s).select('kind').orderBy('failed_at').limit(s.limit);
  const rows: { kind: DiscrepancyKind; n: number }[] = await db
    .from(sub.as('f'))
    .select('kind')
    .count<{ kind: DiscrepancyKind; n: number }[]>({ n: '*' })
    .groupBy('kind');
  return Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]));
}

/**
 * Reopen `failed` discrepancies for another try: `detected`, generation + 1
 * (so their jobs get new ids), attempts from zero; `last_error` is kept until
 * the next outcome replaces it. Rows another transaction holds are skipped.
 * Returns the reopened rows, ready for `enqueueCompensations`.
 */
export async function reopenFailedDiscrepancies(
  db: Knex | Knex.Transaction,
  s: FailedSelection,
): Promise<{ id: string; kind: DiscrepancyKind; generation: number }[]> {
  const picked = failedQuery(db, s).select('id').orderBy('failed_at').limit(s.limit).forUpdate().skipLocked();
  return db('discrepancies')
    .whereIn('id', picked)
    .where('status', 'failed')
    .update({ status: 'detected', generation: db.raw('generation + 1'), attempts: 0, failed_at: null, job_id: null, updated_at: db.fn.now() })
    .returning(['id', 'kind', 'generation']);
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
  /** A user id or an event id: the discrepancies about it (its entity, or its details' `userId` / `eventId`). */
  search?: string;
  /** Most rows per page. Default 100. */
  limit?: number;
  cursor?: string;
}

/** Discrepancies, newest first; `runId` matches the run that first found or last saw them. */
export async function listDiscrepancies(db: Knex, f: ListDiscrepanciesFilter = {}): Promise<Page<DiscrepancyRow>> {
  const limit = f.limit ?? 100;
  const q = db('discrepancies')
    .select('*', cursorColumn(db, 'detected_at'))
    .orderBy([
      { column: 'detected_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit + 1);
  if (f.runId) q.where((w) => w.where('first_run_id', f.runId!).orWhere('last_run_id', f.runId!));
  if (f.kind) q.where('kind', f.kind);
  if (f.status) q.where('status', f.status);
  if (f.check) q.where('check_name', f.check);
  if (f.search) {
    const s = f.search.toLowerCase();
    q.where((w) =>
      w.where('entity_id', s).orWhereRaw("details->>'userId' = ?", [s]).orWhereRaw("details->>'eventId' = ?", [s]).orWhereRaw("entity_id like '%:' || ?", [s]),
    );
  }
  const after = f.cursor ? decodeCursor(f.cursor) : undefined;
  if (after) q.whereRaw('(detected_at, id) < (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return page((await q) as WithCursor<DiscrepancyRow>[], limit);
}

/** One discrepancy with the BullMQ job that carries it (when queued), or `undefined`. */
export async function getDiscrepancy(db: Knex, id: string): Promise<(DiscrepancyRow & { job_id: string | null }) | undefined> {
  return (await db('discrepancies').where({ id }).first()) as (DiscrepancyRow & { job_id: string | null }) | undefined;
}

/** Every discrepancy counted by kind and status (a small aggregate, fit for a metrics scrape). */
export async function discrepancyCountsByKindStatus(db: Knex): Promise<{ kind: DiscrepancyKind; status: DiscrepancyStatus; n: number }[]> {
  const { rows } = await db.raw<{ rows: { kind: DiscrepancyKind; status: DiscrepancyStatus; n: number }[] }>(
    'select kind, status, count(*)::int as n from discrepancies group by kind, status order by kind, status',
  );
  return rows;
}
