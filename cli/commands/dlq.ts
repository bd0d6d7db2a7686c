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
    .description(
      'list dead letters: those recorded by recon’s consumers (both databases) and, beside them, the letters of foreign groups (a Spring service) read from the <topic>.DLT topics since --since (default: the last 7 days, by the broker’s time index), oldest first',
    )
    .option('--topic <t>', 'only dead letters of this original topic (user.created or point.granted)')
    .option('--since <iso>', 'only dead letters dead-lettered at or after this instant', isoOption)
    .option('--limit <n>', 'at most this many per database', intOption(1, 1_000_000), 1000)
    .option('--json', 'print JSON lines instead of a table')
    .addHelpText('after', '\nExample:\n  $ recon dlq list\n  $ recon dlq list --topic user.created --since 2026-11-21T00:00:00Z --json')
    .action(async (opts: { topic?: string; since?: Date; limit: number; json?: boolean }) => {
      const { connect, listDeadLetters } = await import('../../db/index.js');
      const { createKafka, readForeignLetters, DEFAULT_FOREIGN_DLQ_AGE_MS } = await import('../../streaming/index.js');
      const { config, log } = commandContext();
      const topics = resolveTopic(config, opts.topic);
      const dbs = [connect(config.databases.points, { max: 1 }), connect(config.databases.users, { max: 1 })];
      const recon = connect(config.databases.recon, { max: 1 });
      try {
        const rows = (await Promise.all(dbs.map((db) => listDeadLetters(db, { since: opts.since, limit: opts.limit }))))
          .flat()
          .filter((r) => topics.includes(r.topic))
          .sort((a, b) => a.dead_lettered_at.getTime() - b.dead_lettered_at.getTime());
        const since = opts.since ?? new Date(Date.now() - DEFAULT_FOREIGN_DLQ_AGE_MS);
        // recon's own letters are listed even when the broker cannot be read; the foreign groups' need it.
        const foreign = await readForeignLetters({ config, kafka: createKafka(config, { clientId: 'recon-dlq', logger: log }), recon }, { since, topics })
          .then((letters) => letters.slice(0, opts.limit))
          .catch((err: unknown) => {
            process.stderr.write(
              `could not read the dead-letter topics, foreign groups' letters not shown: ${err instanceof Error ? err.message : String(err)}\n`,
            );
            process.exitCode = 1;
            return [];
          });
        if (opts.json) {
          for (const r of rows) process.stdout.write(JSON.stringify({ source: 'database', ...r }) + '\n');
          for (const l of foreign)
            process.stdout.write(
              JSON.stringify({
                source: 'dlt',
                consumer_group: l.group,
                topic: l.topic,
                kafka_partition: l.partition,
                kafka_offset: l.offset,
                event_id: l.eventId ?? null,
                dialect: l.dialect,
                error_class: l.errorClass ?? null,
                error_message: l.errorMessage ?? null,
                dead_lettered_at: new Date(l.timestamp).toISOString(),
                dlt_topic: l.dltTopic,
                dlt_partition: l.dltPartition,
                dlt_offset: l.dltOffset,
                prior_replays: l.priorReplays,
                replayed_from: l.replayedFrom ?? null,
                replayed_at: l.replay?.replayed_at ?? null,
              }) + '\n',
            );
          return;
        }
        printTable([
          ...rows.map((r) => ({
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
          // A foreign group's letters (read from the DLT): no attempts; `dlt` says where the letter is, and whether its record had been replayed before.
          ...foreign.map((l) => ({
            topic: l.topic,
            partition: l.partition,
            offset: l.offset,
            group: l.group ?? '',
            // The simple class name: Spring's are long (`org.springframework.kafka.listener.ListenerExecutionFailedException`); --json has it in full.
            reason: `${(l.errorClass ?? '?').split('.').pop()}: ${l.errorMessage ?? ''}`.slice(0, 120),
            attempts: '',
            age: age(new Date(l.timestamp)),
            replayed: l.replay ? age(l.replay.replayed_at) + ' ago' : '',
            dlt: `${l.dltPartition}:${l.dltOffset} (${l.dialect})${l.priorReplays ? `, died again after ${l.priorReplays} replay(s)` : ''}`,
          })),
        ]);
      } finally {
        await Promise.all([...dbs, recon].map((db) => db.destroy()));
      }
    });

  dlq
    .command('replay')
    .description('send dead letters back to their original topic (original key, value and headers, plus x-replayed-at); each is replayed once')
    .option('--topic <t>', 'only the dead letters of this original topic (user.created or point.granted)')
    .option('--since <iso>', 'only dead letters dead-lettered at or after this instant (older ones stay for a later replay)', isoOption)
    .option(
      '--group <name>',
      'replay the letters of this foreign consumer group (its base name, e.g. welcome-mail), read from the <topic>.DLT topics since --since (default: the last 7 days)',
    )
    .option('--force', 'with --group: also replay letters whose record had already been replayed once and died again')
    .addHelpText(
      'after',
      '\nFix the cause first (a consumer that can now decode the message); the consumers deduplicate replays by event id.\nWith --group, each letter is sent back to its original topic and partition with its key, value and headers (minus the dead-letter headers) plus x-recon-replayed-from and x-recon-replay-count, once (recorded in the recon database); a letter of a record that had been replayed before is left alone unless --force.\n\nExample:\n  $ recon dlq replay\n  $ recon dlq replay --topic user.created --since 2026-11-21T00:00:00Z\n  $ recon dlq replay --group welcome-mail',
    )
    .action(async (opts: { topic?: string; since?: Date; group?: string; force?: boolean }) => {
      const { connect } = await import('../../db/index.js');
      const { createKafka, createProducer, ensureTopics, replayDeadLetters, replayGroupLetters, ownGroups, topicNames, DEFAULT_FOREIGN_DLQ_AGE_MS } =
        await import('../../streaming/index.js');
      const { config, log } = commandContext();
      if (opts.force && opts.group === undefined) throw new UsageError('--force needs --group (recon’s own letters are replayed once each anyway)');
      if (opts.group !== undefined) {
        const group = namespaced(config, opts.group);
        if (!/^[A-Za-z0-9._-]+$/.test(opts.group)) throw new UsageError(`--group must be a consumer group name (got ${JSON.stringify(opts.group)})`);
        if (ownGroups(config).includes(group)) throw new UsageError(`--group ${opts.group} is one of recon’s own groups: replay its letters without --group`);
        const kafka = createKafka(config, { clientId: 'recon-dlq', logger: log });
        const producer = createProducer(kafka);
        await producer.connect();
        const recon = connect(config.databases.recon, { max: 1 });
        try {
          const since = opts.since ?? new Date(Date.now() - DEFAULT_FOREIGN_DLQ_AGE_MS);
          const r = await replayGroupLetters(
            { config, kafka, producer, recon },
            { group, since, topics: resolveTopic(config, opts.topic), force: opts.force === true, log },
          );
          process.stdout.write(
            `replayed ${r.replayed} dead letters of ${group}${r.alreadyReplayed ? `, ${r.alreadyReplayed} already replayed` : ''}${r.refused.length ? `, refused ${r.refused.length} that died again after a replay (use --force): ${r.refused.map((l) => `${l.dltTopic}:${l.dltPartition}:${l.dltOffset}`).join(' ')}` : ''}\n`,
          );
        } finally {
          await producer.disconnect();
          await recon.destroy();
        }
        return;
      }
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
