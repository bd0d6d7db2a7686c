/** The report as mail-safe HTML: inline styles, tables only, no script, no images. */
import { DISCREPANCY_KIND_SPECS } from '../../core/index.js';
import { mailChart } from './chart.js';
import { REPORT_EXAMPLES_PER_KIND, reportSubject, type ReportData } from './data.js';
import { escapeHtml, formatInstant, formatSeconds } from './format.js';

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
    ? table(
        ['group', 'topic', 'lag (messages)'],
        data.consumerLag.map((l) => [e(l.group), e(l.topic), String(l.lag)]),
        new Set([2]),
      )
    : `<p style="font:12px sans-serif;color:#666;">unknown (${e(data.consumerLagError ?? 'not measured')})</p>`;
  const exampleBlocks = Object.entries(data.examples)
    .map(
      ([kind, rows]) =>
        `<h3 style="font:bold 13px sans-serif;margin:10px 0 2px;">${e(kind)} (${rows!.length} shown)</h3>` +
        table(
          ['check', 'entity', 'status', 'detected', 'details'],
          rows!.map((d) => [
            e(d.check_name),
            `${e(d.entity_type)} ${e(d.entity_id)}`,
            e(d.status),
            e(formatInstant(d.detected_at)),
            `<code style="word-break:break-all;">${e(JSON.stringify(d.details).slice(0, 200))}</code>`,
          ]),
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
    reportOnlyNotes(data)
      .map((note) => `<p style="font:12px sans-serif;color:#666;margin:4px 0;">${note}</p>`)
      .join('') +
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

/** One line per report-only kind the run found: what it is and what to do (from the kind registry). */
function reportOnlyNotes(data: ReportData): string[] {
  const kinds = [...new Set(data.lines.filter((l) => l.reportOnly).map((l) => l.kind))];
  return kinds.map((k) => `<code>${escapeHtml(k)}</code>: ${escapeHtml(DISCREPANCY_KIND_SPECS[k].note).replace(/`([^`]+)`/g, '<code>$1</code>')}`);
}
