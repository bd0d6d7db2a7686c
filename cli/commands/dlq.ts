import type { Command } from 'commander';
import { namespaced, TOPICS, UsageError, type Config } from '../../core/index.js';
import { commandContext, intOption, isoOption, printTable } from '../context.js';

/** `user.created` or its full (namespaced) name → the full name; anything else is a usage error. */
function resolveTopic(config: Config, topic: string | undefined): string[] {
  const all = Object.values(TOPICS).map((t) => namespaced(config, t));
  if (topic === undefined) return all;
  const full = all.find((t) => t === topic || t === namespaced(config, topic));
  if (!full) throw new UsageError(`--topic must be one of ${Object.values(TOPICS).join(', ')} (got ${JSON.stringify(topic)})`);
  return [full];
}

function age(since: Date, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - since.getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

export function register(program: Command): void {
  const dlq = program.command('dlq').description('dead-letter topics (<topic>.DLT): what the consumers gave up on');

  dlq
    .command('list')
    .description('list dead letters recorded by the consumers (both databases), oldest first')
    .option('--topic <t>', 'only dead letters of this original topic (user.created or point.granted)')
    .option('--since <iso>', 'only dead letters dead-lettered at or after this instant', isoOption)
    .option('--limit <n>', 'at most this many per database', intOption(1, 1_000_000), 1000)
    .option('--json', 'print JSON lines instead of a table')
    .addHelpText('after', '\nExample:\n  $ recon dlq list\n  $ recon dlq list --topic user.created --since 2026-11-21T00:00:00Z --json')
    .action(async (opts: { topic?: string; since?: Date; limit: number; json?: boolean }) => {
      const { connect, listDeadLetters } = await import('../../db/index.js');
      const { config } = commandContext();
      const topics = resolveTopic(config, opts.topic);
      const dbs = [connect(config.databases.points, { max: 1 }), connect(config.databases.users, { max: 1 })];
      try {
        const rows = (await Promise.all(dbs.map((db) => listDeadLetters(db, { since: opts.since, limit: opts.limit }))))
          .flat()
          .filter((r) => topics.includes(r.topic))
          .sort((a, b) => a.dead_lettered_at.getTime() - b.dead_lettered_at.getTime());
        if (opts.json) {
          for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
          return;
        }
        printTable(
          rows.map((r) => ({
            topic: r.topic,
            partition: r.kafka_partition,
            offset: r.kafka_offset,
            group: r.consumer_group,
            reason: `${r.error_class}: ${r.error_message}`.slice(0, 80),
            attempts: r.attempts,
            age: age(r.dead_lettered_at),
            replayed: r.replayed_at ? age(r.replayed_at) + ' ago' : '',
            // Never reached the DLT (so `replay` cannot send it): its message is still in the topic at partition/offset.
            dlt: r.dlt_error ? `not sent: ${r.dlt_error}`.slice(0, 60) : '',
          })),
        );
      } finally {
        await Promise.all(dbs.map((db) => db.destroy()));
      }
    });

  dlq
    .command('replay')
    .description('send dead letters back to their original topic (original key, value and headers, plus x-replayed-at); each is replayed once')
    .option('--topic <t>', 'only the dead letters of this original topic (user.created or point.granted)')
    .option('--since <iso>', 'only dead letters dead-lettered at or after this instant (older ones stay for a later replay)', isoOption)
    .addHelpText(
      'after',
      '\nFix the cause first (a consumer that can now decode the message); the consumers deduplicate replays by event id.\n\nExample:\n  $ recon dlq replay\n  $ recon dlq replay --topic user.created --since 2026-11-21T00:00:00Z',
    )
    .action(async (opts: { topic?: string; since?: Date }) => {
      const { connect } = await import('../../db/index.js');
      const { createKafka, createProducer, ensureTopics, replayDeadLetters, topicNames } = await import('../../streaming/index.js');
      const { config, log } = commandContext();
      const dltTopics = resolveTopic(config, opts.topic).map((t) => `${t}.DLT`);
      const kafka = createKafka(config, { clientId: 'recon-dlq', logger: log });
      const admin = kafka.admin();
      await admin.connect();
      await ensureTopics(admin, topicNames(config).all).finally(() => admin.disconnect());
      const producer = createProducer(kafka);
      await producer.connect();
      const dbs = { users: connect(config.databases.users, { max: 1 }), points: connect(config.databases.points, { max: 1 }) };
      try {
        const r = await replayDeadLetters({ config, kafka, producer, dbs }, { dltTopics, since: opts.since, log });
        process.stdout.write(
          `replayed ${r.replayed} dead letters${r.skipped ? `, skipped ${r.skipped} older than --since` : ''}${r.unknown ? `, ${r.unknown} without dead-letter headers left alone` : ''}\n`,
        );
      } finally {
        await producer.disconnect();
        await Promise.all([dbs.users.destroy(), dbs.points.destroy()]);
      }
    });
}
