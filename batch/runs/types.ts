/**
 * The contract of a reconcile run, shared by the command line, the worker's
 * scheduled runs and the API.
 */
import type { CheckKindCounts, CheckName, Config, DiscrepancyKind, KindCounts, Logger, RunStatus, RunTrigger } from '../../core/index.js';
import type { Databases, RunHeld } from '../../db/index.js';
import type { TopicEvidence } from '../../reconcile/index.js';
import type { AlertSink } from '../alerts/index.js';
import type { WindowQueue } from './window-jobs.js';

export interface RunOptions {
  /** Checks to run. */
  checks: CheckName[];
  trigger: RunTrigger;
  /** Re-check a past range `[from, to)` and leave watermarks alone. Both or neither. */
  from?: Date;
  to?: Date;
  /** Record and queue nothing; report what would be found. Default false. */
  dryRun?: boolean;
  /** Use this id for the run record (the API returns it before the run starts). Default: a new UUID. */
  runId?: string;
  /** Called after each window has committed, with what it found; awaited when it returns a promise. */
  onProgress?: (event: RunProgressEvent) => void | Promise<void>;
  /** Stop between windows when aborted; the run is marked failed and re-runs the rest next time. */
  signal?: AbortSignal;
  /**
   * Queue every compensation even above the blast-radius guard's limits
   * (`recon run --approve-all`); kept in the audit trail as an approval by
   * `actor`. Default false.
   */
  approveAll?: boolean;
  /** Who started the run, for the audit trail (the OS user on the command line). */
  actor?: string;
}

export interface RunProgressEvent {
  check: CheckName;
  window: { start: Date; end: Date };
  /** Windows of this check done so far, and in all (when known). */
  windowsDone: number;
  windowsTotal: number | undefined;
  found: KindCounts;
  durationMs: number;
  /** Rows the window holds on both sides (covered by checksums, not transferred). */
  rowsCompared?: number;
  /** Rows fetched for row-by-row comparison (grows with the discrepancies). */
  rowsFetched?: number;
}

export interface RunSummary {
  runId: string;
  status: RunStatus;
  trigger: RunTrigger;
  checks: CheckName[];
  dryRun: boolean;
  windows: number;
  /** Discrepancies found (new or already known) per check and kind. */
  counts: CheckKindCounts;
  /**
   * Ids of the compensable discrepancies this run handed to the queue (new,
   * reopened, or left unqueued by an earlier run); report-only kinds and
   * held ones are not among them.
   */
  queued: string[];
  /** Per check whose compensations the blast-radius guard held: why, and how many per kind. Empty when none. */
  held?: RunHeld;
  startedAt: Date;
  finishedAt: Date;
  /** Why a run was skipped (another run holds the check) or failed. */
  reason?: string;
  /** Checks this run skipped because another run held them. */
  skipped?: CheckName[];
}

/** Hands new discrepancies to the compensation queue, after their window's transaction commits. */
export type EnqueueCompensations = (found: { id: string; kind: DiscrepancyKind; generation?: number }[]) => Promise<void>;

export interface RunDeps {
  config: Config;
  dbs: Databases;
  log: Logger;
  /**
   * Topic evidence for the outbox check. Absent: the run opens its own
   * reader on `KAFKA_BROKERS` (and closes it at the end); `null`: none, the
   * check judges by the outbox rows and inbox groups only.
   */
  topics?: TopicEvidence | null;
  /** Absent: discrepancies are recorded but no job is queued (the sweeper will queue them). */
  enqueue?: EnqueueCompensations;
  /**
   * Workers mode (`RECON_RUN_MODE=workers`, `recon run --mode workers`): the
   * run holds its checks' locks and plans their windows, and the window
   * queue's workers compare them, `windowsPerJob` consecutive windows per
   * job. Absent: the run compares every window itself. Dry runs always do.
   */
  windows?: { queue: WindowQueue; windowsPerJob: number };
  /** Where the run's alerts go (drift, held, failed, skipped too long); fire and forget. Absent: none. */
  alerts?: AlertSink;
}
