/** The report as plain text: the same content as the HTML, for the text part of the mail and for terminals. */
import { DISCREPANCY_KIND_SPECS, type DiscrepancyKind } from '../../core/index.js';
import { columnsOf } from '../present/index.js';
import { REPORT_EXAMPLES_PER_KIND, reportSubject, type ReportData } from './data.js';
import { formatInstant, formatSeconds, shortId } from './format.js';

export function renderReportText(data: ReportData): string {
  const { run } = data;
  const out: string[] = [reportSubject(data), ''];
  const url = (path: string) => (data.consoleUrl ? `${data.consoleUrl}${path}` : undefined);
  const remaining = data.held?.remaining ?? [];
  if (remaining.length) {
    const total = remaining.reduce((n, h) => n + h.count, 0);
    out.push(`!! ${total} compensations held for approval: nothing was applied for them`);
    for (const [check, h] of Object.entries(data.held?.byCheck ?? {})) out.push(`   ${check}: ${h.message}.`);
    for (const h of remaining) out.push(`   ${`${h.check} / ${h.kind}`.padEnd(40)} ${String(h.count).padStart(8)} held`);
    out.push(
      '   What to do: look at the held findings first (the examples below). If they are right, approve them;',
      '   if they come from an outage, a bug in a check or a wrong setting, dismiss them with the reason.',
    );
    const page = url(`/runs/${run.id}`);
    if (page) out.push(`   Console (Approve / Dismiss buttons): ${page}`);
    out.push(
      `   From a shell: recon approve --run ${run.id} [--kind K] [--limit N]`,
      `              recon dismiss --run ${run.id} [--kind K] --reason TEXT`,
      '',
    );
  }
  out.push(
    `run       ${run.id}`,
    `status    ${run.status}${run.error ? ` (${run.error})` : ''}`,
    `trigger   ${run.trigger}`,
    `started   ${formatInstant(run.started_at)}`,
    `finished  ${formatInstant(run.finished_at)}`,
    ...(url(`/runs/${run.id}`) ? [`console   ${url(`/runs/${run.id}`)}`] : []),
    '',
  );
  const decided = data.lines.some((l) => l.held || l.dismissed);
  out.push(`check / kind                              detected resolved   failed  pending${decided ? '     held dismissed' : ''}`);
  for (const l of data.lines)
    out.push(
      `${`${l.check} / ${l.kind}`.padEnd(40)} ${String(l.detected).padStart(8)} ${String(l.resolved).padStart(8)} ${String(l.failed).padStart(8)} ${(l.reportOnly ? 'report' : String(l.pending)).padStart(8)}` +
        (decided ? ` ${String(l.held ?? 0).padStart(8)} ${String(l.dismissed ?? 0).padStart(9)}` : ''),
    );
  if (data.lines.length === 0) out.push('(none)');
  for (const kind of new Set(data.lines.filter((l) => l.reportOnly).map((l) => l.kind))) out.push(`${kind}: ${DISCREPANCY_KIND_SPECS[kind].note}`);
  if (data.lines.some((l) => l.failed > 0)) out.push('Failed compensations keep their last error; once the cause is fixed, `recon retry` tries them again.');
  out.push('', 'Drift per run:');
  const max = Math.max(1, ...data.drift.map((p) => p.total));
  for (const p of data.drift)
    out.push(`  ${formatInstant(p.startedAt)} ${shortId(p.runId)} ${'#'.repeat(Math.round((p.total / max) * 40)).padEnd(40)} ${p.total}`);
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
  const kinds = Object.keys(data.examples) as DiscrepancyKind[];
  out.push('', `Examples (up to ${REPORT_EXAMPLES_PER_KIND} per kind):`);
  if (kinds.length === 0) out.push('  none');
  for (const kind of kinds) {
    const rows = data.examples[kind] ?? [];
    const all = url(`/discrepancies?run=${run.id}&kind=${kind}`);
    out.push('', `  ${kind} (${rows.length} shown)${all ? `  ${all}` : ''}`);
    out.push(...textTable(kind, rows, data.generatedAt).map((l) => `    ${l}`));
  }
  return out.join('\n') + '\n';
}

/** The examples of a kind as aligned columns (the console's columns), long cells cut at 60 characters. */
function textTable(kind: DiscrepancyKind, rows: NonNullable<ReportData['examples'][DiscrepancyKind]>, now: Date): string[] {
  const cols = columnsOf(kind).filter((c) => rows.some((d) => c.value(d, now) !== ''));
  const cell = (v: string) => (v.length > 60 ? `${v.slice(0, 59)}…` : v).replace(/\s+/g, ' ');
  const cells = rows.map((d) => cols.map((c) => cell(c.value(d, now))));
  const widths = cols.map((c, i) => Math.max(c.label.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (cols[i]!.numeric ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(cols.map((c) => c.label)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
}
