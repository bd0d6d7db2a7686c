/**
 * The discrepancy report of one run: what it found per check × kind and what
 * became of it (resolved, failed, pending), the windows it covered, how far
 * behind the watermarks and consumers are, dead letters, examples, and a
 * chart of drift over the last runs. Rendered as mail-safe HTML and as text.
 */
import {
  COMPENSABLE_KINDS,
  ReconError,
  describeError,
  type CheckName,
  type Config,
  type DiscrepancyKind,
  type Logger,
} from '../core/index.js';
import {
  countDeadLetters,
  getRunRow,
  getRunWindowDetails,
  recentRuns,
  runDiscrepancyExamples,
  runDiscrepancyStatusCounts,
  watermarkLags,
  type Databases,
  type DeadLetterCount,
  type DiscrepancyRow,
  type RunRow,
} from '../db/index.js';
import type { Admin } from '../streaming/index.js';
import { fetchConsumerLag, type ConsumerLag } from './consumer-lag.js';
import { escapeHtml, formatInstant, formatSeconds, shortId } from './html.js';
import { mailChart, type DriftPoint } from './report-chart.js';

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
}

export interface RenderedReport {
  runId: string;
  subject: string;
  html: string;
  text: string;
  data: ReportData;
}

/** Sum of a run's `counts` jsonb: its drift. */
export function runTotal(run: Pick<RunRow, 'counts'>): number {
  let n = 0;
  for (const kinds of Object.values(run.counts ?? {})) for (const v of Object.values(kinds ?? {})) n += Number(v) || 0;
  return n;
}

/** Whether the policy asks for a report of this run. `drift`: only when it found something or failed. */
export function shouldReport(policy: Config['report']['policy'], run: Pick<RunRow, 'counts' | 'status'>): boolean {
  if (policy === 'always') return true;
  if (policy === 'never') return false;
  return run.status === 'failed' || runTotal(run) > 0;
}

export async function buildReportData(deps: ReportDeps, runId: string): Promise<ReportData> {
  const { dbs } = deps;
  const run = await getRunRow(dbs.recon, runId);
  if (!run) throw new ReconError('NOT_FOUND', `no run ${runId}`);
  const [statusCounts, windows, lags, examples, recent, usersDl, pointsDl] = await Promise.all([
    runDiscrepancyStatusCounts(dbs.recon, runId),
    getRunWindowDetails(dbs.recon, runId),
    watermarkLags(dbs.recon),
    runDiscrepancyExamples(dbs.recon, runId, REPORT_EXAMPLES_PER_KIND),
    recentRuns(dbs.recon, REPORT_CHART_RUNS),
    countDeadLetters(dbs.users),
    countDeadLetters(dbs.points),
  ]);

  const lines = new Map<string, ReportLine>();
  const line = (check: CheckName, kind: DiscrepancyKind) => {
    const key = `${check}\0${kind}`;
    let l = lines.get(key);
    if (!l) lines.set(key, (l = { check, kind, detected: 0, resolved: 0, failed: 0, pending: 0, reportOnly: !COMPENSABLE_KINDS.has(kind) }));
    return l;
  };
  for (const [check, kinds] of Object.entries(run.counts ?? {})) {
    for (const [kind, n] of Object.entries(kinds ?? {})) line(check as CheckName, kind as DiscrepancyKind).detected += Number(n) || 0;
  }
  for (const c of statusCounts) {
    const l = line(c.check_name, c.kind);
    if (c.status === 'resolved') l.resolved += c.n;
    else if (c.status === 'failed') l.failed += c.n;
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
    drift: recent.map((r) => ({ runId: r.id, startedAt: r.started_at, total: runTotal(r), status: r.status })),
  };
}

export function reportSubject(data: ReportData): string {
  const { run, total } = data;
  const checks = run.checks.join(', ');
  const id = shortId(run.id);
  if (run.status === 'failed') return `recon: run ${id} failed after ${total} discrepancies (${checks})`;
  if (run.status === 'skipped') return `recon: run ${id} skipped (${checks})`;
  if (total === 0) return `recon: no discrepancies in run ${id} (${checks})`;
  return `recon: ${total} ${total === 1 ? 'discrepancy' : 'discrepancies'} in run ${id}${run.dry_run ? ' (dry run)' : ''} (${checks})`;
}

const TH = 'style="text-align:left;padding:4px 8px;border-bottom:1px solid #ccc;font:bold 12px sans-serif;"';
const TD = 'style="padding:3px 8px;border-bottom:1px solid #eee;font:12px sans-serif;"';
const TDN = 'style="padding:3px 8px;border-bottom:1px solid #eee;font:12px monospace;text-align:right;"';

function table(headers: string[], rows: string[][], numeric: ReadonlySet<number> = new Set(), attrs = ''): string {
  if (rows.length === 0) return '<p style="font:12px sans-serif;color:#666;">none</p>';
  return (
    `<table cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;margin:4px 0 12px;"${attrs}>` +
    `<tr>${headers.map((h) => `<th ${TH}>${escapeHtml(h)}</th>`).join('')}</tr>` +
    rows.map((r) => `<tr>${r.map((c, i) => `<td ${numeric.has(i) ? TDN : TD}>${c}</td>`).join('')}</tr>`).join('') +
    `</table>`
  );
}

function h2(text: string): string {
  return `<h2 style="font:bold 15px sans-serif;margin:18px 0 4px;">${escapeHtml(text)}</h2>`;
}

export function renderReportHtml(data: ReportData): string {
  const { run } = data;
  const e = escapeHtml;
  const countsTable = table(
    ['check', 'kind', 'detected', 'resolved', 'failed', 'pending'],
    data.lines.map((l) => [e(l.check), e(l.kind), String(l.detected), String(l.resolved), String(l.failed), l.reportOnly ? 'report only' : String(l.pending)]),
    new Set([2, 3, 4, 5]),
    ' class="counts"',
  );
  const windowsTable = table(
    ['check', 'windows', 'from', 'to'],
    data.windows.map((w) => [e(w.check), String(w.count), e(formatInstant(w.from)), e(formatInstant(w.to))]),
    new Set([1]),
  );
  const wmTable = table(
    ['check', 'watermark', 'lag'],
    data.watermarks.map((w) => [e(w.check), e(formatInstant(w.watermark)), e(formatSeconds(w.lagSeconds))]),
    new Set([2]),
  );
  const dlRows: string[][] = [];
  for (const [db, list] of Object.entries(data.deadLetters)) {
    if (list === undefined) dlRows.push([e(db), 'n/a', '', '', '']);
    else for (const d of list) dlRows.push([e(db), e(d.consumer_group), e(d.topic), String(d.total), String(d.pending)]);
  }
  const dlTable = table(['database', 'group', 'topic', 'dead letters', 'not replayed'], dlRows, new Set([3, 4]));
  const lagBlock = data.consumerLag
    ? table(['group', 'topic', 'lag (messages)'], data.consumerLag.map((l) => [e(l.group), e(l.topic), String(l.lag)]), new Set([2]))
    : `<p style="font:12px sans-serif;color:#666;">unknown (${e(data.consumerLagError ?? 'not measured')})</p>`;
  const exampleBlocks = Object.entries(data.examples)
    .map(([kind, rows]) =>
      `<h3 style="font:bold 13px sans-serif;margin:10px 0 2px;">${e(kind)} (${rows!.length} shown)</h3>` +
      table(
        ['check', 'entity', 'status', 'detected', 'details'],
        rows!.map((d) => [e(d.check_name), `${e(d.entity_type)} ${e(d.entity_id)}`, e(d.status), e(formatInstant(d.detected_at)), `<code style="word-break:break-all;">${e(JSON.stringify(d.details).slice(0, 200))}</code>`]),
      ),
    )
    .join('');
  const meta = [
    ['run', `<code>${e(run.id)}</code>`],
    ['status', e(run.status) + (run.error ? ` — ${e(run.error)}` : '')],
    ['trigger', e(run.trigger)],
    ['checks', e(run.checks.join(', '))],
    ['started', e(formatInstant(run.started_at))],
    ['finished', e(formatInstant(run.finished_at))],
    ['range', run.range_from ? `${e(formatInstant(run.range_from))} – ${e(formatInstant(run.range_to))}` : 'watermark to safe upper bound'],
    ['dry run', run.dry_run ? 'yes' : 'no'],
  ];
  return (
    `<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${e(reportSubject(data))}</title></head>` +
    `<body style="margin:0;padding:16px;background:#ffffff;color:#222;">` +
    `<h1 style="font:bold 18px sans-serif;margin:0 0 8px;">${e(reportSubject(data))}</h1>` +
    `<table cellpadding="0" cellspacing="0" border="0" style="margin-bottom:8px;">${meta.map(([k, v]) => `<tr><td style="padding:1px 12px 1px 0;font:12px sans-serif;color:#666;">${k}</td><td style="font:12px sans-serif;">${v}</td></tr>`).join('')}</table>` +
    h2('Discrepancies per check and kind') +
    countsTable +
    (data.lines.some((l) => l.reportOnly)
      ? `<p style="font:12px sans-serif;color:#666;margin:4px 0;">Phantom events (a producer sent, then rolled back) and dead-lettered events are reported, not compensated: a phantom's effect is revoked as an orphan grant; a dead letter is replayed with <code>recon dlq replay</code> once its cause is fixed.</p>`
      : '') +
    (data.lines.some((l) => l.failed > 0)
      ? `<p style="font:12px sans-serif;color:#666;margin:4px 0;">Failed compensations keep their last error (the examples below, or <code>GET /api/discrepancies?status=failed</code>). Once the cause is fixed, <code>recon retry</code> tries them again.</p>`
      : '') +
    h2(`Drift per run (last ${data.drift.length})`) +
    mailChart(data.drift, '') +
    h2('Windows covered') +
    windowsTable +
    h2('Watermark lag') +
    wmTable +
    h2('Dead letters') +
    dlTable +
    h2('Consumer lag') +
    lagBlock +
    h2(`Examples (up to ${REPORT_EXAMPLES_PER_KIND} per kind)`) +
    (exampleBlocks || '<p style="font:12px sans-serif;color:#666;">none</p>') +
    `<p style="font:11px sans-serif;color:#999;margin-top:16px;">generated ${e(data.generatedAt.toISOString())}</p>` +
    `</body></html>`
  );
}

export function renderReportText(data: ReportData): string {
  const { run } = data;
  const out: string[] = [reportSubject(data), ''];
  out.push(`run       ${run.id}`, `status    ${run.status}${run.error ? ` (${run.error})` : ''}`, `trigger   ${run.trigger}`, `started   ${formatInstant(run.started_at)}`, `finished  ${formatInstant(run.finished_at)}`, '');
  out.push('check / kind                              detected resolved   failed  pending');
  for (const l of data.lines) out.push(`${`${l.check} / ${l.kind}`.padEnd(40)} ${String(l.detected).padStart(8)} ${String(l.resolved).padStart(8)} ${String(l.failed).padStart(8)} ${(l.reportOnly ? 'report' : String(l.pending)).padStart(8)}`);
  if (data.lines.length === 0) out.push('(none)');
  if (data.lines.some((l) => l.failed > 0)) out.push('Failed compensations keep their last error; once the cause is fixed, `recon retry` tries them again.');
  out.push('', 'Drift per run:');
  const max = Math.max(1, ...data.drift.map((p) => p.total));
  for (const p of data.drift) out.push(`  ${formatInstant(p.startedAt)} ${shortId(p.runId)} ${'#'.repeat(Math.round((p.total / max) * 40)).padEnd(40)} ${p.total}`);
  out.push('', 'Windows:');
  for (const w of data.windows) out.push(`  ${w.check}: ${w.count} from ${formatInstant(w.from)} to ${formatInstant(w.to)}`);
  out.push('', 'Watermark lag:');
  for (const w of data.watermarks) out.push(`  ${w.check}: ${formatSeconds(w.lagSeconds)} (at ${formatInstant(w.watermark)})`);
  out.push('', 'Dead letters:');
  for (const [db, list] of Object.entries(data.deadLetters)) {
    if (list === undefined) out.push(`  ${db}: n/a`);
    else if (list.length === 0) out.push(`  ${db}: 0`);
    else for (const d of list) out.push(`  ${db} ${d.consumer_group} ${d.topic}: ${d.total} (${d.pending} not replayed)`);
  }
  out.push('', 'Consumer lag:');
  if (data.consumerLag) for (const l of data.consumerLag) out.push(`  ${l.group} ${l.topic}: ${l.lag}`);
  else out.push(`  unknown (${data.consumerLagError ?? 'not measured'})`);
  return out.join('\n') + '\n';
}

export async function buildReport(deps: ReportDeps, runId: string): Promise<RenderedReport> {
  const data = await buildReportData(deps, runId);
  return { runId, subject: reportSubject(data), html: renderReportHtml(data), text: renderReportText(data), data };
}
