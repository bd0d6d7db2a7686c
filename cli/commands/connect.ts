import type { Command } from 'commander';
import { commandContext, printTable } from '../context.js';

const bytes = (n: number | undefined) => (n === undefined ? '' : String(n));

export function register(program: Command): void {
  const connect = program
    .command('connect')
    .description('the Debezium relay on Kafka Connect: one Postgres connector per outbox (<namespace.>users-outbox, <namespace.>points-outbox)')
    .addHelpText(
      'after',
      '\nNeeds wal_level=logical on both source databases and a worker at KAFKA_CONNECT_URL (`recon services up --connect`).\nSet RECON_RELAY=debezium once the connectors run, so that the polling relay is never started beside them.\n\nExample:\n  $ recon services up --connect && recon connect register && recon connect status\n  $ recon connect remove',
    );

  connect
    .command('register')
    .description('create or update (idempotent) both outbox connectors, their publications and heartbeat topics')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nRefuses (exit 1) when a source database does not run with wal_level=logical.\n\nExample:\n  $ recon connect register')
    .action(async (opts: { json?: boolean }) => {
      const { registerOutboxConnectors } = await import('../../streaming/index.js');
      const { config, log } = commandContext();
      const results = await registerOutboxConnectors(config, { log });
      if (opts.json) process.stdout.write(JSON.stringify(results) + '\n');
      else printTable(results.map((r) => ({ connector: r.connector, action: r.action, publication: r.publication, slot: r.slot })));
      if (config.relay !== 'debezium') {
        process.stderr.write(
          'recon: note: RECON_RELAY is not debezium: set it, or the polling relay may publish the same rows too (consumers deduplicate, but every event is sent twice)\n',
        );
      }
    });

  connect
    .command('status')
    .description("each connector's and task's state, and its replication slot's lag in bytes")
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExit 1 when a connector or one of its tasks is not RUNNING (missing, paused, failed).\n\nExample:\n  $ recon connect status --json',
    )
    .action(async (opts: { json?: boolean }) => {
      const { outboxConnectorStatus } = await import('../../streaming/index.js');
      const { config } = commandContext();
      const reports = await outboxConnectorStatus(config);
      if (opts.json) process.stdout.write(JSON.stringify(reports) + '\n');
      else
        printTable(
          reports.map((r) => ({
            connector: r.connector,
            state: r.state,
            tasks: r.tasks.map((t) => `${t.id}:${t.state}`).join(' '),
            slot: r.slot,
            'slot active': r.slotActive === undefined ? 'no slot' : r.slotActive ? 'yes' : 'no',
            'lag bytes': bytes(r.lagBytes),
            'retained bytes': bytes(r.retainedBytes),
          })),
        );
      for (const r of reports) for (const t of r.tasks) if (t.trace) process.stderr.write(`recon: ${r.connector} task ${t.id}: ${t.trace}\n`);
      const healthy = reports.every((r) => r.state === 'RUNNING' && r.tasks.length > 0 && r.tasks.every((t) => t.state === 'RUNNING'));
      process.exitCode = healthy ? 0 : 1;
    });

  connect
    .command('remove')
    .description('delete both connectors, then drop their replication slots and publications')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nA deleted connector leaves its slot behind, and a slot nobody reads holds WAL for ever: this drops it too.\n\nExample:\n  $ recon connect remove',
    )
    .action(async (opts: { json?: boolean }) => {
      const { removeOutboxConnectors } = await import('../../streaming/index.js');
      const { config, log } = commandContext();
      const results = await removeOutboxConnectors(config, { log });
      if (opts.json) process.stdout.write(JSON.stringify(results) + '\n');
      else printTable(results.map((r) => ({ connector: r.connector, deleted: r.deleted ? 'yes' : 'was absent', slot: r.slot, publication: r.publication })));
      process.exitCode = results.some((r) => r.slot === 'active') ? 1 : 0;
    });
}
