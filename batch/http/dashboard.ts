/**
 * The dashboard at `/`, the console's home: one server-rendered page
 * (template literals, every value escaped), no build step and no script.
 * Recent runs, drift per run as an inline SVG chart, open discrepancies by
 * kind, watermark lag, and links to the console's pages (../console/), the
 * JSON API and bull-board. Its one `<style>` element is allowed by the
 * Content-Security-Policy through its hash ({@link DASHBOARD_STYLE_HASH}).
 */
import { createHash } from 'node:crypto';
import { countTotal, DISCREPANCY_STATUSES, type DiscrepancyKind, type DiscrepancyStatus } from '../../core/index.js';
import { discrepancyCountsByKindStatus, listRuns, recentRuns, watermarkLags, type Databases, type RunRow } from '../../db/index.js';
import { escapeHtml as e, formatInstant, formatSeconds, shortId } from '../report/index.js';
import { svgChart, type DriftPoint } from '../report/index.js';

/** Runs listed, and runs in the chart. */
export const DASHBOARD_RUNS = 20;
export const DASHBOARD_CHART_RUNS = 30;

export interface DashboardData {
  runs: RunRow[];
  drift: DriftPoint[];
  byKind: { kind: DiscrepancyKind; counts: Record<DiscrepancyStatus, number> }[];
  watermarks: { check: string; watermark: Date; lagSeconds: number }[];
  generatedAt: Date;
}

export async function loadDashboardData(dbs: Pick<Databases, 'recon'>): Promise<DashboardData> {
  const [runs, recent, counts, lags] = await Promise.all([
    listRuns(dbs.recon, { limit: DASHBOARD_RUNS }),
    recentRuns(dbs.recon, DASHBOARD_CHART_RUNS),
    discrepancyCountsByKindStatus(dbs.recon),
    watermarkLags(dbs.recon),
  ]);
  const byKind = new Map<DiscrepancyKind, Record<DiscrepancyStatus, number>>();
  for (const c of counts) {
    const row = byKind.get(c.kind) ?? (Object.fromEntries(DISCREPANCY_STATUSES.map((s) => [s, 0])) as Record<DiscrepancyStatus, number>);
    row[c.status] = c.n;
    byKind.set(c.kind, row);
  }
  return {
    runs: runs.items,
    drift: recent.map((r) => ({ runId: r.id, startedAt: r.started_at, total: countTotal(r.counts), status: r.status })),
    byKind: [...byKind.entries()].map(([kind, c]) => ({ kind, counts: c })).sort((a, b) => a.kind.localeCompare(b.kind)),
    watermarks: lags.map((w) => ({ check: w.check_name, watermark: w.watermark, lagSeconds: w.lag_seconds })),
    generatedAt: new Date(),
  };
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#263238;color:#fff;padding:10px 20px;display:flex;flex-wrap:wrap;gap:8px 20px;align-items:baseline}
header h1{font-size:18px;margin:0}header a{color:#cfd8dc}
main{padding:16px 20px;display:grid;gap:16px;grid-template-columns:repeat(auto-fit,minmax(420px,1fr))}
section{background:#fff;border:1px solid #dde;border-radius:6px;padding:12px 16px}
section.wide{grid-column:1/-1}
h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;font-size:13px}
td.n{text-align:right;font-family:monospace}
.status-completed{color:#27ae60}.status-failed{color:#c0392b}.status-skipped{color:#888}.status-running{color:#2980b9}
.muted{color:#888}code{font-size:12px}
`;

/** The CSP source that allows the dashboard's `<style>` element and nothing else inline. */
export const DASHBOARD_STYLE_HASH = `sha256-${createHash('sha256').update(STYLE, 'utf8').digest('base64')}`;

export function renderDashboard(data: DashboardData): string {
  const runRows = data.runs
    .map((r) => {
      const total = countTotal(r.counts);
      const duration = r.finished_at ? (new Date(r.finished_at).getTime() - new Date(r.started_at).getTime()) / 1000 : undefined;
      return (
        `<tr class="run" data-run="${e(r.id)}">` +
        `<td><a href="/runs/${e(r.id)}"><code>${e(shortId(r.id))}</code></a></td>` +
        `<td>${e(formatInstant(r.started_at))}</td>` +
        `<td>${e(r.trigger)}</td>` +
        `<td>${e(r.checks.join(', '))}</td>` +
        `<td class="status-${e(r.status)}">${e(r.status)}${r.dry_run ? ' (dry run)' : ''}${r.error ? ` <span class="muted" title="${e(r.error)}">ⓘ</span>` : ''}</td>` +
        `<td class="n">${r.windows}</td>` +
        `<td class="n">${total}</td>` +
        `<td class="n">${duration === undefined ? '' : e(formatSeconds(duration))}</td>` +
        `<td><a href="/discrepancies?run=${e(r.id)}">list</a></td>` +
        `</tr>`
      );
    })
    .join('');
  const kindRows = data.byKind
    .map(
      (k) =>
        `<tr class="kind" data-kind="${e(k.kind)}"><td><a href="/discrepancies?kind=${e(k.kind)}">${e(k.kind)}</a></td>` +
        `<td class="n">${k.counts.detected}</td><td class="n">${k.counts.queued}</td><td class="n">${k.counts.failed}</td><td class="n">${k.counts.resolved}</td>` +
        `<td class="n">${k.counts.held}</td><td class="n">${k.counts.dismissed}</td></tr>`,
    )
    .join('');
  const wmRows = data.watermarks
    .map((w) => `<tr><td>${e(w.check)}</td><td>${e(formatInstant(w.watermark))}</td><td class="n">${e(formatSeconds(w.lagSeconds))}</td></tr>`)
    .join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>recon dashboard</title><style>${STYLE}</style></head>
<body>
<header><h1>recon</h1><a href="/runs">runs</a><a href="/discrepancies">discrepancies</a><a href="/dead-letters">dead letters</a><a href="/lag">lag</a><a href="/actions/run">start a run</a><a href="/actions/retry">retry failed</a><a href="/actions/replay">replay dead letters</a><a href="/admin/queues">queues (bull-board)</a><a href="/api/runs">runs API</a><a href="/metrics">metrics</a>
<span class="muted">rendered ${e(data.generatedAt.toISOString())}</span></header>
<main>
<section class="wide" id="drift"><h2>Drift per run (last ${data.drift.length})</h2>${svgChart(data.drift, { width: 900, height: 200 })}</section>
<section class="wide" id="runs"><h2>Recent runs</h2>
${runRows ? `<table><thead><tr><th>run</th><th>started</th><th>trigger</th><th>checks</th><th>status</th><th>windows</th><th>found</th><th>took</th><th>discrepancies</th></tr></thead><tbody>${runRows}</tbody></table>` : '<p class="muted">no runs yet: <code>recon run</code> or <code>POST /api/runs</code></p>'}
</section>
<section id="open"><h2>Discrepancies by kind</h2>
${kindRows ? `<table><thead><tr><th>kind</th><th>detected</th><th>queued</th><th>failed</th><th>resolved</th><th>held</th><th>dismissed</th></tr></thead><tbody>${kindRows}</tbody></table>` : '<p class="muted">none</p>'}
</section>
<section id="watermarks"><h2>Watermarks</h2>
${wmRows ? `<table><thead><tr><th>check</th><th>watermark</th><th>lag</th></tr></thead><tbody>${wmRows}</tbody></table>` : '<p class="muted">no check has run yet</p>'}
</section>
</main>
</body></html>`;
}
