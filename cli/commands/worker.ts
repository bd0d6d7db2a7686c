import type { Command } from 'commander';
import { commandContext, intOption, untilSignal } from '../context.js';

export function register(program: Command): void {
  program
    .command('worker')
    .description(
      'run compensation jobs (grants, revocations, republishes), the sweeper that re-queues lost ones, queued reconcile runs (scheduler, API) and the windows of distributed runs, until SIGTERM/SIGINT',
    )
    .option('--concurrency <n>', 'compensation jobs at once, each a batch of discrepancies (default: RECON_WORKER_CONCURRENCY, 4)', intOption(1, 256))
    .option(
      '--sweep-interval <s>',
      'seconds between sweeps for discrepancies without a job; 0 disables (default: RECON_SWEEP_SECONDS, 60)',
      intOption(0, 86_400),
    )
    .option('--progress-interval <s>', 'seconds between progress lines (0: none)', intOption(0, 3600), 10)
    .addHelpText(
      'after',
      '\nSIGTERM or SIGINT stops taking jobs and lets the ones in flight finish. Any number of workers may run, on any host.\nEvery worker compares windows of distributed runs (`recon run --mode workers`); with RECON_RUN_MODE=workers the runs it takes\nfrom the run queue are distributed too.\n\nExample:\n  $ recon worker\n  $ RECON_NAMESPACE=staging recon worker --concurrency 8 --sweep-interval 30',
    )
    .action(async (opts: { concurrency?: number; sweepInterval?: number; progressInterval: number }) => {
      const { closeDatabases, connectDatabases } = await import('../../db/index.js');
      const {
        ALERT_FLUSH_MS,
        compensationEnqueuer,
        createAlerts,
        createRunWorker,
        createWindowQueue,
        createWindowWorker,
        executeRun,
        reportHook,
        startCompensationWorker,
      } = await import('../../batch/index.js');
      const { createKafka, createProducer, waitForBrokers } = await import('../../streaming/index.js');
      const { config, log } = commandContext();
      const concurrency = opts.concurrency ?? config.compensation.concurrency;
      // About one connection per job in flight on each database, plus the sweeper's, the status updates' and the window job's.
      const dbs = connectDatabases(config, { max: concurrency + 3, applicationName: 'recon-worker' });
      const kafka = createKafka(config, { clientId: 'recon-worker', logger: log });
      const producer = createProducer(kafka);
      const alerts = createAlerts(config, log);
      // Disconnected in `finally` whatever fails on the way (an open admin client keeps the process alive).
      const offsetsAdmin = kafka.admin();
      try {
        await waitForBrokers(config, { log });
        await producer.connect();
        await offsetsAdmin.connect();
        const groupOffsets = async (group: string, topic: string) => {
          const committed = await offsetsAdmin.fetchOffsets({ groupId: group, topics: [topic] });
          return new Map(committed.flatMap((t) => t.partitions.map((p) => [p.partition, Number(p.offset)] as [number, number])));
        };
        const running = await startCompensationWorker(
          { config, dbs, producer, log, groupOffsets, alerts },
          { concurrency, sweepIntervalSeconds: opts.sweepInterval ?? config.compensation.sweepIntervalSeconds },
        );
        // Queued runs (scheduler ticks, API requests), one at a time, beside the compensations.
        const admin = kafka.admin();
        const adminUp = await admin.connect().then(
          () => true,
          (err: Error) => (log.warn({ err: err.message }, 'Kafka admin unavailable: reports leave consumer lag out'), false),
        );
        const stopRuns = new AbortController();
        // Windows of distributed runs, whoever coordinates them; and the runs this worker takes are distributed in workers mode.
        const windowWorker = createWindowWorker({ config, dbs, log });
        const windowQueue = config.runs.mode === 'workers' ? createWindowQueue(config, log) : undefined;
        const runs = createRunWorker({
          config,
          dbs,
          log,
          executeRun,
          signal: stopRuns.signal,
          afterRun: reportHook({ config, dbs, log, ...(adminUp ? { admin } : {}) }),
          enqueue: compensationEnqueuer({ db: dbs.recon, queue: running.queue, config }),
          alerts,
          ...(windowQueue ? { windows: { queue: windowQueue, windowsPerJob: config.runs.windowsPerJob } } : {}),
        });
        let jobs = 0;
        let resolved = 0;
        let failedJobs = 0;
        running.worker.on('completed', (_job, result) => {
          jobs += 1;
          resolved += result.resolved;
        });
        running.worker.on('failed', () => {
          failedJobs += 1;
        });
        const timer = opts.progressInterval
          ? setInterval(() => log.info({ jobs, resolved, failedJobs }, 'worker progress'), opts.progressInterval * 1000)
          : undefined;
        timer?.unref();
        log.info({ namespace: config.namespace ?? null, concurrency, runMode: config.runs.mode }, 'worker started');
        const signal = await untilSignal();
        log.info({ signal }, 'worker stopping: finishing the jobs in flight');
        if (timer) clearInterval(timer);
        // A run in hand stops after its current window instead of holding shutdown for hours.
        stopRuns.abort();
        await runs.close();
        await windowWorker.close();
        await windowQueue?.close();
        await running.close();
        await admin.disconnect().catch(() => undefined);
        if (!(await alerts.flush(ALERT_FLUSH_MS))) log.warn('worker stopping with alerts not yet delivered');
        log.info({ jobs, resolved, failedJobs }, 'worker stopped');
      } finally {
        alerts.close();
        await offsetsAdmin.disconnect().catch(() => undefined);
        await producer.disconnect().catch(() => undefined);
        await closeDatabases(dbs);
      }
      process.exitCode = 0;
    });
}
