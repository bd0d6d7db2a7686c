/**
 * Charts of drift per run. Two renderings of the same data:
 *
 * - {@link mailChart}: for e-mail. Mail clients drop scripts, external images
 *   and often SVG, so each bar is a table cell with a percentage width and a
 *   background colour (`bgcolor` for the old Outlook engine, `style` for the
 *   rest). Nothing to load, nothing to run.
 * - {@link svgChart}: for the dashboard, where a browser renders inline SVG.
 */
import { escapeHtml, formatInstant, shortId } from './format.js';

export interface DriftPoint {
  runId: string;
  startedAt: Date;
  /** Discrepancies the run found, all checks and kinds. */
  total: number;
  status: string;
}

const BAR = '#c0392b';
const CLEAN = '#27ae60';

/** `title`: a caption row above the bars; empty for none. */
export function mailChart(points: readonly DriftPoint[], title = 'Drift per run'): string {
  const max = Math.max(1, ...points.map((p) => p.total));
  const rows = points
    .map((p) => {
      // At least 1% so a run with drift never looks clean.
      const pct = p.total === 0 ? 0 : Math.max(1, Math.round((p.total / max) * 100));
      const bar =
        pct === 0
          ? `<td style="font-size:1px;line-height:1px;height:14px;">&nbsp;</td>`
          : `<td width="${pct}%" bgcolor="${BAR}" style="background-color:${BAR};font-size:1px;line-height:1px;height:14px;">&nbsp;</td>` +
            (pct < 100 ? `<td width="${100 - pct}%" style="font-size:1px;line-height:1px;">&nbsp;</td>` : '');
      return (
        `<tr data-run="${escapeHtml(p.runId)}" data-value="${p.total}">` +
        `<td style="padding:2px 8px 2px 0;font:12px monospace;white-space:nowrap;">${escapeHtml(formatInstant(p.startedAt))} ${escapeHtml(shortId(p.runId))}</td>` +
        `<td width="100%" style="padding:2px 0;"><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>${bar}</tr></table></td>` +
        `<td align="right" style="padding:2px 0 2px 8px;font:12px monospace;color:${p.total === 0 ? CLEAN : BAR};">${p.total}</td>` +
        `</tr>`
      );
    })
    .join('');
  return (
    `<table role="presentation" class="drift-chart" data-chart="drift" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;">` +
    (title ? `<tr><td colspan="3" style="font:bold 13px sans-serif;padding-bottom:4px;">${escapeHtml(title)} (last ${points.length})</td></tr>` : '') +
    (rows || `<tr><td colspan="3" style="font:12px sans-serif;">no runs yet</td></tr>`) +
    `</table>`
  );
}

export function svgChart(points: readonly DriftPoint[], { width = 640, height = 180 } = {}): string {
  const max = Math.max(1, ...points.map((p) => p.total));
  const pad = 24;
  const slot = points.length ? (width - pad * 2) / points.length : 0;
  const barWidth = Math.max(2, slot * 0.7);
  const bars = points
    .map((p, i) => {
      const h = p.total === 0 ? 1 : Math.max(2, ((height - pad * 2) * p.total) / max);
      const x = pad + i * slot + (slot - barWidth) / 2;
      const y = height - pad - h;
      return (
        `<g class="bar" data-run="${escapeHtml(p.runId)}" data-value="${p.total}">` +
        `<title>${escapeHtml(formatInstant(p.startedAt))} run ${escapeHtml(shortId(p.runId))} (${escapeHtml(p.status)}): ${p.total}</title>` +
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${h.toFixed(1)}" fill="${p.total === 0 ? CLEAN : BAR}"/>` +
        `<text x="${(x + barWidth / 2).toFixed(1)}" y="${(y - 4).toFixed(1)}" font-size="10" text-anchor="middle">${p.total}</text>` +
        `</g>`
      );
    })
    .join('');
  return (
    `<svg id="drift-chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Drift per run" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#888"/>` +
    (bars || `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="12">no runs yet</text>`) +
    `</svg>`
  );
}
