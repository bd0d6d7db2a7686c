/**
 * Doctor's check of each database URL's role against its purpose (reader of
 * a source, writer of compensations, owner of the recon database), judged
 * by the same definition `recon migrate --roles` grants (`ROLE_GRANTS`):
 * a privilege the purpose needs and the role lacks fails; one beyond it
 * (UPDATE or DELETE on the append-only ledger, superuser) warns.
 */
import type { Config } from '../../core/index.js';
import { inspectRole, roleConnections, type DatabaseName, type RolePurpose } from '../../db/index.js';
import { DATABASE_VARIABLES, redactUrl } from './postgres.js';
import type { DoctorCheck } from './types.js';

const WRITER_VARIABLES: Partial<Record<DatabaseName, string>> = { users: 'USERS_WRITER_DATABASE_URL', points: 'POINTS_WRITER_DATABASE_URL' };

function variableOf(purpose: RolePurpose, database: DatabaseName): string {
  return (purpose === 'writer' ? WRITER_VARIABLES[database] : undefined) ?? DATABASE_VARIABLES[database];
}

export function privilegeChecks(config: Config): DoctorCheck[] {
  return roleConnections(config).map(({ purpose, database, url }) => {
    const variable = variableOf(purpose, database);
    return {
      name: `${database}.${purpose}-privileges`,
      target: `Postgres at ${redactUrl(url)} (${variable})`,
      // The writer's URL may be another role's; its own connection is this check's first question.
      ...(url === config.databases[database] ? { requires: [`${database}.connect`] } : {}),
      async run(ctx) {
        const found = await inspectRole(ctx.postgres(url), database, purpose);
        const as = `${found.role} as the ${purpose} of the ${database} database (${variable})`;
        if (found.missing.length) {
          return {
            status: 'fail',
            detail: `${as} lacks ${found.missing.map((m) => m.privilege).join('; ')}`,
            fix: `${found.missing.map((m) => m.fix).join('; ')} (or \`recon migrate --roles\` / \`--print-grants\`)`,
          };
        }
        if (found.excess.length) {
          return {
            status: 'warn',
            detail: `${as} has more than it needs: ${found.excess.map((e) => e.privilege).join('; ')}`,
            fix: `least privilege: ${found.excess.map((e) => e.fix).join('; ')}`,
          };
        }
        return { status: 'pass', detail: `${as} has exactly what it needs`, fix: '' };
      },
    };
  });
}
