import { InvalidArgumentError, Option, type Command } from 'commander';
import type { WaitResult } from '../../batch/index.js';
import { ALL_CHECK_NAMES, COMPENSABLE_KINDS, isCompensable, isDiscrepancyKind, UsageError, type CheckName, type DiscrepancyKind } from '../../core/index.js';
import { abortOnSignal, commandContext, intOption, isoOption, printTable } from '../context.js';

interface RetryCommandOptions {
  kind?: DiscrepancyKind[];
  check?: CheckName;
  id?: string[];
  since?: Date;
  limit: number;
  dryRun?: boolean;
  wait?: boolean;
  json?: boolean;
}

/** batch's RETRY_DEFAULT_LIMIT, written out so that `--help` loads no batch code (test/cli/lazy-commands.test.ts checks they agree). */
const DEFAULT_LIMIT = 10_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function kindOption(value: string, previous: DiscrepancyKind[] = []): DiscrepancyKind[] {
  if (!isDiscrepancyKind(value) || !isCompensable(value)) throw new InvalidArgumentError(`must be one of ${[...COMPENSABLE_KINDS].join(', ')}.`);
  return [...previous, value as DiscrepancyKind];
}

function idOption(value: string, previous: string[] = []): string[] {
  if (!UUID.test(value)) throw new InvalidArgumentError('must be a discrepancy id (a UUID).');
  return [...previous, value];
}

export function register(program: Command): void {
  program
    .command('retry')
    .description('give failed compensations another try: reopen the selected failed discrepancies and queue them again')
    .option('--kind <kind>', `only this kind (repeatable): ${[...COMPENSABLE_KINDS].join('|')}`, kindOption)
    .addOption(new Option('--check <name>', 'only discrepancies of this check').choices(ALL_CHECK_NAMES))
    .option('--id <uuid>', 'only this discrepancy (repeatable)', idOption)
    .option('--since <iso>', 'only those that failed at or after this instant', isoOption)
    .option('--limit <n>', 'at most this many, oldest failure first', intOption(1, 1_000_000), DEFAULT_LIMIT)
    .option('--dry-run', 'count what would be retried; change nothing')
    .option('--wait', 'return only when every retried compensation is resolved or failed (needs a running `recon worker`)')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      [
        '',
        'A compensation ends `failed` when its attempts run out (an outage longer than its backoff) or on a',
        'permanent error (see last_error in the report or GET /api/discrepancies?status=failed). Fix the cause,',
        'then retry. Handlers check the invariant first: one that has meanwhile been put right resolves without an effect.',
        'With --wait, exits 1 when some of them failed again.',
        '',
        'Example:',
        '  $ recon retry --dry-run',
        '  $ recon retry --kind unconsumed_event --since 2026-11-21T00:00:00Z --wait',
      ].join('\n'),
    )
    .action(async (opts: RetryCommandOptions) => {
      if (opts.wait && opts.dryRun) throw new UsageError('--wait has nothing to wait for with --dry-run');
      const { createCompensationQueue, retryFailedCompensations } = await import('../../batch/index.js');
      const { closeDatabases, connectDatabases } = await import('../../db/index.js');
      const { compensationsLine, waitForQueued } = await import('../compensation-wait.js');
      const { config, log } = commandContext();
      const dbs = connectDatabases(config, { max: 2, applicationName: 'recon-retry' });
      const queue = opts.dryRun ? undefined : createCompensationQueue(config, log);
      const interrupt = abortOnSignal();
      try {
        const summary = await retryFailedCompensations(
          { db: dbs.recon, config, ...(queue ? { queue } : {}) },
          {
            ...(opts.kind ? { kinds: opts.kind } : {}),
            ...(opts.check ? { check: opts.check } : {}),
            ...(opts.id ? { ids: opts.id } : {}),
            ...(opts.since ? { failedSince: opts.since } : {}),
            limit: opts.limit,
            dryRun: opts.dryRun ?? false,
          },
        );
        let waited: WaitResult | undefined;
        if (opts.wait && queue && summary.ids.length > 0) {
          waited = await waitForQueued({ queue, db: dbs.recon }, summary.ids, { json: Boolean(opts.json), signal: interrupt.signal });
        }
        if (opts.json) {
          const { ids, ...rest } = summary;
          process.stdout.write(`${JSON.stringify({ ...rest, retried: ids.length, ...(waited ? { compensations: waited.counts } : {}) }, null, 2)}\n`);
        } else {
          const total = Object.values(summary.byKind).reduce((a, n) => a + (n ?? 0), 0);
          process.stdout.write(
            summary.dryRun
              ? `${total} failed compensations would be retried (dry run)\n`
              : `${summary.ids.length} failed compensations reopened, ${summary.queued} queued in ${summary.jobs} jobs\n`,
          );
          printTable(Object.entries(summary.byKind).map(([kind, n]) => ({ kind, [summary.dryRun ? 'would retry' : 'retried']: n })));
          if (waited) process.stdout.write(compensationsLine(waited.counts));
        }
        if (waited && waited.counts.failed > 0) process.exitCode = 1;
      } finally {
        interrupt.dispose();
        await queue?.close();
        await closeDatabases(dbs);
      }
    });
}
