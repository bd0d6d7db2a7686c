import { DISCREPANCY_KIND_SPECS } from '../../../core/index.js';
import { describe, expect, it } from 'vitest';
import { renderReportHtml, renderReportText, type ReportData } from '../../../batch/index.js';

const at = new Date('2026-11-21T03:00:00Z');
const data: ReportData = {
  run: {
    id: '7c1d2f3e-0000-4000-8000-000000000001',
    trigger: 'cron',
    checks: ['users-vs-points', 'outbox-vs-consumed'],
    range_from: null,
    range_to: null,
    dry_run: false,
    status: 'completed',
    started_at: at,
    finished_at: at,
    windows: 1,
    counts: { 'users-vs-points': { orphan_grant: 2 }, 'outbox-vs-consumed': { phantom_event: 2 } },
    options: {},
    error: null,
  },
  generatedAt: at,
  lines: [
    { check: 'users-vs-points', kind: 'orphan_grant', detected: 2, resolved: 1, failed: 0, pending: 1, reportOnly: false },
    { check: 'outbox-vs-consumed', kind: 'phantom_event', detected: 2, resolved: 0, failed: 0, pending: 0, reportOnly: true },
  ],
  total: 4,
  windows: [],
  watermarks: [],
  deadLetters: { users: [], points: [] },
  consumerLag: [],
  examples: {},
  drift: [],
};

describe('report rendering', () => {
  it('says a report-only kind is reported, not pending, and explains why', () => {
    const html = renderReportHtml(data);
    expect(html).toMatch(/<td[^>]*>phantom_event<\/td><td[^>]*>2<\/td><td[^>]*>0<\/td><td[^>]*>0<\/td><td[^>]*>report only<\/td>/);
    expect(html).toMatch(/<td[^>]*>orphan_grant<\/td><td[^>]*>2<\/td><td[^>]*>1<\/td><td[^>]*>0<\/td><td[^>]*>1<\/td>/);
    // The why comes from the kind registry, for the report-only kinds the run found.
    expect(html).toContain(`<code>phantom_event</code>: ${DISCREPANCY_KIND_SPECS.phantom_event.note}`);
    expect(html).not.toContain('dead_lettered_event');
    const text = renderReportText(data);
    expect(text).toMatch(/outbox-vs-consumed \/ phantom_event\s+2\s+0\s+0\s+report/);
    expect(text).toContain(`phantom_event: ${DISCREPANCY_KIND_SPECS.phantom_event.note}`);
  });

  it('points at recon retry only when some compensation failed', () => {
    expect(renderReportHtml(data)).not.toContain('recon retry');
    const failed: ReportData = { ...data, lines: [{ ...data.lines[0]!, resolved: 0, failed: 1 }, data.lines[1]!] };
    expect(renderReportHtml(failed)).toContain('<code>recon retry</code> tries them again');
    expect(renderReportText(failed)).toContain('`recon retry` tries them again');
  });
});
