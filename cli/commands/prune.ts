import { InvalidArgumentError, type Command } from 'commander';
import type { PruneSummary } from '../../batch/index.js';
import { DURATION_HINT, parseDuration } from '../../core/index.js';
import { abortOnSignal, commandContext, intOption, printTable } from '../context.js';

interface PruneCommandOptions {
  olderThan?: number;
  dryRun?: boolean;
  batchSize: number;
  json?: boolean;
}

/** commander argument parser for `--older-than`: `30d`, `12h`, `2w`. */
export function durationOption(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError(`${DURATION_HINT}.`);
  return ms;
}

export function register(program: Command): void {
  program
    .command('prune')
    .description('retention: delete outbox and consumed-event rows, old window records and closed discrepancies behind every watermark')
    .option('--older-than <duration>', 'keep at least this much history (30d, 12h, 2w); default RECON_RETENTION_DAYS days', durationOption)
    .option('--dry-run', 'count what would be deleted; record and delete nothing')
    .option('--batch-size <n>', 'rows per delete batch (each its own short transaction)', intOption(1, 100_000), 5000)
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Deletes only where it is safe: behind the watermark of every check that reads the row, before the oldest',
        'window with an open (detected, queued, held, failed) discrepancy, and older than the retention. An event',
        'goes with both its halves (outbox row and consumed rows). users and point_ledger are never touched.',
        'The horizon is recorded first: runs, --from re-checks and late-arrival scans never look behind it.',
        'Deletes on the source databases need SELECT and DELETE on outbox and consumed_events',
        '(USERS_PRUNE_DATABASE_URL / POINTS_PRUNE_DATABASE_URL; default: the database URL).',
        '',
        'Example:',
        '  $ recon prune --dry-run',
        '  $ recon prune --older-than 45d',
      ].join('\n'),
    )
    .action(async (opts: PruneCommandOptions) => {
      const { executePrune } = await import('../../batch/index.js');
      const { connect } = await import('../../db/index.js');
      const { config, log } = commandContext();
      const recon = connect(config.databases.recon, { max: 2, applicationName: 'recon-prune' });
      const interrupt = abortOnSignal();
      let lastLine = 0;
      try {
        const summary = await executePrune(
          { config, recon, log },
          {
            ...(opts.olderThan !== undefined ? { olderThanMs: opts.olderThan } : {}),
            dryRun: opts.dryRun ?? false,
            batchSize: opts.batchSize,
            signal: interrupt.signal,
            onProgress: (p) => {
              if (opts.json || Date.now() - lastLine < 2000) return;
              lastLine = Date.now();
              process.stderr.write(`prune ${p.database}.${p.table}: ${p.deleted} rows, ${Math.round(p.rowsPerSecond)}/s\n`);
            },
          },
        );
        if (opts.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        else printSummary(summary);
      } finally {
        interrupt.dispose();
        await recon.destroy();
      }
    });
}

function printSummary(s: PruneSummary): void {
  const verb = s.dryRun ? 'would delete' : 'deleted';
  process.stdout.write(
    `${s.dryRun ? 'dry run: ' : ''}retention cutoff ${s.cutoff.toISOString()}; outbox and consumed events pruned before ${s.sourceHorizon ? s.sourceHorizon.toISOString() : '(nothing: a check reading them has no watermark yet)'}\n`,
  );
  for (const [check, h] of Object.entries(s.horizons)) process.stdout.write(`  ${check}: horizon ${h ? h.toISOString() : 'none (no watermark yet)'}\n`);
  printTable(s.tables.map((t) => ({ database: t.database, table: t.table, [verb]: t.deleted, 'kept (other half newer)': t.kept })));
  if (!s.dryRun)
    process.stdout.write(
      `${s.batches} delete batches, longest transaction ${Math.round(s.longestTransactionMs)} ms, ${(s.durationMs / 1000).toFixed(1)} s in all\n`,
    );
}
