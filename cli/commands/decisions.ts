import { InvalidArgumentError, type Command } from 'commander';
import { COMPENSABLE_KINDS, isCompensable, isDiscrepancyKind, UsageError, type DiscrepancyKind } from '../../core/index.js';
import { commandContext, intOption, osActor, printTable, runIdOption } from '../context.js';

function kindOption(value: string): DiscrepancyKind {
  if (!isDiscrepancyKind(value) || !isCompensable(value)) throw new InvalidArgumentError(`must be one of ${[...COMPENSABLE_KINDS].join(', ')}.`);
  return value;
}

interface ApproveOptions {
  run?: string;
  kind?: DiscrepancyKind;
  limit?: number;
  json?: boolean;
}

interface DismissOptions {
  run?: string;
  kind?: DiscrepancyKind;
  reason?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('approve')
    .description('queue compensations the blast-radius guard held for a run (through the normal queue: same job ids)')
    .option('--run <id>', 'the run whose held compensations to approve (required)', runIdOption)
    .option('--kind <kind>', `only this kind: ${[...COMPENSABLE_KINDS].join('|')}`, kindOption)
    .option('--limit <n>', 'at most this many, oldest first (default: all held)', intOption(1, 10_000_000))
    .option('--json', 'print the outcome as JSON')
    .addHelpText(
      'after',
      [
        '',
        'A run whose compensations of a check exceed RECON_AUTO_COMPENSATE_LIMIT or RECON_AUTO_COMPENSATE_RATIO',
        'queues none of them: they are `held`. Look at them first (the report, GET /api/runs/<id>,',
        'GET /api/discrepancies?run=<id>&status=held), then approve or dismiss. The decision is kept with your',
        'OS user name. Approve a few first with --limit and check their effect.',
        '',
        'Example:',
        '  $ recon approve --run 0b6f4c1e-8d1a-4c36-9a51-2f0f3c1d9e7a --kind missing_grant --limit 10',
        '  $ recon approve --run 0b6f4c1e-8d1a-4c36-9a51-2f0f3c1d9e7a',
      ].join('\n'),
    )
    .action(async (opts: ApproveOptions) => {
      if (!opts.run) throw new UsageError('--run: which run? (recon approve --run ID)');
      const { approveHeld, createCompensationQueue, heldForRun } = await import('../../batch/index.js');
      const { closeDatabases, connectDatabases } = await import('../../db/index.js');
      const { config, log } = commandContext();
      const dbs = connectDatabases(config, { max: 2, applicationName: 'recon-approve' });
      const queue = createCompensationQueue(config, log);
      try {
        const out = await approveHeld(
          { db: dbs.recon, queue, config, log },
          { runId: opts.run, actor: osActor(), ...(opts.kind ? { kind: opts.kind } : {}), ...(opts.limit ? { limit: opts.limit } : {}) },
        );
        const left = await heldForRun(dbs.recon, opts.run);
        if (opts.json) process.stdout.write(`${JSON.stringify({ ...out, held: left }, null, 2)}\n`);
        else {
          process.stdout.write(
            out.approved === 0
              ? `nothing held${opts.kind ? ` of ${opts.kind}` : ''} for run ${opts.run}\n`
              : `approved ${out.approved} held compensations of run ${opts.run}, ${out.queued} queued (decision ${out.decision?.id})\n`,
          );
          if (left.length) {
            process.stdout.write('still held:\n');
            printTable(left.map((h) => ({ check: h.check, kind: h.kind, held: h.count })));
          }
        }
      } finally {
        await queue.close();
        await closeDatabases(dbs);
      }
    });

  program
    .command('dismiss')
    .description('close compensations the blast-radius guard held for a run without an effect (`dismissed`, the reason kept)')
    .option('--run <id>', 'the run whose held compensations to dismiss (required)', runIdOption)
    .option('--kind <kind>', `only this kind: ${[...COMPENSABLE_KINDS].join('|')}`, kindOption)
    .option('--reason <text>', 'why they are dismissed (required; kept in the audit trail)')
    .option('--json', 'print the outcome as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Dismissed compensations are never queued, and a later run that finds the same discrepancy leaves it dismissed.',
        'The decision is kept with your OS user name and the reason.',
        '',
        'Example:',
        '  $ recon dismiss --run 0b6f4c1e-8d1a-4c36-9a51-2f0f3c1d9e7a --kind orphan_grant --reason "check bug #123, not real orphans"',
      ].join('\n'),
    )
    .action(async (opts: DismissOptions) => {
      if (!opts.run) throw new UsageError('--run: which run? (recon dismiss --run ID --reason TEXT)');
      if (!opts.reason?.trim()) throw new UsageError('--reason: say why these compensations are dismissed');
      const { dismissHeld, heldForRun } = await import('../../batch/index.js');
      const { closeDatabases, connectDatabases } = await import('../../db/index.js');
      const { config, log } = commandContext();
      const dbs = connectDatabases(config, { max: 2, applicationName: 'recon-dismiss' });
      try {
        const out = await dismissHeld(
          { db: dbs.recon, log },
          { runId: opts.run, reason: opts.reason, actor: osActor(), ...(opts.kind ? { kind: opts.kind } : {}) },
        );
        const left = await heldForRun(dbs.recon, opts.run);
        if (opts.json) process.stdout.write(`${JSON.stringify({ ...out, held: left }, null, 2)}\n`);
        else {
          process.stdout.write(
            out.dismissed === 0
              ? `nothing held${opts.kind ? ` of ${opts.kind}` : ''} for run ${opts.run}\n`
              : `dismissed ${out.dismissed} held compensations of run ${opts.run} (decision ${out.decision?.id})\n`,
          );
          if (left.length) {
            process.stdout.write('still held:\n');
            printTable(left.map((h) => ({ check: h.check, kind: h.kind, held: h.count })));
          }
        }
      } finally {
        await closeDatabases(dbs);
      }
    });
}
