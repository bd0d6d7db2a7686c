/**
 * Recon-DB side of the compensating jobs: claiming discrepancies for a job,
 * finding what the sweeper must queue again, and recording outcomes.
 */
import type { Knex } from 'knex';
import type { DiscrepancyKind, DiscrepancyStatus } from '../../core/index.js';
import type { DiscrepancyRow } from './discrepancies.js';

/** A request to put one discrepancy in job `jobId`, if it is still in the state the caller saw. */
export interface DiscrepancyClaim {
  id: string;
  jobId: string;
  /** `detected`: any job id; `queued`: only while its job id is still `expectJobId` (the sweeper's re-queue). */
  expectStatus: 'detected' | 'queued';
  expectJobId?: string | null;
}

export interface ClaimedDiscrepancy {
  id: string;
  kind: DiscrepancyKind;
  generation: number;
  job_id: string;
}

/**
 * Move discrepancies to `queued` under their job id, each only if it is still
 * as the caller saw it: two enqueuers (a run and the sweeper, two sweepers)
 * can never both queue the same discrepancy. Returns the ones claimed.
 */
export async function claimDiscrepancies(db: Knex | Knex.Transaction, claims: readonly DiscrepancyClaim[]): Promise<ClaimedDiscrepancy[]> {
  if (claims.length === 0) return [];
  const out: ClaimedDiscrepancy[] = [];
  for (let i = 0; i < claims.length; i += 5000) {
    const chunk = claims.slice(i, i + 5000);
    const { rows } = await db.raw<{ rows: ClaimedDiscrepancy[] }>(
      `update discrepancies d
         set status = 'queued', queued_at = now(), updated_at = now(), job_id = x.job_id
       from unnest(?::uuid[], ?::text[], ?::text[], ?::text[]) as x(id, job_id, expect_status, expect_job_id)
       where d.id = x.id and d.status = x.expect_status
         and (x.expect_status = 'detected' or d.job_id is not distinct from x.expect_job_id)
       returning d.id, d.kind, d.generation, d.job_id`,
      [
        chunk.map((c) => c.id),
        chunk.map((c) => c.jobId),
        chunk.map((c) => c.expectStatus),
        chunk.map((c) => c.expectJobId ?? null),
      ] as unknown as readonly Knex.Value[],
    );
    out.push(...rows);
  }
  return out;
}

/** Give claims back (the job could not be added): `queued` under `jobId` → `detected`. */
export async function releaseClaims(db: Knex | Knex.Transaction, ids: readonly string[], jobId: string): Promise<number> {
  if (ids.length === 0) return 0;
  return db('discrepancies')
    .whereRaw('id = any(?::uuid[])', [Array.from(ids)])
    .where({ status: 'queued', job_id: jobId })
    .update({ status: 'detected', updated_at: db.fn.now() });
}

export interface SweepCandidate {
  id: string;
  kind: DiscrepancyKind;
  generation: number;
  status: 'detected' | 'queued';
  job_id: string | null;
}

/**
 * Discrepancies of `kinds` that may have no job: every `detected` one the
 * blast-radius guard let through (its run completed, or an operator approved
 * it), and the
 * `queued` ones queued more than `staleSeconds` ago (oldest first, at most `limit`).
 */
export async function sweepCandidates(
  db: Knex | Knex.Transaction,
  { kinds, staleSeconds, limit }: { kinds: readonly DiscrepancyKind[]; staleSeconds: number; limit: number },
): Promise<SweepCandidate[]> {
  const { rows } = await db.raw<{ rows: SweepCandidate[] }>(
    `(select id, kind, generation, status, job_id from discrepancies d
      where status = 'detected' and kind = any(?::text[])
        -- The guard of the run that recorded it has not judged it yet (the run is going on, or ended first):
        -- the next run of its check does. Approved ones are always swept.
        and (decision_id is not null or not exists (select 1 from runs r where r.id = d.last_run_id and r.status <> 'completed'))
      order by updated_at limit ?)
     union all
     (select id, kind, generation, status, job_id from discrepancies
      where status = 'queued' and kind = any(?::text[]) and queued_at <= now() - make_interval(secs => ?)
      order by updated_at limit ?)`,
    [Array.from(kinds), limit, Array.from(kinds), staleSeconds, limit],
  );
  return rows;
}

/** The discrepancies among `ids` that are still open (`detected` or `queued`; a `held` one waits for a decision, not for a job). */
export async function openDiscrepancies(db: Knex | Knex.Transaction, ids: readonly string[]): Promise<DiscrepancyRow[]> {
  if (ids.length === 0) return [];
  // `status not in (settled)` rather than `in (open)`: the latter matches the
  // partial index of open discrepancies, which the planner may then AND with
  // the primary key, reading every open entry of the table for each batch.
  return db('discrepancies').whereRaw(`id = any(?::uuid[]) and status not in ('resolved', 'failed', 'held', 'dismissed')`, [Array.from(ids)]);
}

/** Count one more compensation attempt, with its error when it did not resolve. */
export async function recordCompensationAttempts(db: Knex | Knex.Transaction, ids: readonly string[], error: string | null): Promise<number> {
  if (ids.length === 0) return 0;
  return db('discrepancies')
    .whereRaw('id = any(?::uuid[])', [Array.from(ids)])
    .update({ attempts: db.raw('attempts + 1'), updated_at: db.fn.now(), ...(error !== null ? { last_error: error } : {}) });
}

/** Mark open discrepancies `resolved` (counting the attempt that resolved them). Returns how many changed. */
export async function resolveOpenDiscrepancies(db: Knex | Knex.Transaction, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  return db('discrepancies')
    .whereRaw(`id = any(?::uuid[]) and status not in ('resolved', 'failed', 'held', 'dismissed')`, [Array.from(ids)])
    .update({ status: 'resolved', resolved_at: db.fn.now(), updated_at: db.fn.now(), attempts: db.raw('attempts + 1') });
}

/** Mark open discrepancies `failed`, each with its own reason (counting the attempt). */
export async function failOpenDiscrepancies(db: Knex | Knex.Transaction, failures: readonly { id: string; error: string }[]): Promise<number> {
  if (failures.length === 0) return 0;
  const { rowCount } = await db.raw<{ rowCount: number }>(
    `update discrepancies d set status = 'failed', failed_at = now(), updated_at = now(), last_error = x.error, attempts = d.attempts + 1
     from unnest(?::uuid[], ?::text[]) as x(id, error)
     where d.id = x.id and d.status not in ('resolved', 'failed', 'held', 'dismissed')`,
    [failures.map((f) => f.id), failures.map((f) => f.error)] as unknown as readonly Knex.Value[],
  );
  return rowCount;
}

/** How many of `ids` are in each status. */
export async function discrepancyStatusCounts(db: Knex | Knex.Transaction, ids: readonly string[]): Promise<Record<DiscrepancyStatus, number>> {
  const counts: Record<DiscrepancyStatus, number> = { detected: 0, queued: 0, resolved: 0, failed: 0, held: 0, dismissed: 0 };
  if (ids.length === 0) return counts;
  const { rows } = await db.raw<{ rows: { status: DiscrepancyStatus; n: number }[] }>(
    'select status, count(*)::int as n from discrepancies where id = any(?::uuid[]) group by status',
    [Array.from(ids)],
  );
  for (const r of rows) counts[r.status] = r.n;
  return counts;
}

/** Status of each of `ids` that exists and is of one of `kinds`. */
export async function discrepancyStatusesOf(
  db: Knex | Knex.Transaction,
  ids: readonly string[],
  kinds: readonly DiscrepancyKind[],
): Promise<Map<string, DiscrepancyStatus>> {
  const out = new Map<string, DiscrepancyStatus>();
  if (ids.length === 0) return out;
  const { rows } = await db.raw<{ rows: { id: string; status: DiscrepancyStatus }[] }>(
    'select id, status from discrepancies where id = any(?::uuid[]) and kind = any(?::text[])',
    [Array.from(ids), Array.from(kinds)],
  );
  for (const r of rows) out.set(r.id, r.status);
  return out;
}
