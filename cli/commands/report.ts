import type { Command } from 'commander';
import { UsageError, isUuid } from '../../core/index.js';
import { commandContext } from '../context.js';

export function register(program: Command): void {
  program
    .command('report')
    .description('rebuild the discrepancy report of a run and write it to RECON_REPORTS_DIR (.html + .eml) or e-mail it')
    .option('--run <id>', 'run id (default: the latest run)')
    .option('--email', 'e-mail it to REPORT_TO through SMTP_URL instead of writing files')
    .addHelpText(
      'after',
      '\nExample:\n  $ recon report                                  # latest run, written to reports/<run-id>.html and .eml\n  $ SMTP_URL=smtp://mail:25 REPORT_TO=ops@example.com recon report --run 0b7e5a91-... --email',
    )
    .action(async (opts: { run?: string; email?: boolean }) => {
      if (opts.run !== undefined && !isUuid(opts.run)) throw new UsageError(`--run: must be a run id (UUID), got ${JSON.stringify(opts.run)}`);
      const { buildReport, deliverReport } = await import('../../batch/index.js');
      const { closeDatabases, connectDatabases, listRuns } = await import('../../db/index.js');
      const { createKafka } = await import('../../streaming/index.js');
      const { config, log } = commandContext();
      if (opts.email && (!config.report.smtpUrl || config.report.to.length === 0)) throw new UsageError('--email needs SMTP_URL and REPORT_TO to be set');
      const dbs = connectDatabases(config, { max: 2, applicationName: 'recon-report' });
      const admin = createKafka(config, { logger: log, retries: 1 }).admin();
      try {
        const runId = opts.run ?? (await listRuns(dbs.recon, { limit: 1 })).items[0]?.id;
        if (!runId) throw new UsageError('there is no run yet: start one with `recon run`');
        const kafkaUp = await admin.connect().then(
          () => true,
          (err: Error) => (log.warn({ err: err.message }, 'Kafka unreachable: consumer lag left out'), false),
        );
        const report = await buildReport({ config, dbs, log, ...(kafkaUp ? { admin } : {}) }, runId);
        const result = await deliverReport({ config, dbs, log }, report, { email: Boolean(opts.email) });
        process.stdout.write(`${report.subject}\n`);
        if (result.emailedTo.length) process.stdout.write(`e-mailed to ${result.emailedTo.join(', ')} (${result.messageId ?? 'no message id'})\n`);
        else process.stdout.write(`written ${result.htmlPath}\n        ${result.emlPath}\n`);
      } finally {
        await admin.disconnect().catch(() => undefined);
        await closeDatabases(dbs);
      }
    });
}
