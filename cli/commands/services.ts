import type { Command } from 'commander';
import { commandContext, intOption } from '../context.js';

export function register(program: Command): void {
  const services = program
    .command('services')
    .description('the local Apache Kafka broker (KRaft) and, with --connect, a Kafka Connect worker with Debezium (Maven Central jars; no Docker)')
    .addHelpText('after', '\nExample:\n  $ recon services up && recon services status\n  $ recon services up --connect\n  $ recon services down');

  services
    .command('up')
    .description('start the local broker unless KAFKA_BROKERS already answers (idempotent); --connect also a Kafka Connect worker')
    .option('--timeout <seconds>', 'how long to wait for the broker (and the worker) to answer', intOption(1, 3600), 120)
    .option('--connect', 'also start a Kafka Connect worker (distributed mode, Debezium Postgres plugin) unless KAFKA_CONNECT_URL already answers')
    .addHelpText('after', '\nExample:\n  $ recon services up\n  $ recon services up --connect && recon connect register')
    .action(async (opts: { timeout: number; connect?: boolean }) => {
      const { localKafkaPaths, servicesUp, connectUp, localConnectPaths } = await import('../../services/index.js');
      const { config, log } = commandContext();
      const result = await servicesUp(config, { log, timeoutMs: opts.timeout * 1000 });
      if (result.action === 'reachable') {
        const whose = result.pid ? `the local broker (pid ${result.pid})` : 'a broker recon did not start';
        process.stdout.write(`kafka already answers at ${result.brokers.join(',')}: ${whose}; nothing started\n`);
      } else {
        process.stdout.write(
          `kafka started at ${result.brokers.join(',')} (pid ${result.pid}) in ${(result.ms / 1000).toFixed(1)} s; log: ${localKafkaPaths().logFile}\n`,
        );
      }
      if (!opts.connect) return;
      const worker = await connectUp(config, { log, timeoutMs: Math.max(opts.timeout, 180) * 1000 });
      if (worker.action === 'reachable') {
        const whose = worker.pid ? `the local worker (pid ${worker.pid})` : 'a worker recon did not start';
        process.stdout.write(`kafka connect already answers at ${worker.url}: ${whose}; nothing started\n`);
      } else {
        process.stdout.write(
          `kafka connect started at ${worker.url} (pid ${worker.pid}) in ${(worker.ms / 1000).toFixed(1)} s; log: ${localConnectPaths().logFile}\n`,
        );
      }
    });

  services
    .command('down')
    .description('stop the Kafka Connect worker and the broker that `recon services up` started (by their pids); nothing else')
    .addHelpText('after', '\nExample:\n  $ recon services down')
    .action(async () => {
      const { servicesDown, connectDown } = await import('../../services/index.js');
      // The worker first: stopped after the broker, it would spend its shutdown timeout waiting for it.
      const worker = await connectDown();
      process.stdout.write(
        worker.action === 'stopped'
          ? `kafka connect worker (pid ${worker.pid}) stopped${worker.forced ? ' (killed after the shutdown timeout)' : ''}\n`
          : 'no kafka connect worker started by recon is running\n',
      );
      const result = await servicesDown();
      process.stdout.write(
        result.action === 'stopped'
          ? `kafka broker (pid ${result.pid}) stopped${result.forced ? ' (killed after the shutdown timeout)' : ''}\n`
          : 'no broker started by recon is running\n',
      );
    });

  services
    .command('status')
    .description('say whether Kafka and Kafka Connect answer and whether recon started them')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExit 1 when the broker does not answer (the worker is optional).\n\nExample:\n  $ recon services status --json')
    .action(async (opts: { json?: boolean }) => {
      const { servicesStatus, connectStatus } = await import('../../services/index.js');
      const { config } = commandContext();
      const s = await servicesStatus(config);
      const c = await connectStatus(config);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ ...s, connect: c }) + '\n');
      } else {
        process.stdout.write(
          [
            `kafka     ${s.reachable ? 'answers' : 'does not answer'} at ${s.brokers.join(',')}`,
            `local     ${s.managedPid ? `running, pid ${s.managedPid}` : 'not running'} (jars ${s.jarsCached ? 'cached' : 'not fetched yet'})`,
            `log       ${s.logFile}`,
            `connect   ${c.reachable ? `answers at ${c.url} (Kafka Connect ${c.version})` : `does not answer at ${c.url}`}`,
            `worker    ${c.managedPid ? `running, pid ${c.managedPid}` : 'not running'} (jars ${c.jarsCached ? 'cached' : 'not fetched yet'})`,
            `log       ${c.logFile}`,
            '',
          ].join('\n'),
        );
      }
      process.exitCode = s.reachable ? 0 : 1;
    });
}
