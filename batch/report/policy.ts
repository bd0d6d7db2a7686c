/** When a run gets a report: `REPORT_POLICY`, or the caller saying so. */
import { countTotal, type Config, type Logger } from '../../core/index.js';
import { getRunRow, type RunRow } from '../../db/index.js';
import type { ReportDeps } from './data.js';
import { buildReport, deliverReport, type DeliveryResult } from './deliver.js';

/** Whether the policy asks for a report of this run. `drift`: only when it found something or failed. */
export function shouldReport(policy: Config['report']['policy'], run: Pick<RunRow, 'counts' | 'status'>): boolean {
  if (policy === 'always') return true;
  if (policy === 'never') return false;
  return run.status === 'failed' || countTotal(run.counts) > 0;
}

export interface AfterRunOptions {
  /** `true`: report whatever the policy; `false`: no report; default: `REPORT_POLICY` decides. */
  email?: boolean;
}

/**
 * The report step after a run (run-queue jobs and `recon run`): apply the
 * policy, build, deliver. Returns `undefined` when no report was due.
 */
export async function reportAfterRun(deps: ReportDeps, runId: string, { email }: AfterRunOptions = {}): Promise<DeliveryResult | undefined> {
  if (email === false) return undefined;
  if (email === undefined) {
    const run = await getRunRow(deps.dbs.recon, runId);
    if (!run || !shouldReport(deps.config.report.policy, run)) return undefined;
  }
  const report = await buildReport(deps, runId);
  return deliverReport(deps, report);
}

/**
 * The report step as the run queue's after-run hook (`recon worker`, `recon
 * serve`): the run layer calls it without knowing what a report is.
 */
export function reportHook(deps: ReportDeps) {
  return async (runId: string, { email, log }: { email?: boolean; log: Logger }) => {
    const delivered = await reportAfterRun({ ...deps, log }, runId, email !== undefined ? { email } : {});
    if (!delivered) return undefined;
    const { subject, emailedTo, htmlPath, emlPath } = delivered;
    return { subject, emailedTo, ...(htmlPath ? { htmlPath } : {}), ...(emlPath ? { emlPath } : {}) };
  };
}
