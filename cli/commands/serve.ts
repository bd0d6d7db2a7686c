import type { Command } from 'commander';
import { commandContext, intOption, untilSignal } from '../context.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description(
      'HTTP API (runs, discrepancies), the operator console (/, /runs, /discrepancies, /dead-letters, /lag, actions), Prometheus /metrics, bull-board at /admin/queues, /healthz',
    )
    .option('--port <n>', 'port to listen on (default: RECON_API_PORT, 8080)', intOption(0, 65_535))
    .option('--no-run-worker', 'only queue runs; leave executing them to `recon worker`')
    .addHelpText(
      'after',
      `
With RECON_API_TOKEN set, it listens on every interface and every route but
/healthz needs "Authorization: Bearer <token>" (browsers: open /?token=<token>
once; a 12-hour session cookie does the rest). RECON_API_READ_TOKEN is a
viewer's token: every page and answer, no action (403). Behind a TLS proxy, set
RECON_PUBLIC_URL=https://<public name> (Secure cookie, the public origin is
the server's own). Without a token, it listens on 127.0.0.1 only, answers
only loopback Host names, without authentication, and bull-board is
read-only. In both modes POSTs from other sites are refused and
POST /api/runs is limited to RECON_API_RUNS_PER_MINUTE runs a minute.

Example:
  $ recon serve
  $ RECON_API_TOKEN=$(openssl rand -hex 24) recon serve --port 9000
  $ curl -H "Authorization: Bearer $RECON_API_TOKEN" -d '{"checks":"all","dryRun":true}' -H 'content-type: application/json' localhost:9000/api/runs`,
    )
    .action(async (opts: { port?: number; runWorker: boolean }) => {
      const {
        compensationEnqueuer,
        createAlerts,
        createApiServer,
        createCompensationQueue,
        createRunQueue,
        createWindowQueue,
        executeRun,
        listenHost,
        reportHook,
      } = await import('../../batch/index.js');
      const { closeDatabases, connectDatabases } = await import('../../db/index.js');
      const { createKafka } = await import('../../streaming/index.js');
      const { config, log } = commandContext();
      const dbs = connectDatabases(config, { max: 6, applicationName: 'recon-serve' });
      const kafka = createKafka(config, { clientId: 'recon-serve', logger: log, retries: 2 });
      const admin = kafka.admin();
      const runQueue = createRunQueue(config, log);
      const compensationQueue = createCompensationQueue(config, log);
      const alerts = createAlerts(config, log);
      // Workers mode: the runs this server executes hand their windows to the `recon worker`s.
      const windowQueue = opts.runWorker && config.runs.mode === 'workers' ? createWindowQueue(config, log) : undefined;
      try {
        // Kafka only feeds consumer lag: the API serves without it.
        const kafkaUp = await admin.connect().then(
          () => true,
          (err: Error) => (log.warn({ err: err.message }, 'Kafka unreachable: consumer lag left out of metrics and reports'), false),
        );
        const app = await createApiServer({
          config,
          dbs,
          log,
          runQueue,
          queues: [compensationQueue],
          compensationQueue,
          kafka,
          alerts,
          ...(kafkaUp ? { admin } : {}),
          ...(opts.runWorker
            ? {
                executeRun,
                afterRun: reportHook({ config, dbs, log, ...(kafkaUp ? { admin } : {}) }),
                enqueue: compensationEnqueuer({ db: dbs.recon, queue: compensationQueue, config }),
                ...(windowQueue ? { windows: { queue: windowQueue, windowsPerJob: config.runs.windowsPerJob } } : {}),
              }
            : {}),
        });
        const host = listenHost(config);
        const address = await app.listen({ port: opts.port ?? config.api.port, host });
        log.info({ address, auth: Boolean(config.api.token), runWorker: opts.runWorker }, `recon serve listening on ${address}`);
        process.stderr.write(`recon serve: ${address}  (dashboard /, API /api/runs, metrics /metrics, queues /admin/queues)\n`);
        const signal = await untilSignal();
        log.info({ signal }, 'serve stopping');
        await app.close();
      } finally {
        await runQueue.close();
        await compensationQueue.close();
        await windowQueue?.close();
        await alerts.flush(5_000);
        alerts.close();
        await admin.disconnect().catch(() => undefined);
        await closeDatabases(dbs);
      }
      process.exitCode = 0;
    });
}
