import { InvalidArgumentError, type Command } from 'commander';
import { commandContext, intOption } from '../context.js';

/** `--brokers`: one broker (the default) or the three-node cluster. */
function brokersOption(value: string): 1 | 3 {
  if (value !== '1' && value !== '3') throw new InvalidArgumentError('must be 1 or 3.');
  return Number(value) as 1 | 3;
}

export function register(program: Command): void {
  const services = program
    .command('services')
    .description(
      'the local Apache Kafka broker or three-broker cluster (KRaft) and, with --connect, a Kafka Connect worker with Debezium (Maven Central jars; no Docker)',
    )
    .addHelpText(
      'after',
      '\nExample:\n  $ recon services up && recon services status\n  $ recon services up --connect\n  $ KAFKA_BROKERS=127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292 recon services up --brokers 3\n  $ recon services down',
    );

  services
    .command('up')
    .description(
      'start the local broker (or, with --brokers 3, three) unless KAFKA_BROKERS already answers (idempotent); --connect also a Kafka Connect worker',
    )
    .option('--brokers <n>', '1, or 3: a KRaft cluster of three nodes on the three local addresses KAFKA_BROKERS lists', brokersOption, 1)
    .option('--timeout <seconds>', 'how long to wait for the broker (and the worker) to answer', intOption(1, 3600), 120)
    .option('--connect', 'also start a Kafka Connect worker (distributed mode, Debezium Postgres plugin) unless KAFKA_CONNECT_URL already answers')
    .addHelpText(
      'after',
      '\nExample:\n  $ recon services up\n  $ recon services up --connect && recon connect register\n  $ KAFKA_BROKERS=127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292 recon services up --brokers 3',
    )
    .action(async (opts: { timeout: number; brokers: 1 | 3; connect?: boolean }) => {
      const { clusterLayout, clusterUp, localKafkaPaths, servicesUp, connectUp, localConnectPaths } = await import('../../services/index.js');
      const { config, log } = commandContext();
      if (opts.brokers === 3) {
        const nodes = clusterLayout(config.kafkaBrokers);
        const cluster = await clusterUp(config, { log, timeoutMs: opts.timeout * 1000 });
        const lines = nodes.map(
          (n, i) => `  node ${n.id}  ${n.address} (controller :${n.controllerPort})  pid ${cluster.pids[i] ?? '-'}  log ${n.paths.logFile}`,
        );
        process.stdout.write(
          (cluster.action === 'reachable'
            ? `three brokers already answer at ${cluster.brokers.join(',')}; nothing started\n`
            : `kafka cluster of three started at ${cluster.brokers.join(',')} in ${(cluster.ms / 1000).toFixed(1)} s\n`) +
            lines.join('\n') +
            '\n',
        );
      } else {
        const result = await servicesUp(config, { log, timeoutMs: opts.timeout * 1000 });
        if (result.action === 'reachable') {
          const whose = result.pid ? `the local broker (pid ${result.pid})` : 'a broker recon did not start';
          process.stdout.write(`kafka already answers at ${result.brokers.join(',')}: ${whose}; nothing started\n`);
        } else {
          process.stdout.write(
            `kafka started at ${result.brokers.join(',')} (pid ${result.pid}) in ${(result.ms / 1000).toFixed(1)} s; log: ${localKafkaPaths().logFile}\n`,
          );
        }
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
    .description('stop the Kafka Connect worker and the broker, or the brokers of the cluster, that `recon services up` started (by their pids); nothing else')
    .addHelpText('after', '\nExample:\n  $ recon services down')
    .action(async () => {
      const { clusterDown, servicesDown, connectDown } = await import('../../services/index.js');
      // The worker first: stopped after the broker, it would spend its shutdown timeout waiting for it.
      const worker = await connectDown();
      const [single, nodes] = await Promise.all([servicesDown(), clusterDown()]);
      const lines: string[] = [
        worker.action === 'stopped'
          ? `kafka connect worker (pid ${worker.pid}) stopped${worker.forced ? ' (killed after the shutdown timeout)' : ''}`
          : 'no kafka connect worker started by recon is running',
      ];
      if (single.action === 'stopped') lines.push(`kafka broker (pid ${single.pid}) stopped${single.forced ? ' (killed after the shutdown timeout)' : ''}`);
      for (const [i, n] of nodes.entries()) {
        if (n.action === 'stopped') lines.push(`kafka cluster node ${i + 1} (pid ${n.pid}) stopped${n.forced ? ' (killed after the shutdown timeout)' : ''}`);
      }
      if (single.action !== 'stopped' && !nodes.some((n) => n.action === 'stopped')) lines.push('no broker started by recon is running');
      process.stdout.write(lines.join('\n') + '\n');
    });

  services
    .command('status')
    .description('say whether Kafka and Kafka Connect answer and whether recon started them')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExit 1 when the broker does not answer (the worker is optional).\n\nExample:\n  $ recon services status --json')
    .action(async (opts: { json?: boolean }) => {
      const { brokerStatuses, servicesStatus, connectStatus } = await import('../../services/index.js');
      const { config } = commandContext();
      const [s, brokers, c] = await Promise.all([servicesStatus(config), brokerStatuses(config), connectStatus(config)]);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ ...s, perBroker: brokers, connect: c }) + '\n');
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
