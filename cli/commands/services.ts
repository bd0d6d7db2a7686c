import { InvalidArgumentError, type Command } from 'commander';
import { commandContext } from '../context.js';

/** `--brokers`: one broker (the default) or the three-node cluster. */
function brokersOption(value: string): 1 | 3 {
  if (value !== '1' && value !== '3') throw new InvalidArgumentError('must be 1 or 3.');
  return Number(value) as 1 | 3;
}

export function register(program: Command): void {
  const services = program
    .command('services')
    .description('the local Apache Kafka broker or three-broker cluster (KRaft, from Maven Central jars; no Docker)')
    .addHelpText(
      'after',
      '\nExample:\n  $ recon services up && recon services status\n  $ KAFKA_BROKERS=127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292 recon services up --brokers 3\n  $ recon services down',
    );

  services
    .command('up')
    .description('start the local broker (or, with --brokers 3, three) unless KAFKA_BROKERS already answers (idempotent)')
    .option('--brokers <n>', '1, or 3: a KRaft cluster of three nodes on the three local addresses KAFKA_BROKERS lists', brokersOption, 1)
    .option('--timeout <seconds>', 'how long to wait for the broker to answer', '120')
    .addHelpText('after', '\nExample:\n  $ recon services up\n  $ KAFKA_BROKERS=127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292 recon services up --brokers 3')
    .action(async (opts: { timeout: string; brokers: 1 | 3 }) => {
      const { clusterLayout, clusterUp, localKafkaPaths, servicesUp } = await import('../../services/index.js');
      const { config, log } = commandContext();
      if (opts.brokers === 3) {
        const nodes = clusterLayout(config.kafkaBrokers);
        const result = await clusterUp(config, { log, timeoutMs: Number(opts.timeout) * 1000 });
        const lines = nodes.map(
          (n, i) => `  node ${n.id}  ${n.address} (controller :${n.controllerPort})  pid ${result.pids[i] ?? '-'}  log ${n.paths.logFile}`,
        );
        process.stdout.write(
          (result.action === 'reachable'
            ? `three brokers already answer at ${result.brokers.join(',')}; nothing started\n`
            : `kafka cluster of three started at ${result.brokers.join(',')} in ${(result.ms / 1000).toFixed(1)} s\n`) +
            lines.join('\n') +
            '\n',
        );
        return;
      }
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
    .description('stop the broker, or the brokers of the cluster, that `recon services up` started (by their pids); nothing else')
    .addHelpText('after', '\nExample:\n  $ recon services down')
    .action(async () => {
      const { clusterDown, servicesDown } = await import('../../services/index.js');
      const [single, nodes] = await Promise.all([servicesDown(), clusterDown()]);
      const lines: string[] = [];
      if (single.action === 'stopped') lines.push(`kafka broker (pid ${single.pid}) stopped${single.forced ? ' (killed after the shutdown timeout)' : ''}`);
      for (const [i, n] of nodes.entries()) {
        if (n.action === 'stopped') lines.push(`kafka cluster node ${i + 1} (pid ${n.pid}) stopped${n.forced ? ' (killed after the shutdown timeout)' : ''}`);
      }
      process.stdout.write(lines.length ? lines.join('\n') + '\n' : 'no broker started by recon is running\n');
    });

  services
    .command('status')
    .description('say whether Kafka answers and whether recon started it')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ recon services status --json')
    .action(async (opts: { json?: boolean }) => {
      const { brokerStatuses, servicesStatus } = await import('../../services/index.js');
      const { config } = commandContext();
      const [s, brokers] = await Promise.all([servicesStatus(config), brokerStatuses(config)]);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ ...s, perBroker: brokers }) + '\n');
      } else {
        process.stdout.write(
          [
            `kafka     ${s.reachable ? 'answers' : 'does not answer'} at ${s.brokers.join(',')} (jars ${s.jarsCached ? 'cached' : 'not fetched yet'})`,
            ...brokers.map(
              (b) =>
                `broker    ${b.address.padEnd(21)} ${b.alive ? `alive, node ${b.nodeId}` : 'not alive'}; ` +
                `${b.managedPid ? `local, pid ${b.managedPid}` : b.logFile ? 'local, not running' : 'not started by recon'}` +
                (b.logFile ? `; log ${b.logFile}` : ''),
            ),
            '',
          ].join('\n'),
        );
      }
      process.exitCode = s.reachable ? 0 : 1;
    });
}
