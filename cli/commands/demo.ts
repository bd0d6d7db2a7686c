import type { Command } from 'commander';
import { UsageError, createLogger } from '../../core/index.js';
import { commandContext, intOption } from '../context.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('the whole system end to end: stream users with faults, reconcile, compensate, report (fresh demo databases)')
    .option('--users <n>', 'users to create', intOption(100, 10_000_000), 20_000)
    .option('--seed <n>', 'seed of the fault draws (printed, so a run can be replayed)', intOption(0, 2 ** 32 - 1))
    .addHelpText(
      'after',
      [
        '',
        'Starts the local Kafka broker if none answers (and stops it at the end), migrates fresh databases',
        '<name>_demo beside the configured ones, runs the relay, consumers and a compensation worker, creates',
        'users with 1% rollbacks (direct mode), 1% lost, 1% duplicated and 0.1% poison events, reconciles,',
        'compensates, re-checks the same range and writes the report. Exits 0 when no drift is left.',
        '',
        'Example:',
        '  $ recon demo',
        '  $ recon demo --users 5000 --seed 42',
      ].join('\n'),
    )
    .action(async (opts: { users: number; seed?: number }) => {
      const { config } = commandContext();
      if (config.relay === 'debezium') {
        throw new UsageError(
          'RECON_RELAY=debezium: the demo relays its fresh demo databases with the polling relay, which does not run beside Debezium; run it without RECON_RELAY (or with RECON_RELAY=polling)',
        );
      }
      const { runDemo } = await import('../demo-scenario.js');
      // The demo's screen is its own output; routine info logs would only bury it.
      const log = createLogger({ logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel });
      const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
      const result = await runDemo(config, log, { users: opts.users, seed, out: process.stdout });
      process.exitCode = result.remaining === 0 ? 0 : 1;
    });
}
