import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, deliverReport, reportAfterRun } from '../../../batch/index.js';
import { silentLogger } from '../../../core/index.js';
import { listReports } from '../../../db/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';
import { SIX_DISCREPANCIES, insertRunFixture, mimeHeader, mimeParts, type FixtureRun } from '../../helpers/report-fixtures.js';

interface Received {
  from: string | undefined;
  to: string[];
  raw: string;
}

describe('discrepancy report e-mail through a real SMTP server', () => {
  const received: Received[] = [];
  let smtp: SMTPServer;
  let env: TestEnv;
  let run: FixtureRun;
  let history: FixtureRun[];
  let reportsDir: string;

  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const port = (smtp.server.address() as { port: number }).port;
    reportsDir = await mkdtemp(join(tmpdir(), 'recon-reports-'));
    env = await createTestEnv({
      env: {
        SMTP_URL: `smtp://127.0.0.1:${port}`,
        REPORT_TO: 'ops@example.com,oncall@example.com',
        REPORT_FROM: 'recon@example.com',
        REPORT_POLICY: 'drift',
        RECON_REPORTS_DIR: reportsDir,
      },
    });
    ({ run, history } = await insertRunFixture(env.dbs, { discrepancies: SIX_DISCREPANCIES }));
  });

  afterAll(async () => {
    await env?.cleanup();
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
    if (reportsDir) await rm(reportsDir, { recursive: true, force: true });
  });

  it('sends the report after a run with drift: subject, counts per kind and a mail-safe chart', async () => {
    const delivered = await reportAfterRun({ config: env.config, dbs: env.dbs, log: silentLogger, admin: env.admin }, run.id);
    expect(delivered?.emailedTo).toEqual(['ops@example.com', 'oncall@example.com']);
    const mail = await waitFor('the mail to arrive', () => received[0]);

    expect(mail.from).toBe('recon@example.com');
    expect(mail.to.sort()).toEqual(['oncall@example.com', 'ops@example.com']);
    const subject = mimeHeader(mail.raw, 'Subject');
    expect(subject).toBe(`recon: 6 discrepancies in run ${run.id.slice(0, 8)} (users-vs-points, outbox-vs-consumed)`);
    expect(mimeHeader(mail.raw, 'Message-ID')).toBe(delivered?.messageId);

    const parts = mimeParts(mail.raw);
    const html = parts['text/html'];
    expect(html).toBeDefined();
    const row = (kind: string) => {
      const m = new RegExp(`<tr><td[^>]*>[^<]*</td><td[^>]*>${kind}</td>((?:<td[^>]*>\\d+</td>){4})</tr>`).exec(html!);
      return m ? [...m[1]!.matchAll(/>(\d+)</g)].map((x) => Number(x[1])) : undefined;
    };
    // detected, resolved, failed, pending
    expect(row('missing_grant')).toEqual([3, 2, 1, 0]);
    expect(row('orphan_grant')).toEqual([1, 0, 0, 1]);
    expect(row('unpublished_event')).toEqual([2, 0, 0, 2]);

    // The chart: 14 runs (13 before + this one), bars as table cells, nothing to load or run.
    const chart = /<table[^>]*data-chart="drift"[\s\S]*?<\/table><\/td><td[^>]*>\d+<\/td><\/tr><\/table>/.exec(html!)?.[0];
    expect(chart).toBeDefined();
    const bars = [...chart!.matchAll(/<tr data-run="([^"]+)" data-value="(\d+)">/g)].map((m) => ({ run: m[1], value: Number(m[2]) }));
    expect(bars).toHaveLength(14);
    expect(bars.at(-1)).toEqual({ run: run.id, value: 6 });
    expect(bars.map((b) => b.run)).toEqual([...history.map((h) => h.id), run.id]);
    expect(chart).toMatch(/<td width="100%" bgcolor="#c0392b"/); // the largest bar is full width
    expect(html).not.toMatch(/<script|<img|<link|<svg|url\(|src=/i);

    // Consumer lag was measured against the real broker (topics exist, nothing produced: zero lag).
    expect(html, html!.match(/unknown \([^)]*\)/)?.[0]).toMatch(/user-service-balances/);
    expect(parts['text/plain']).toMatch(/users-vs-points \/ missing_grant\s+3\s+2\s+1\s+0/);

    const [stored] = await listReports(env.dbs.recon, run.id);
    expect(stored?.message_id).toBe(delivered?.messageId);
    expect(stored?.emailed_to).toEqual(['ops@example.com', 'oncall@example.com']);
    expect(stored?.subject).toBe(subject);
  });

  it('writes <run-id>.html and .eml instead when asked not to e-mail', async () => {
    const report = await buildReport({ config: env.config, dbs: env.dbs, log: silentLogger }, run.id);
    const result = await deliverReport({ config: env.config, dbs: env.dbs, log: silentLogger }, report, { email: false });
    expect(result.htmlPath).toBe(join(reportsDir, `${run.id}.html`));
    expect(result.emlPath).toBe(join(reportsDir, `${run.id}.eml`));
    const eml = await readFile(result.emlPath!, 'utf8');
    expect(mimeHeader(eml, 'Subject')).toBe(report.subject);
    expect(mimeParts(eml)['text/html']).toBe(await readFile(result.htmlPath!, 'utf8'));
    expect(report.html).toMatch(/Kafka not consulted/);
    expect(await listReports(env.dbs.recon, run.id)).toHaveLength(2);
  });

  it('follows REPORT_POLICY=drift: a clean run gets no report', async () => {
    const { run: clean } = await insertRunFixture(env.dbs, { history: 0, discrepancies: [] });
    const before = received.length;
    expect(await reportAfterRun({ config: env.config, dbs: env.dbs, log: silentLogger }, clean.id)).toBeUndefined();
    expect(await listReports(env.dbs.recon, clean.id)).toHaveLength(0);
    expect(received).toHaveLength(before);
  });

  it('escapes what it did not write: a run error with markup stays text', async () => {
    const { run: failed } = await insertRunFixture(env.dbs, { history: 0, discrepancies: [] });
    await env.dbs.recon('runs').where({ id: failed.id }).update({ status: 'failed', error: '<script>alert(1)</script><img src=x>' });
    const report = await buildReport({ config: env.config, dbs: env.dbs, log: silentLogger }, failed.id);
    expect(report.subject).toBe(`recon: run ${failed.id.slice(0, 8)} failed after 0 discrepancies (users-vs-points, outbox-vs-consumed)`);
    expect(report.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x&gt;');
    expect(report.html).not.toMatch(/<script|<img/i);
  });
});
