import { InvalidArgumentError, Option, type Command } from 'commander';
import type { RunProgressEvent, RunSummary, WaitResult } from '../../batch/index.js';
import { ALL_CHECK_NAMES, ALL_DISCREPANCY_KINDS, rangeProblem, UsageError, type CheckName } from '../../core/index.js';
import { abortOnSignal, commandContext, isoOption, osActor, printTable } from '../context.js';

interface RunCommandOptions {
  check: CheckName[];
  from?: Date;
  to?: Date;
  dryRun?: boolean;
  json?: boolean;
  wait?: boolean;
  report: boolean;
  approveAll?: boolean;
  mode?: 'in-process' | 'workers';
}

const RUN_MODES = ['in-process', 'workers'] as const;

function checkOption(value: string): CheckName[] {
  if (value === 'all') return [...ALL_CHECK_NAMES];
  if (!(ALL_CHECK_NAMES as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${[...ALL_CHECK_NAMES, 'all'].join(', ')}.`);
  return [value as CheckName];
}

export function register(program: Command): void {
  program
    .command('run')
    .description('reconcile: walk windows from the watermarks up to the safe upper bound, record discrepancies, queue compensations')
    .addOption(new Option('--check <name>', `${ALL_CHECK_NAMES.join('|')}|all`).argParser(checkOption).default([...ALL_CHECK_NAMES], 'all'))
    .option('--from <iso>', 're-check a past range from this instant (with --to; watermarks stay where they are)', isoOption)
    .option('--to <iso>', 'end of the re-checked range (exclusive)', isoOption)
    .option('--dry-run', 'compare and report only: record and queue nothing')
    .option('--json', 'print the run summary as JSON instead of a table')
    .option('--wait', 'return only when every compensation this run queued is resolved or failed (needs a running `recon worker`)')
    .addOption(
      new Option('--mode <mode>', 'in-process: compare every window here; workers: hand the windows to the `recon worker`s (default: RECON_RUN_MODE)').choices(
        RUN_MODES,
      ),
    )
    .option('--no-report', 'deliver no report, whatever REPORT_POLICY says')
    .option(
      '--approve-all',
      'queue every compensation even above RECON_AUTO_COMPENSATE_LIMIT / _RATIO (kept in the audit trail as your approval); for people who mean it',
    )
    .addHelpText(
      'after',
      [
        '',
        'Prints one progress line per window on stderr, then a table of what was found per check and kind.',
        'Exits 0 when the run completed (whatever it found), 1 when it failed or another run holds its checks.',
        'A check whose compensations exceed RECON_AUTO_COMPENSATE_LIMIT or _RATIO queues none: they are held',
        'for `recon approve` / `recon dismiss` (the summary says why and how many).',
        "With --mode workers (or RECON_RUN_MODE=workers) this process holds the checks' locks and follows the run while",
        'the `recon worker`s compare its windows (a dry run always compares here).',
        '',
        'Example:',
        '  $ recon run',
        '  $ recon run --check users-vs-points --dry-run',
        '  $ recon run --wait',
        '  $ recon run --mode workers --from 2026-10-01T00:00:00Z --to 2026-11-01T00:00:00Z   # a backfill spread over the workers',
        '  $ recon run --check all --from 2026-11-20T00:00:00Z --to 2026-11-21T00:00:00Z --json',
      ].join('\n'),
    )
    .action(async (opts: RunCommandOptions) => {
      const { ALERT_FLUSH_MS, compensationEnqueuer, createAlerts, createCompensationQueue, createWindowQueue, executeRun, reportAfterRun } =
        await import('../../batch/index.js');
      const { closeDatabases, connectDatabases } = await import('../../db/index.js');
      const { compensationsLine, waitForQueued } = await import('../compensation-wait.js');
      const { config, log } = commandContext();
      const problem = rangeProblem(opts, config.windowSeconds);
      if (problem) throw new UsageError(`--${problem.field}: ${problem.message}`);
      if (opts.wait && opts.dryRun) throw new UsageError('--wait has nothing to wait for with --dry-run');
      if (opts.approveAll && opts.dryRun) throw new UsageError('--approve-all has nothing to approve with --dry-run');
      const dbs = connectDatabases(config, { max: 4, applicationName: 'recon-run' });
      // Dry runs queue nothing; otherwise compensations go to the queue as each window commits.
      const queue = opts.dryRun ? undefined : createCompensationQueue(config, log);
      const distributed = (opts.mode ?? config.runs.mode) === 'workers' && !opts.dryRun;
      const windowQueue = distributed ? createWindowQueue(config, log) : undefined;
      const interrupt = abortOnSignal();
      const alerts = createAlerts(config, log);
      try {
        const summary = await executeRun(
          {
            config,
            dbs,
            log,
            alerts,
            ...(queue ? { enqueue: compensationEnqueuer({ db: dbs.recon, queue, config }) } : {}),
            ...(windowQueue ? { windows: { queue: windowQueue, windowsPerJob: config.runs.windowsPerJob } } : {}),
          },
          {
            checks: opts.check,
            trigger: 'cli',
            ...(opts.from && opts.to ? { from: opts.from, to: opts.to } : {}),
            dryRun: opts.dryRun ?? false,
            ...(opts.approveAll ? { approveAll: true } : {}),
            actor: osActor(),
            signal: interrupt.signal,
            onProgress: (e) => {
              process.stderr.write(`${progressLine(e)}\n`);
            },
          },
        );
        let waited: WaitResult | undefined;
        if (opts.wait && queue && summary.status === 'completed' && summary.queued.length > 0) {
          waited = await waitForQueued({ queue, db: dbs.recon }, summary.queued, { json: Boolean(opts.json), signal: interrupt.signal });
        }
        if (opts.json) process.stdout.write(`${JSON.stringify(waited ? { ...summary, compensations: waited.counts } : summary, null, 2)}\n`);
        else {
          printSummary(summary);
          if (waited) process.stdout.write(compensationsLine(waited.counts));
        }
        if (opts.report && !summary.dryRun && summary.status !== 'skipped') {
          // After the wait, so the report shows what the compensations settled. REPORT_POLICY decides.
          const delivered = await reportAfterRun({ config, dbs, log }, summary.runId).catch((err: Error) => {
            process.stderr.write(`recon: the report could not be delivered: ${err.message}\n`);
            return undefined;
          });
          if (delivered) process.stderr.write(`report: ${delivered.htmlPath ?? `e-mailed to ${delivered.emailedTo.join(', ')}`}\n`);
        }
        if (summary.status !== 'completed') {
          process.stderr.write(`recon: run ${summary.status}${summary.reason ? `: ${summary.reason}` : ''}\n`);
          process.exitCode = 1;
        }
      } finally {
        // The run is over: its alerts get a bounded time to go out before the process exits.
        if (!(await alerts.flush(ALERT_FLUSH_MS))) process.stderr.write('recon: some webhook alerts were not delivered in time (see the log)\n');
        alerts.close();
        interrupt.dispose();
        await queue?.close();
        await windowQueue?.close();
        await closeDatabases(dbs);
      }
    });
}

export function progressLine(e: RunProgressEvent): string {
  const found = Object.entries(e.found)
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');
  return [
    e.check,
    `[${e.window.start.toISOString()}, ${e.window.end.toISOString()})`,
    `${e.windowsDone}/${e.windowsTotal ?? '?'}`,
    `rows ${e.rowsCompared ?? 0}`,
    `fetched ${e.rowsFetched ?? 0}`,
    `found ${found || 'none'}`,
    `${e.durationMs} ms`,
  ].join('  ');
}

function printSummary(s: RunSummary): void {
  const seconds = ((s.finishedAt.getTime() - s.startedAt.getTime()) / 1000).toFixed(1);
  process.stdout.write(`run ${s.runId}  ${s.status}${s.dryRun ? ' (dry run)' : ''}  ${s.windows} windows  ${seconds} s  ${s.queued.length} new\n`);
  const rows: Record<string, unknown>[] = [];
  for (const check of s.checks) {
    const counts = s.counts[check];
    if (!counts) continue;
    for (const kind of ALL_DISCREPANCY_KINDS) if (counts[kind]) rows.push({ check, kind, found: counts[kind] });
    if (!Object.values(counts).some(Boolean)) rows.push({ check, kind: '(none)', found: 0 });
  }
  printTable(rows);
  for (const [check, h] of Object.entries(s.held ?? {})) {
    if (!h) continue;
    const kinds = Object.entries(h.kinds)
      .map(([k, n]) => `${k}=${n}`)
      .join(' ');
    process.stdout.write(`held ${check}: ${kinds} (${h.message}); recon approve --run ${s.runId} | recon dismiss --run ${s.runId} --reason TEXT\n`);
  }
}
