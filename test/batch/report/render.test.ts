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

describe('a report people can read', () => {
  const orphan = {
    id: '11111111-0000-4000-8000-000000000001',
    check_name: 'users-vs-points' as const,
    kind: 'orphan_grant' as const,
    entity_type: 'user',
    entity_id: '22222222-0000-4000-8000-000000000002',
    window_start: at,
    window_end: at,
    details: { userId: '22222222-0000-4000-8000-000000000002', net: 1000, expected: 0, amount: -1000, userCreatedAt: at.toISOString() },
    status: 'held' as const,
    first_run_id: data.run.id,
    last_run_id: data.run.id,
    detected_at: at,
    queued_at: null,
    resolved_at: null,
    failed_at: null,
    attempts: 0,
    last_error: null,
    updated_at: at,
    generation: 0,
    resolution: null,
  };
  const deadLetter = {
    ...orphan,
    id: '33333333-0000-4000-8000-000000000003',
    check_name: 'outbox-vs-consumed' as const,
    kind: 'dead_lettered_event' as const,
    entity_type: 'dead_letter',
    entity_id: 'points:7',
    status: 'detected' as const,
    details: {
      eventId: '44444444-0000-4000-8000-000000000004',
      topic: '<script>alert(1)</script>',
      partition: 3,
      offset: 1234,
      group: 'point-service',
      errorClass: 'InvalidMessage',
      deadLetteredAt: new Date(at.getTime() - 7200_000).toISOString(),
    },
  };
  const readable: ReportData = {
    ...data,
    lines: [{ ...data.lines[0]!, pending: 0, held: 1 }, data.lines[1]!],
    examples: { orphan_grant: [orphan], dead_lettered_event: [deadLetter] },
    held: {
      byCheck: {
        'users-vs-points': {
          reason: 'count',
          compensable: 1500,
          rowsCompared: 90_000,
          limit: 1000,
          ratio: 0.01,
          ratioMinCount: 100,
          kinds: { orphan_grant: 1500 },
          message: '1500 compensations exceed RECON_AUTO_COMPENSATE_LIMIT=1000',
        },
      },
      remaining: [{ check: 'users-vs-points', kind: 'orphan_grant', count: 1500 }],
      total: 1500,
      decisions: [],
    },
    consoleUrl: 'https://recon.example.com',
  };

  it('shows examples in the console’s columns per kind, not JSON, with other people’s text escaped', () => {
    const html = renderReportHtml(readable);
    expect(html).toMatch(
      /<table[^>]*class="examples" data-kind="orphan_grant"><tr><th[^>]*>user id<\/th><th[^>]*>expected<\/th><th[^>]*>net<\/th><th[^>]*>correction<\/th>/,
    );
    expect(html).toMatch(/<td[^>]*>0<\/td><td[^>]*>1000<\/td><td[^>]*>-1000<\/td>/);
    expect(html).toMatch(
      /data-kind="dead_lettered_event"><tr><th[^>]*>event id<\/th><th[^>]*>topic<\/th><th[^>]*>partition<\/th><th[^>]*>offset<\/th><th[^>]*>group<\/th>/,
    );
    expect(html).toContain('<td style="padding:3px 8px;border-bottom:1px solid #eee;font:12px sans-serif;">&lt;script&gt;alert(1)&lt;/script&gt;</td>');
    expect(html).toMatch(/>2h<\/td>/); // the dead letter's age at the report's time
    expect(html).not.toContain('<script');
    expect(html).not.toContain('{&quot;');
    expect(html).not.toContain('"userId"');
  });

  it('puts the held compensations and what to do first, with links to the console', () => {
    const html = renderReportHtml(readable);
    // Held is not pending: its own column.
    expect(html).toMatch(/<th[^>]*>pending<\/th><th[^>]*>held<\/th><th[^>]*>dismissed<\/th>/);
    expect(html).toMatch(/<td[^>]*>orphan_grant<\/td><td[^>]*>2<\/td><td[^>]*>1<\/td><td[^>]*>0<\/td><td[^>]*>0<\/td><td[^>]*>1<\/td><td[^>]*>0<\/td>/);
    expect(renderReportText(readable)).toMatch(/users-vs-points \/ orphan_grant\s+2\s+1\s+0\s+0\s+1\s+0/);
    const held = html.indexOf('1500 compensations held for approval');
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(html.indexOf('Discrepancies per check and kind'));
    expect(html).toContain('users-vs-points: 1500 compensations exceed RECON_AUTO_COMPENSATE_LIMIT=1000.');
    expect(html).toContain(`href="https://recon.example.com/runs/${data.run.id}"`);
    expect(html).toContain(`href="https://recon.example.com/discrepancies?run=${data.run.id}&amp;kind=orphan_grant&amp;status=held"`);
    expect(html).toContain(`href="https://recon.example.com/discrepancies/${orphan.id}"`);
    expect(html).toContain(`recon approve --run ${data.run.id}`);
    expect(html).toContain(`recon dismiss --run ${data.run.id}`);
    // Without RECON_PUBLIC_URL there is no link at all (no guessed host).
    const bare = renderReportHtml({ ...readable, consoleUrl: undefined });
    expect(bare).not.toContain('<a ');
    expect(bare).toContain('1500 compensations held for approval');
  });

  it('is a mail: no script, no external image, no stylesheet link, no form', () => {
    const html = renderReportHtml(readable);
    for (const banned of [/<script/i, /<img/i, /<link/i, /<form/i, /<iframe/i, /url\(/i, /\son[a-z]+=/i, /src=/i]) expect(html).not.toMatch(banned);
  });

  it('gives the text part the same: held first, the same columns aligned, the console links', () => {
    const text = renderReportText(readable);
    const lines = text.split('\n');
    expect(lines[2]).toBe('!! 1500 compensations held for approval: nothing was applied for them');
    expect(text).toContain('   users-vs-points: 1500 compensations exceed RECON_AUTO_COMPENSATE_LIMIT=1000.');
    expect(text).toContain(`   Console (Approve / Dismiss buttons): https://recon.example.com/runs/${data.run.id}`);
    expect(text).toContain(`   From a shell: recon approve --run ${data.run.id} [--kind K] [--limit N]`);
    expect(text).toContain(`  orphan_grant (1 shown)  https://recon.example.com/discrepancies?run=${data.run.id}&kind=orphan_grant`);
    const header = lines.findIndex((l) => l.startsWith('    user id'));
    expect(lines[header]).toMatch(/^ {4}user id\s+expected\s+net\s+correction\s+status$/);
    expect(lines[header + 2]).toMatch(/^ {4}22222222-0000-4000-8000-000000000002\s+0\s+1000\s+-1000\s+held$/);
    expect(text).toMatch(/event id\s+topic\s+partition\s+offset\s+group\s+outbox in|event id\s+topic\s+partition\s+offset\s+group\s+error class\s+age/);
    expect(text).toContain('<script>alert(1)</script>'); // text is text: nothing to escape, nothing runs
    expect(text).not.toContain('{"');
  });
});
