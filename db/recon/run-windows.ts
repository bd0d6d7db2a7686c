/**
 * The windows of distributed runs: planned up front as `pending` rows, taken
 * by window jobs on any `recon worker`, completed in the transaction that
 * records their discrepancies.
 */
import type { Knex } from 'knex';
import type { CheckName, KindCounts } from '../../core/index.js';

/** A window a run plans; `advance`: on the forward walk (its completion may move the watermark). */
export interface PlannedRunWindow {
  start: Date;
  end: Date;
  advance: boolean;
}

/** Record a check's planned windows as `pending` (idempotent: a window already recorded keeps its row). */
export async function insertPendingRunWindows(
  db: Knex | Knex.Transaction,
  runId: string,
  check: CheckName,
  windows: readonly PlannedRunWindow[],
): Promise<void> {
  for (let i = 0; i < windows.length; i += 1000) {
    const rows = windows.slice(i, i + 1000).map((w) => ({
      run_id: runId,
      check_name: check,
      window_start: w.start,
      window_end: w.end,
      advance: w.advance,
      status: 'pending',
    }));
    await db('run_windows').insert(rows).onConflict(['run_id', 'check_name', 'window_start']).ignore();
  }
}

/**
 * Windows of `planned` that an earlier distributed run of `check` completed
 * on its forward walk, not held, and that ended before its run did (its
 * coordinator died or was stopped): copied into `runId` as completed, so a
 * new run does not compare them again. Call it while holding the check's
 * lock, after the runs left over were marked failed, before planning the
 * rest. Returns the copied windows' counts.
 */
export async function carryOverCompletedWindows(
  db: Knex | Knex.Transaction,
  runId: string,
  check: CheckName,
  planned: readonly PlannedRunWindow[],
): Promise<{ window_start: Date; counts: KindCounts }[]> {
  const forward = planned.filter((w) => w.advance);
  if (forward.length === 0) return [];
  const { rows } = await db.raw<{ rows: { window_start: Date; counts: KindCounts }[] }>(
    `insert into run_windows (run_id, check_name, window_start, window_end, status, counts, rows_compared, segments_compared,
                              duration_ms, worker_host, worker_pid, attempts, advance, held, started_at, recorded, finished_at)
     select distinct on (p.window_start) ?::uuid, p.check_name, p.window_start, p.window_end, 'completed', p.counts, p.rows_compared,
            p.segments_compared, p.duration_ms, p.worker_host, p.worker_pid, p.attempts, true, false, p.started_at, p.recorded, p.finished_at
       from unnest(?::timestamptz[], ?::timestamptz[]) as w(s, e)
       join run_windows p on p.check_name = ? and p.window_start = w.s and p.window_end = w.e
       join runs r on r.id = p.run_id
      where p.advance and p.status = 'completed' and not p.held and r.status = 'failed' and r.id <> ?::uuid
      order by p.window_start, p.finished_at desc
     on conflict (run_id, check_name, window_start) do nothing
     returning window_start, counts`,
    [runId, forward.map((w) => w.start), forward.map((w) => w.end), check, runId],
  );
  return rows;
}

/**
 * A worker starts a pending window: who it is, when, and one more attempt
 * when an earlier one had started. Returns false when the window is no longer
 * pending (completed by an earlier attempt, or unknown) or its run ended:
 * nothing to compare.
 */
export async function startRunWindow(
  db: Knex | Knex.Transaction,
  w: { runId: string; check: CheckName; start: Date; host: string; pid: number },
): Promise<boolean> {
  const n = await db('run_windows')
    .where({ run_id: w.runId, check_name: w.check, window_start: w.start, status: 'pending' })
    // A run that ended (failed, aborted) leaves its pending windows to the next run.
    .whereExists((q) => q.select(db.raw('1')).from('runs').where('runs.id', w.runId).andWhere('runs.status', 'running'))
    .update({
      attempts: db.raw('case when started_at is null then attempts else attempts + 1 end'),
      started_at: db.fn.now(),
      worker_host: w.host,
      worker_pid: w.pid,
    });
  return n > 0;
}

/** Lock a run's window row in the commit's transaction; its status, or undefined when the run has no such window. */
export async function lockRunWindow(trx: Knex.Transaction, runId: string, check: CheckName, start: Date): Promise<string | undefined> {
  const row = (await trx('run_windows').where({ run_id: runId, check_name: check, window_start: start }).forUpdate().first('status')) as
    { status: string } | undefined;
  return row?.status;
}

/** Mark a pending window completed, with what it compared and who compared it (in the window's transaction). */
export async function completeRunWindow(
  trx: Knex.Transaction,
  w: {
    runId: string;
    check: CheckName;
    start: Date;
    counts: KindCounts;
    rowsCompared: number;
    segmentsCompared: number;
    durationMs: number;
    held: boolean;
    host: string;
    pid: number;
    /** Compensable discrepancies it recorded (new or reopened). */
    recorded: readonly string[];
  },
): Promise<void> {
  await trx('run_windows')
    .where({ run_id: w.runId, check_name: w.check, window_start: w.start })
    .update({
      status: 'completed',
      counts: JSON.stringify(w.counts),
      rows_compared: w.rowsCompared,
      segments_compared: w.segmentsCompared,
      duration_ms: w.durationMs,
      held: w.held,
      worker_host: w.host,
      worker_pid: w.pid,
      recorded: trx.raw('?::uuid[]', [Array.from(w.recorded)]),
      finished_at: trx.fn.now(),
    });
}

/** A forward window of a run at or after the check's watermark, as the prefix computation needs it. */
export interface ForwardRunWindow {
  window_start: Date;
  window_end: Date;
  status: string;
  held: boolean;
}

/**
 * The run's forward windows of `check` that end after its watermark (all of
 * them when it has none), in order. One primary-key range scan.
 */
export async function forwardWindowsFromWatermark(trx: Knex | Knex.Transaction, runId: string, check: CheckName): Promise<ForwardRunWindow[]> {
  const { rows } = await trx.raw<{ rows: ForwardRunWindow[] }>(
    `select window_start, window_end, status, held from run_windows
      where run_id = ?::uuid and check_name = ? and advance
        and window_end > coalesce((select watermark from watermarks where check_name = ?), '-infinity'::timestamptz)
      order by window_start`,
    [runId, check, check],
  );
  return rows;
}

/** A run's windows of `check` with their status and results (the coordinator's view while workers compare them). */
export interface RunWindowState {
  window_start: Date;
  window_end: Date;
  status: string;
  counts: KindCounts;
  rows_compared: number;
  duration_ms: number;
}

export async function runWindowStates(db: Knex, runId: string, check: CheckName): Promise<RunWindowState[]> {
  return (await db('run_windows')
    .where({ run_id: runId, check_name: check })
    .orderBy('window_start')
    .select('window_start', 'window_end', 'status', 'counts', 'rows_compared', 'duration_ms')) as RunWindowState[];
}

/** The compensable discrepancies a run's windows of `check` recorded (distributed runs): what its guard judges. */
export async function runRecordedIds(db: Knex, runId: string, check: CheckName): Promise<string[]> {
  const { rows } = await db.raw<{ rows: { id: string }[] }>(
    'select distinct unnest(recorded)::text as id from run_windows where run_id = ?::uuid and check_name = ?',
    [runId, check],
  );
  return rows.map((r) => r.id);
}
