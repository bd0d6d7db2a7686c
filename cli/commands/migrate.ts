import type { Command } from 'commander';
import { UsageError } from '../../core/index.js';
import { commandContext } from '../context.js';

export function register(program: Command): void {
  program
    .command('migrate')
    .description('create missing databases, apply pending migrations to all three, create missing Kafka topics')
    .option('--no-topics', 'leave Kafka alone (databases only)')
    .option('--roles', "then create recon's least-privilege roles (reader, writer, owner) and apply their grants (as a superuser; idempotent)")
    .option('--print-grants', 'print the SQL of those roles and grants for a DBA to apply, and do nothing else')
    .addHelpText(
      'after',
      `
The roles are <RECON_ROLE_PREFIX>reader, <RECON_ROLE_PREFIX>writer and
<RECON_ROLE_PREFIX>owner (prefix default recon_); README "Least privilege"
says what each may do. Run --roles again after every upgrade.

Example:
  $ recon migrate
  $ RECON_NAMESPACE=staging recon migrate
  $ recon migrate --roles
  $ RECON_ROLE_PREFIX=prod_recon_ recon migrate --print-grants > grants.sql`,
    )
    .action(async (opts: { topics: boolean; roles?: boolean; printGrants?: boolean }) => {
      const { applyRoles, migrateAll, rolesScript } = await import('../../db/index.js');
      const { config } = commandContext();
      if (opts.printGrants) {
        if (opts.roles) throw new UsageError('--print-grants prints the SQL of --roles: choose one');
        process.stdout.write(rolesScript(config));
        return;
      }
      const { createKafka, ensureTopics, topicNames } = await import('../../streaming/index.js');
      const results = await migrateAll(config);
      for (const r of results) {
        const what = r.applied.length ? `applied ${r.applied.join(', ')}` : 'up to date';
        process.stdout.write(`${r.database.padEnd(6)} ${r.created ? 'created, ' : ''}${what}  (${redact(r.url)})\n`);
      }
      if (opts.roles) {
        for (const r of await applyRoles(config)) process.stdout.write(`${r.database.padEnd(6)} roles ${r.roles.join(', ')}: granted  (${redact(r.url)})\n`);
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
