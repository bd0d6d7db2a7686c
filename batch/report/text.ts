/** The report as plain text: the same content as the HTML, for the text part of the mail and for terminals. */
import { DISCREPANCY_KIND_SPECS } from '../../core/index.js';
import { reportSubject, type ReportData } from './data.js';
import { formatInstant, formatSeconds, shortId } from './format.js';

export function renderReportText(data: ReportData): string {
  const { run } = data;
  const out: string[] = [reportSubject(data), ''];
  out.push(
    `run       ${run.id}`,
    `status    ${run.status}${run.error ? ` (${run.error})` : ''}`,
    `trigger   ${run.trigger}`,
    `started   ${formatInstant(run.started_at)}`,
    `finished  ${formatInstant(run.finished_at)}`,
    '',
  );
  out.push('check / kind                              detected resolved   failed  pending');
  for (const l of data.lines)
    out.push(
      `${`${l.check} / ${l.kind}`.padEnd(40)} ${String(l.detected).padStart(8)} ${String(l.resolved).padStart(8)} ${String(l.failed).padStart(8)} ${(l.reportOnly ? 'report' : String(l.pending)).padStart(8)}`,
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
  return out.join('\n') + '\n';
}
