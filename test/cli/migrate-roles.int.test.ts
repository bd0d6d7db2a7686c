import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, inspectRole, parseDatabaseUrl, roleConnections, roleUrl, withDefaultUser, type Knex } from '../../db/index.js';
import { runCli } from '../helpers/cli.js';
import { createTestEnv, type TestEnv } from '../helpers/env.js';

describe('recon migrate --roles and --print-grants', () => {
  let env: TestEnv;
  const opened: Knex[] = [];
  beforeAll(async () => {
    env = await createTestEnv({ topics: false });
  });
  afterAll(async () => {
    await Promise.all(opened.map((db) => db.destroy()));
    await env?.cleanup();
  });

  /** Every purpose's role, connected to its database, judged against its definition. */
  async function inspectAll(prefix: string) {
    const names = { reader: `${prefix}reader`, writer: `${prefix}writer`, owner: `${prefix}owner` };
    return Promise.all(
      roleConnections(env.adminConfig).map(({ purpose, database, url }) => {
        const db = connect(roleUrl(url, names[purpose]), { max: 1 });
        opened.push(db);
        return inspectRole(db, database, purpose);
      }),
    );
  }

  it('--roles creates the three roles with exactly their grants, and running it again changes nothing', async () => {
    for (const suffix of ['reader', 'writer', 'owner']) await env.createRole(suffix); // registered for cleanup; --roles finds them existing
    const first = await runCli(env.adminConfig, ['migrate', '--no-topics', '--roles']);
    expect(first.code, first.stderr).toBe(0);
    const prefix = env.adminConfig.rolePrefix;
    expect(first.stdout).toContain(`users  roles ${prefix}reader, ${prefix}writer: granted`);
    expect(first.stdout).toContain(`recon  roles ${prefix}owner: granted`);
    const again = await runCli(env.adminConfig, ['migrate', '--no-topics', '--roles']);
    expect(again.code, again.stderr).toBe(0);
    for (const i of await inspectAll(prefix))
      expect({ purpose: i.purpose, missing: i.missing, excess: i.excess }).toEqual({ purpose: i.purpose, missing: [], excess: [] });
  });

  it('--print-grants prints the same roles as SQL a DBA can apply, and touches nothing', async () => {
    const prefix = `${env.adminConfig.rolePrefix}dba_`;
    for (const suffix of ['reader', 'writer', 'owner']) await env.createRole(`dba_${suffix}`);
    const printed = await runCli(env.adminConfig, ['migrate', '--print-grants'], { RECON_ROLE_PREFIX: prefix });
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toMatch(/^-- recon's least-privilege roles/);
    expect(printed.stdout).toContain(`grant pg_read_all_stats to "${prefix}reader"`);
    expect(printed.stdout).not.toMatch(/grant [^;]*(update|delete)[^;(]* on "point_ledger"/);
    // Nothing was granted yet: the reader cannot even read.
    const reader = connect(roleUrl(env.adminConfig.databases.users, `${prefix}reader`), { max: 1 });
    opened.push(reader);
    await expect(reader.raw('select count(*) from users')).rejects.toMatchObject({ code: '42501' });

    // Apply it part by part, as `psql -f` would (each part after its \connect).
    const parts = printed.stdout.split(/^\\connect "([^"]+)"$/m);
    expect(parts).toHaveLength(7);
    for (let i = 1; i < parts.length; i += 2) {
      const url = Object.values(env.adminConfig.databases).find((u) => parseDatabaseUrl(u).database === parts[i])!;
      const client = new pg.Client({ connectionString: withDefaultUser(url) });
      await client.connect();
      try {
        await client.query(parts[i + 1]!);
      } finally {
        await client.end();
      }
    }
    for (const i of await inspectAll(prefix))
      expect({ purpose: i.purpose, missing: i.missing, excess: i.excess }).toEqual({ purpose: i.purpose, missing: [], excess: [] });
  });

  it('refuses --print-grants with --roles (exit 2)', async () => {
    const r = await runCli(env.adminConfig, ['migrate', '--print-grants', '--roles']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--print-grants/);
  });
});
