import type { Command } from 'commander';
import { commandContext, untilSignal } from '../context.js';

export function register(program: Command): void {
  program
    .command('scheduler')
    .description(
      'queue one reconcile run (all checks) per tick of RECON_CRON in RECON_TZ; `recon worker` or `recon serve` executes it; with RECON_PRUNE_CRON also prune at its ticks',
    )
    .option('--no-catch-up', 'do not queue a run at start when a tick was missed')
    .addHelpText(
      'after',
      `
Any number of schedulers may run: each tick queues one run (its job id is the
tick), and the others log that it was already queued. At start, if a tick has
passed since the last scheduled run started, one run is queued at once.
With RECON_PRUNE_CRON set, the scheduler also runs \`recon prune\` itself at each
of its ticks (a prune meeting a run of its checks gives way and says so).

Example:
  $ RECON_CRON="0 3 * * *" RECON_TZ=Europe/Paris recon scheduler
  $ RECON_CRON="*/15 * * * *" recon scheduler --no-catch-up
  $ RECON_PRUNE_CRON="30 4 * * 0" recon scheduler`,
    )
    .action(async (opts: { catchUp: boolean }) => {
      const { createRunQueue, executePrune, scheduleTicks, startScheduler } = await import('../../batch/index.js');
      const { closeDatabases, connectDatabases } = await import('../../db/index.js');
      const { config, log } = commandContext();
      const dbs = connectDatabases(config, { max: 1, applicationName: 'recon-scheduler' });
      const runQueue = createRunQueue(config, log);
      try {
        const scheduler = await startScheduler({ config, dbs, log, runQueue }, { catchUp: opts.catchUp });
        const pruneCron = config.prune.cron;
        const pruning = pruneCron
          ? scheduleTicks(
              pruneCron,
              config.timeZone,
              async (tick) => {
                log.info({ tick: tick.toISOString() }, 'scheduler: prune started');
                await executePrune({ config, recon: dbs.recon, log });
              },
              log,
              `recon-prune:${config.namespace ?? ''}`,
            )
          : undefined;
        const next = scheduler.task.getNextRun();
        process.stderr.write(
          `recon scheduler: "${config.cron}" (${config.timeZone}), next run ${next ? next.toISOString() : 'never'}${scheduler.caughtUp ? `; caught up on ${scheduler.caughtUp.toISOString()}` : ''}${pruneCron ? `; prune "${pruneCron}"` : ''}\n`,
        );
        const signal = await untilSignal();
        log.info({ signal }, 'scheduler stopping');
        await scheduler.stop();
        await pruning?.destroy();
      } finally {
        await runQueue.close();
        await closeDatabases(dbs);
      }
      process.exitCode = 0;
    });
}
