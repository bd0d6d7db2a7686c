/**
 * Delivery of reports: by e-mail through nodemailer when `SMTP_URL` and
 * `REPORT_TO` are set, otherwise as files `<RECON_REPORTS_DIR>/<run-id>.html`
 * and `.eml` (the RFC 822 message nodemailer would have sent, openable in any
 * mail client). Every delivery is recorded in the `reports` table.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { ReconError, type Config, type Logger } from '../../core/index.js';
import { insertReport, type Databases } from '../../db/index.js';
import { buildReportData, reportSubject, type ReportData, type ReportDeps } from './data.js';
import { renderReportHtml } from './html.js';
import { renderReportText } from './text.js';

export interface MailerDeps {
  config: Config;
  dbs: Databases;
  log: Logger;
}

export interface DeliveryResult {
  reportId: string;
  subject: string;
  /** Set when the report was written to files. */
  htmlPath?: string;
  emlPath?: string;
  /** Recipients, when it was e-mailed. */
  emailedTo: string[];
  messageId?: string;
}

export interface DeliverOptions {
  /**
   * `true`: e-mail it (fails when `SMTP_URL` or `REPORT_TO` is unset);
   * `false`: write the files only. Default: e-mail when SMTP is configured, else files.
   */
  email?: boolean;
}

function message(config: Config, report: RenderedReport) {
  return {
    from: config.report.from,
    to: config.report.to.length ? config.report.to : [config.report.from],
    subject: report.subject,
    text: report.text,
    html: report.html,
    headers: { 'X-Recon-Run': report.runId },
  };
}

/** Deliver one rendered report and record it. */
export async function deliverReport(deps: MailerDeps, report: RenderedReport, { email }: DeliverOptions = {}): Promise<DeliveryResult> {
  const { config, dbs, log } = deps;
  const smtpReady = Boolean(config.report.smtpUrl && config.report.to.length);
  const send = email ?? smtpReady;
  const reportId = randomUUID();
  let result: DeliveryResult;
  if (send) {
    if (!smtpReady) throw new ReconError('BAD_CONFIG', 'e-mailing a report needs SMTP_URL and REPORT_TO');
    const transport = nodemailer.createTransport(config.report.smtpUrl as string);
    try {
      const info: SMTPTransport.SentMessageInfo = await transport.sendMail(message(config, report));
      result = { reportId, subject: report.subject, emailedTo: config.report.to, messageId: info.messageId };
      log.info({ runId: report.runId, to: config.report.to, messageId: info.messageId }, 'report e-mailed');
    } catch (err) {
      throw new ReconError('SERVICE_UNAVAILABLE', `could not e-mail the report of run ${report.runId}: ${(err as Error).message}`, {
        cause: err,
        retryable: true,
      });
    } finally {
      transport.close();
    }
  } else {
    const dir = resolve(config.report.dir);
    await mkdir(dir, { recursive: true });
    const htmlPath = join(dir, `${report.runId}.html`);
    const emlPath = join(dir, `${report.runId}.eml`);
    // streamTransport + buffer renders the exact RFC 822 message without sending it.
    const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
    const info = await transport.sendMail(message(config, report));
    await writeFile(htmlPath, report.html, 'utf8');
    await writeFile(emlPath, info.message as Buffer);
    result = { reportId, subject: report.subject, htmlPath, emlPath, emailedTo: [], messageId: info.messageId };
    log.info({ runId: report.runId, htmlPath, emlPath }, 'report written');
  }
  await insertReport(dbs.recon, {
    id: reportId,
    run_id: report.runId,
    html_path: result.htmlPath ?? null,
    eml_path: result.emlPath ?? null,
    emailed_to: result.emailedTo,
    message_id: result.messageId ?? null,
    subject: report.subject,
  });
  return result;
}

export interface RenderedReport {
  runId: string;
  subject: string;
  html: string;
  text: string;
  data: ReportData;
}

/** Sum of a run's `counts` jsonb: its drift. */

export async function buildReport(deps: ReportDeps, runId: string): Promise<RenderedReport> {
  const data = await buildReportData(deps, runId);
  return { runId, subject: reportSubject(data), html: renderReportHtml(data), text: renderReportText(data), data };
}
