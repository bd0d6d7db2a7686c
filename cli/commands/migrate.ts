import type { Command } from 'commander';
import { commandContext } from '../context.js';

export function register(program: Command): void {
  program
    .command('migrate')
    .description('create missing databases, apply pending migrations to all three, create missing Kafka topics')
    .option('--no-topics', 'leave Kafka alone (databases only)')
    .addHelpText('after', '\nExample:\n  $ recon migrate\n  $ RECON_NAMESPACE=staging recon migrate')
    .action(async (opts: { topics: boolean }) => {
      const { migrateAll } = await import('../../db/index.js');
      const { createKafka, ensureTopics, topicNames } = await import('../../streaming/index.js');
      const { config } = commandContext();
      const results = await migrateAll(config);
      for (const r of results) {
        const what = r.applied.length ? `applied ${r.applied.join(', ')}` : 'up to date';
        process.stdout.write(`${r.database.padEnd(6)} ${r.created ? 'created, ' : ''}${what}  (${redact(r.url)})\n`);
      }
      if (opts.topics) {
        const admin = createKafka(config).admin();
        await admin.connect();
        try {
          const created = await ensureTopics(admin, topicNames(config).all);
          process.stdout.write(`kafka  ${created.length ? `created topics ${created.join(', ')}` : 'topics up to date'}\n`);
        } finally {
          await admin.disconnect();
        }
      }
    });
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
