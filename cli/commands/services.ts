import type { Command } from 'commander';
import { commandContext } from '../context.js';

export function register(program: Command): void {
  const services = program
    .command('services')
    .description('the local Apache Kafka broker (KRaft, from Maven Central jars; no Docker)')
    .addHelpText('after', '\nExample:\n  $ recon services up && recon services status\n  $ recon services down');

  services
    .command('up')
    .description('start the local broker unless KAFKA_BROKERS already answers (idempotent)')
    .option('--timeout <seconds>', 'how long to wait for the broker to answer', '120')
    .addHelpText('after', '\nExample:\n  $ recon services up')
    .action(async (opts: { timeout: string }) => {
      const { localKafkaPaths, servicesUp } = await import('../../services/index.js');
      const { config, log } = commandContext();
      const result = await servicesUp(config, { log, timeoutMs: Number(opts.timeout) * 1000 });
      if (result.action === 'reachable') {
        const whose = result.pid ? `the local broker (pid ${result.pid})` : 'a broker recon did not start';
        process.stdout.write(`kafka already answers at ${result.brokers.join(',')}: ${whose}; nothing started\n`);
      } else {
        process.stdout.write(
          `kafka started at ${result.brokers.join(',')} (pid ${result.pid}) in ${(result.ms / 1000).toFixed(1)} s; log: ${localKafkaPaths().logFile}\n`,
        );
      }
    });

  services
    .command('down')
    .description('stop the broker that `recon services up` started (by its pid); nothing else')
    .addHelpText('after', '\nExample:\n  $ recon services down')
    .action(async () => {
      const { servicesDown } = await import('../../services/index.js');
      const result = await servicesDown();
      process.stdout.write(
        result.action === 'stopped'
          ? `kafka broker (pid ${result.pid}) stopped${result.forced ? ' (killed after the shutdown timeout)' : ''}\n`
          : 'no broker started by recon is running\n',
      );
    });

  services
    .command('status')
    .description('say whether Kafka answers and whether recon started it')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ recon services status --json')
    .action(async (opts: { json?: boolean }) => {
      const { servicesStatus } = await import('../../services/index.js');
      const { config } = commandContext();
      const s = await servicesStatus(config);
      if (opts.json) {
        process.stdout.write(JSON.stringify(s) + '\n');
      } else {
        process.stdout.write(
          [
            `kafka     ${s.reachable ? 'answers' : 'does not answer'} at ${s.brokers.join(',')}`,
            `local     ${s.managedPid ? `running, pid ${s.managedPid}` : 'not running'} (jars ${s.jarsCached ? 'cached' : 'not fetched yet'})`,
            `log       ${s.logFile}`,
            '',
          ].join('\n'),
        );
      }
      process.exitCode = s.reachable ? 0 : 1;
    });
}
