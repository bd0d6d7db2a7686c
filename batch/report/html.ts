/** The report as mail-safe HTML: inline styles, tables only, no script, no images. */
import { DISCREPANCY_KIND_SPECS, type DiscrepancyKind } from '../../core/index.js';
import { columnsOf } from '../present/index.js';
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
  // Held and dismissed columns only for runs the guard touched: other reports read as before.
  const decided = data.lines.some((l) => l.held || l.dismissed);
  const countsTable = table(
    ['check', 'kind', 'detected', 'resolved', 'failed', 'pending', ...(decided ? ['held', 'dismissed'] : [])],
    data.lines.map((l) => [
      e(l.check),
      e(l.kind),
      String(l.detected),
      String(l.resolved),
      String(l.failed),
      l.reportOnly ? 'report only' : String(l.pending),
      ...(decided ? [String(l.held ?? 0), String(l.dismissed ?? 0)] : []),
    ]),
    new Set([2, 3, 4, 5, 6, 7]),
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
  const link = consoleLink(data);
  const exampleBlocks = Object.entries(data.examples)
    .map(([kind, rows]) => {
      // The console's columns of the kind (../present/columns.ts): the same headers and values people see there.
      const cols = columnsOf(kind as DiscrepancyKind);
      const numeric = new Set(cols.flatMap((c, i) => (c.numeric ? [i] : [])));
      const all = link(`/discrepancies?run=${encodeURIComponent(run.id)}&kind=${encodeURIComponent(kind)}`, 'all of them in the console');
      return (
        `<h3 style="font:bold 13px sans-serif;margin:10px 0 2px;">${e(kind)} (${rows!.length} shown)${all ? ` <span style="font-weight:normal;">${all}</span>` : ''}</h3>` +
        table(
          [...cols.map((c) => c.label), 'detected'],
          rows!.map((d) => [
            ...cols.map((c) => {
              const v = e(c.value(d, data.generatedAt));
              return c.identifies ? link(`/discrepancies/${encodeURIComponent(d.id)}`, c.value(d, data.generatedAt)) || v : v;
            }),
            e(formatInstant(d.detected_at)),
          ]),
          numeric,
          ` class="examples" data-kind="${e(kind)}"`,
        )
      );
    })
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
    ...(data.consoleUrl ? [['console', link(`/runs/${encodeURIComponent(run.id)}`, 'this run in the console')]] : []),
  ];
  return (
    `<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${e(reportSubject(data))}</title></head>` +
    `<body style="margin:0;padding:16px;background:#ffffff;color:#222;">` +
    `<h1 style="font:bold 18px sans-serif;margin:0 0 8px;">${e(reportSubject(data))}</h1>` +
    heldBlock(data) +
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

/** A link into the console at `RECON_PUBLIC_URL`, or `''` when it is not set (the report then names no URL). */
function consoleLink(data: ReportData) {
  return (path: string, text: string): string =>
    data.consoleUrl ? `<a href="${escapeHtml(data.consoleUrl + path)}" style="color:#1565c0;">${escapeHtml(text)}</a>` : '';
}

/** The held compensations first: how many, why, and what to do (the console's buttons, or the commands). */
function heldBlock(data: ReportData): string {
  const remaining = data.held?.remaining ?? [];
  if (remaining.length === 0) return '';
  const e = escapeHtml;
  const total = remaining.reduce((n, h) => n + h.count, 0);
  const why = Object.entries(data.held?.byCheck ?? {}).map(([check, h]) => ({ check, message: h.message }));
  const id = data.run.id;
  const link = consoleLink(data);
  const page = link(`/runs/${encodeURIComponent(id)}`, 'Open the run in the console');
  const rows = remaining
    .map(
      (h) =>
        `<tr><td style="padding:2px 10px 2px 0;font:12px sans-serif;">${e(h.check)}</td><td style="padding:2px 10px 2px 0;font:12px sans-serif;">${link(`/discrepancies?run=${encodeURIComponent(id)}&kind=${encodeURIComponent(h.kind)}&status=held`, h.kind) || e(h.kind)}</td><td style="padding:2px 0;font:12px monospace;text-align:right;">${h.count}</td></tr>`,
    )
    .join('');
  const cmd = (s: string) => `<code style="background:#fff;padding:0 3px;">${e(s)}</code>`;
  return (
    `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" class="held" style="margin:0 0 12px;border-collapse:collapse;"><tr><td bgcolor="#fff3e0" style="background-color:#fff3e0;border:1px solid #ffb74d;padding:10px 12px;">` +
    `<p style="font:bold 14px sans-serif;margin:0 0 4px;color:#e65100;">${total} compensations held for approval: nothing was applied for them</p>` +
    why.map((w) => `<p style="font:12px sans-serif;margin:0 0 4px;">${e(w.check)}: ${e(w.message)}.</p>`).join('') +
    `<table cellpadding="0" cellspacing="0" border="0" style="margin:4px 0;">${rows}</table>` +
    `<p style="font:12px sans-serif;margin:6px 0 2px;">What to do: look at the held findings first (the examples below${page ? ', or the console' : ''}). If they are right, approve them; if they come from an outage, a bug in a check or a wrong setting, dismiss them with the reason.</p>` +
    (page ? `<p style="font:12px sans-serif;margin:2px 0;">${page}: it has the Approve and Dismiss buttons.</p>` : '') +
    `<p style="font:12px sans-serif;margin:2px 0;">From a shell: ${cmd(`recon approve --run ${id} [--kind K] [--limit N]`)} or ${cmd(`recon dismiss --run ${id} [--kind K] --reason TEXT`)}</p>` +
    `</td></tr></table>`
  );
}
