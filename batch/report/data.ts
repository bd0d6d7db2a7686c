/**
 * The discrepancy report of one run: what it found per check × kind and what
 * became of it (resolved, failed, pending), the windows it covered, how far
 * behind the watermarks and consumers are, dead letters, examples, and a
 * chart of drift over the last runs. Rendered as mail-safe HTML and as text.
 */
import { countTotal, describeError, isCompensable, ReconError, type CheckName, type Config, type DiscrepancyKind, type Logger } from '../../core/index.js';
import {
  countDeadLetters,
  getRunRow,
  getRunWindowDetails,
  heldCounts,
  listDecisions,
  recentRuns,
  runDiscrepancyExamples,
  runDiscrepancyStatusCounts,
  watermarkLags,
  type Databases,
  type DeadLetterCount,
  type DecisionRow,
  type DiscrepancyRow,
  type RunHeld,
  type RunRow,
} from '../../db/index.js';
import { fetchConsumerLag, type Admin, type ConsumerLag } from '../../streaming/index.js';
import type { DriftPoint } from './chart.js';
import { shortId } from './format.js';

/** Runs shown in the report's drift chart. */
export const REPORT_CHART_RUNS = 14;
/** Examples listed per kind. */
export const REPORT_EXAMPLES_PER_KIND = 20;

export interface ReportDeps {
  config: Config;
  dbs: Databases;
  log: Logger;
  /** For consumer lag; absent: the report says lag is unknown. */
  admin?: Admin;
}

export interface ReportLine {
  check: CheckName;
  kind: DiscrepancyKind;
  /** Found by this run (new or already known). */
  detected: number;
  resolved: number;
  failed: number;
  /** Detected or queued: not settled yet. Always 0 for report-only kinds. */
  pending: number;
  /** Held by the blast-radius guard, waiting for an operator's decision (set by `buildReportData`). */
  held?: number;
  /** Dismissed by an operator (closed without an effect). */
  dismissed?: number;
  /** Phantom and dead-lettered events are reported, never compensated: nothing is pending for them. */
  reportOnly: boolean;
}

export interface ReportData {
  run: RunRow;
  generatedAt: Date;
  lines: ReportLine[];
  /** Sum of `detected` over every line. */
  total: number;
  /** Windows covered, per check. */
  windows: { check: CheckName; count: number; from: Date; to: Date }[];
  watermarks: { check: CheckName; watermark: Date; lagSeconds: number }[];
  /** Per source database; `undefined` when the database has no dead-letter table. */
  deadLetters: { users: DeadLetterCount[] | undefined; points: DeadLetterCount[] | undefined };
  /** `undefined` when Kafka was not asked or did not answer (`consumerLagError` says why). */
  consumerLag: ConsumerLag[] | undefined;
  consumerLagError?: string;
  examples: Partial<Record<DiscrepancyKind, DiscrepancyRow[]>>;
  drift: DriftPoint[];
  /**
   * What the blast-radius guard held for this run: per check why (count or
   * ratio, the numbers, a one-line message), what is still held per kind, and
   * the decisions taken since (set by `buildReportData`).
   */
  held?: { byCheck: RunHeld; remaining: { check: string; kind: string; count: number }[]; total: number; decisions: DecisionRow[] };
  /** `RECON_PUBLIC_URL` without its trailing slash: links go to the console there; `undefined`: no links. */
  consoleUrl?: string | undefined;
}

/** Whether the policy asks for a report of this run. `drift`: only when it found something or failed. */

export async function buildReportData(deps: ReportDeps, runId: string): Promise<ReportData> {
  const { dbs } = deps;
  const run = await getRunRow(dbs.recon, runId);
  if (!run) throw new ReconError('NOT_FOUND', `no run ${runId}`);
  const [statusCounts, windows, lags, examples, recent, usersDl, pointsDl, heldNow, decisions] = await Promise.all([
    runDiscrepancyStatusCounts(dbs.recon, runId),
    getRunWindowDetails(dbs.recon, runId),
    watermarkLags(dbs.recon),
    runDiscrepancyExamples(dbs.recon, runId, REPORT_EXAMPLES_PER_KIND),
    recentRuns(dbs.recon, REPORT_CHART_RUNS),
    countDeadLetters(dbs.users),
    countDeadLetters(dbs.points),
    heldCounts(dbs.recon, runId),
    listDecisions(dbs.recon, runId),
  ]);

  const lines = new Map<string, ReportLine>();
  const line = (check: CheckName, kind: DiscrepancyKind) => {
    const key = `${check}\0${kind}`;
    let l = lines.get(key);
    if (!l) lines.set(key, (l = { check, kind, detected: 0, resolved: 0, failed: 0, pending: 0, reportOnly: !isCompensable(kind) }));
    return l;
  };
  for (const [check, kinds] of Object.entries(run.counts ?? {})) {
    for (const [kind, n] of Object.entries(kinds ?? {})) line(check as CheckName, kind as DiscrepancyKind).detected += Number(n) || 0;
  }
  for (const c of statusCounts) {
    const l = line(c.check_name, c.kind);
    if (c.status === 'resolved') l.resolved += c.n;
    else if (c.status === 'failed') l.failed += c.n;
    else if (c.status === 'held') l.held = (l.held ?? 0) + c.n;
    else if (c.status === 'dismissed') l.dismissed = (l.dismissed ?? 0) + c.n;
    else if (!l.reportOnly) l.pending += c.n;
  }

  const byCheck = new Map<CheckName, { check: CheckName; count: number; from: Date; to: Date }>();
  for (const w of windows) {
    const e = byCheck.get(w.check_name);
    if (!e) byCheck.set(w.check_name, { check: w.check_name, count: 1, from: w.window_start, to: w.window_end });
    else {
      e.count++;
      if (w.window_start < e.from) e.from = w.window_start;
      if (w.window_end > e.to) e.to = w.window_end;
    }
  }

  let consumerLag: ConsumerLag[] | undefined;
  let consumerLagError: string | undefined;
  if (deps.admin) {
    try {
      consumerLag = await fetchConsumerLag(deps.admin, deps.config);
    } catch (err) {
      consumerLagError = describeError(err).message;
      deps.log.warn({ err: consumerLagError }, 'report: consumer lag unavailable');
    }
  } else consumerLagError = 'Kafka not consulted';

  const grouped: Partial<Record<DiscrepancyKind, DiscrepancyRow[]>> = {};
  for (const d of examples) (grouped[d.kind] ??= []).push(d);

  const sorted = [...lines.values()].sort((a, b) => a.check.localeCompare(b.check) || a.kind.localeCompare(b.kind));
  return {
    run,
    generatedAt: new Date(),
    lines: sorted,
    total: sorted.reduce((n, l) => n + l.detected, 0),
    windows: [...byCheck.values()],
    watermarks: lags.map((w) => ({ check: w.check_name, watermark: w.watermark, lagSeconds: w.lag_seconds })),
    deadLetters: { users: usersDl, points: pointsDl },
    consumerLag,
    ...(consumerLagError !== undefined ? { consumerLagError } : {}),
    examples: grouped,
    drift: recent.map((r) => ({ runId: r.id, startedAt: r.started_at, total: countTotal(r.counts), status: r.status })),
    held: { byCheck: run.held ?? {}, remaining: heldNow, total: heldNow.reduce((n, h) => n + h.count, 0), decisions },
    consoleUrl: deps.config.api.publicUrl?.replace(/\/+$/, ''),
  };
}

export function reportSubject(data: ReportData): string {
  const { run, total } = data;
  const held = data.held?.total ?? 0;
  const checks = run.checks.join(', ');
  const id = shortId(run.id);
  if (run.status === 'failed') return `recon: run ${id} failed after ${total} discrepancies (${checks})`;
  if (run.status === 'skipped') return `recon: run ${id} skipped (${checks})`;
  if (total === 0) return `recon: no discrepancies in run ${id} (${checks})`;
  if (held > 0) return `recon: ${held} compensations held for approval, ${total} ${total === 1 ? 'discrepancy' : 'discrepancies'} in run ${id} (${checks})`;
  return `recon: ${total} ${total === 1 ? 'discrepancy' : 'discrepancies'} in run ${id}${run.dry_run ? ' (dry run)' : ''} (${checks})`;
}
