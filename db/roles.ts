/**
 * Least privilege: the smallest roles recon needs, defined once. `recon
 * migrate --roles` creates and grants them from this definition, `recon
 * migrate --print-grants` prints the same SQL for a DBA, and
 * {@link inspectRole} judges a connected role against it (what is missing,
 * what is more than needed), so the three never disagree.
 *
 * - **reader** (each source database): SELECT on what the checks and the
 *   reports read and on the migrations table (`recon doctor`), and membership of `pg_read_all_stats`, without which
 *   `pg_stat_activity` hides other roles' transaction starts and the safe
 *   upper bound cannot be known (recon then refuses to run).
 * - **writer** (each source database, compensations): INSERT on
 *   `point_ledger` and the points `outbox` (a grant or revocation and its
 *   `point.granted` event), UPDATE of the three publication columns of each
 *   `outbox` (a republished event is recorded as published), and SELECT on
 *   what the handlers re-read. Never UPDATE or DELETE on the ledger: it is
 *   append-only.
 * - **owner** (recon database): owns the database and every table in it
 *   (runs, windows, watermarks, discrepancies, reports, its migrations).
 */
import type { Knex } from 'knex';
import { ReconError, writerDatabaseUrls, type Config } from '../core/index.js';
import { connect, withDefaultUser, type DatabaseName } from './connections.js';
import { parseDatabaseUrl } from './create-database.js';
import { MIGRATIONS_TABLE } from './migrate.js';

export const ROLE_PURPOSES = ['reader', 'writer', 'owner'] as const;
export type RolePurpose = (typeof ROLE_PURPOSES)[number];

export const TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] as const;
export type TablePrivilege = (typeof TABLE_PRIVILEGES)[number];

/** Privileges on one table; `updateColumns` grants UPDATE of those columns only. */
export interface TableGrant {
  table: string;
  privileges: readonly TablePrivilege[];
  updateColumns?: readonly string[];
}

/** What one purpose needs on one database. */
export interface RoleNeeds {
  /** Table privileges, and nothing more on any table of the database. */
  tables: readonly TableGrant[];
  /** Member of `pg_read_all_stats` (or `pg_monitor`, which includes it): sees other sessions' transaction starts. */
  readAllStats: boolean;
  /** Owns the database and every table and sequence in it, and may create tables (its migrations). */
  owns: boolean;
}

/** The columns a republished event's outbox row gets when it is recorded as published (`markRepublished`). */
const PUBLICATION_COLUMNS = ['published_at', 'kafka_partition', 'kafka_offset'] as const;

/**
 * The one definition of recon's roles: purpose → database → needs. A table a
 * check, report or handler starts to read is added here (the least-privilege
 * tests fail until it is).
 */
export const ROLE_GRANTS: { readonly [P in RolePurpose]: Partial<Readonly<Record<DatabaseName, RoleNeeds>>> } = {
  reader: {
    // users-vs-points (users), outbox-vs-consumed (outbox; consumed events and dead letters of user-service-balances), reports (dead letters).
    users: {
      tables: [
        { table: 'users', privileges: ['SELECT'] },
        { table: 'outbox', privileges: ['SELECT'] },
        { table: 'consumed_events', privileges: ['SELECT'] },
        { table: 'dead_letters', privileges: ['SELECT'] },
        // `recon doctor` compares the migrations recorded here with those the code ships.
        { table: MIGRATIONS_TABLE, privileges: ['SELECT'] },
      ],
      readAllStats: true,
      owns: false,
    },
    // users-vs-points (ledger), outbox-vs-consumed (outbox; consumed events and dead letters of point-service), reports.
    points: {
      tables: [
        { table: 'point_ledger', privileges: ['SELECT'] },
        { table: 'outbox', privileges: ['SELECT'] },
        { table: 'consumed_events', privileges: ['SELECT'] },
        { table: 'dead_letters', privileges: ['SELECT'] },
        // `recon doctor` compares the migrations recorded here with those the code ships.
        { table: MIGRATIONS_TABLE, privileges: ['SELECT'] },
      ],
      readAllStats: true,
      owns: false,
    },
  },
  writer: {
    // Grants look up the user's window key; republishes read the outbox row, refuse a dead-lettered event, mark it published, and wait for the balances group.
    users: {
      tables: [
        { table: 'users', privileges: ['SELECT'] },
        { table: 'outbox', privileges: ['SELECT'], updateColumns: PUBLICATION_COLUMNS },
        // A republish waits for the earlier unpublished rows of its key (the relay's work list, migration 0009).
        { table: 'unpublished_events', privileges: ['SELECT'] },
        { table: 'consumed_events', privileges: ['SELECT'] },
        { table: 'dead_letters', privileges: ['SELECT'] },
      ],
      readAllStats: false,
      owns: false,
    },
    // Grants and revocations append entries and their point.granted events (ON CONFLICT DO NOTHING needs no UPDATE); republishes as above.
    points: {
      tables: [
        { table: 'point_ledger', privileges: ['SELECT', 'INSERT'] },
        { table: 'outbox', privileges: ['SELECT', 'INSERT'], updateColumns: PUBLICATION_COLUMNS },
        { table: 'unpublished_events', privileges: ['SELECT'] },
        { table: 'consumed_events', privileges: ['SELECT'] },
        { table: 'dead_letters', privileges: ['SELECT'] },
      ],
      readAllStats: false,
      owns: false,
    },
  },
  owner: {
    recon: { tables: [], readAllStats: false, owns: true },
  },
};

/** The roles' names: `<prefix>reader`, `<prefix>writer`, `<prefix>owner` (`RECON_ROLE_PREFIX`, default `recon_`). */
export function roleNames(config: Pick<Config, 'rolePrefix'>): Record<RolePurpose, string> {
  return { reader: `${config.rolePrefix}reader`, writer: `${config.rolePrefix}writer`, owner: `${config.rolePrefix}owner` };
}

/** Which URL of the configuration serves which purpose on which database (what `recon doctor` inspects). */
export function roleConnections(config: Pick<Config, 'databases' | 'writerDatabases'>): { purpose: RolePurpose; database: DatabaseName; url: string }[] {
  const writers = writerDatabaseUrls(config);
  return [
    { purpose: 'reader', database: 'users', url: config.databases.users },
    { purpose: 'reader', database: 'points', url: config.databases.points },
    { purpose: 'writer', database: 'users', url: writers.users },
    { purpose: 'writer', database: 'points', url: writers.points },
    { purpose: 'owner', database: 'recon', url: config.databases.recon },
  ];
}

/** The purposes that have needs on `database`, in a fixed order. */
export function purposesOn(database: DatabaseName): RolePurpose[] {
  return ROLE_PURPOSES.filter((p) => ROLE_GRANTS[p][database] !== undefined);
}

function needsOf(purpose: RolePurpose, database: DatabaseName): RoleNeeds {
  const needs = ROLE_GRANTS[purpose][database];
  if (!needs) throw new ReconError('INTERNAL', `the ${purpose} role has nothing to do on the ${database} database`);
  return needs;
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** `url` with its user name replaced by `role` (and no password): how tests and examples connect as a role. */
export function roleUrl(url: string, role: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(role);
  u.password = '';
  return u.toString();
}

/**
 * The SQL that gives `role` exactly what `purpose` needs on the database
 * named `databaseName` (run connected to it, as a superuser, in one
 * transaction). Idempotent: the role is created when missing (LOGIN, no
 * password: set one with ALTER ROLE, or use your usual authentication), its
 * table privileges are revoked and granted again, so a privilege granted by
 * hand beyond the definition goes away.
 */
export function roleStatements(purpose: RolePurpose, database: DatabaseName, role: string, databaseName: string): string[] {
  const needs = needsOf(purpose, database);
  const r = ident(role);
  const sql = [
    // A concurrent `--roles` may create it between the check and the create.
    `do $$ begin
  if not exists (select from pg_roles where rolname = ${literal(role)}) then
    create role ${r} login;
  end if;
exception when duplicate_object then null;
end $$`,
    `grant connect on database ${ident(databaseName)} to ${r}`,
  ];
  if (needs.owns) {
    sql.push(
      `alter database ${ident(databaseName)} owner to ${r}`,
      `grant usage, create on schema public to ${r}`,
      // Tables (with the sequences they own) and free-standing sequences; a linked sequence follows its table.
      `do $$ declare o record; begin
  for o in select c.oid::regclass as name, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'S') and c.relowner <> ${literal(role)}::regrole
              and not (c.relkind = 'S' and exists (select from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i')))
  loop
    execute format('alter %s %s owner to %I', case o.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view' else 'table' end, o.name, ${literal(role)});
  end loop;
end $$`,
    );
    return sql;
  }
  sql.push(
    `grant usage on schema public to ${r}`,
    `revoke all on all tables in schema public from ${r}`,
    `revoke all on all sequences in schema public from ${r}`,
    ...needs.tables.flatMap((t) => [
      ...(t.privileges.length ? [`grant ${t.privileges.join(', ').toLowerCase()} on ${ident(t.table)} to ${r}`] : []),
      ...(t.updateColumns?.length ? [`grant update (${t.updateColumns.map(ident).join(', ')}) on ${ident(t.table)} to ${r}`] : []),
    ]),
  );
  if (needs.readAllStats) sql.push(`grant pg_read_all_stats to ${r}`);
  return sql;
}

function hostOf(url: string): string {
  const u = new URL(withDefaultUser(url));
  return `${u.hostname}${u.port ? `:${u.port}` : ''}`;
}

/**
 * The whole script, for a DBA to read and apply with `psql -f` as a
 * superuser after `recon migrate` (each database's part on its server).
 */
export function rolesScript(config: Pick<Config, 'databases' | 'rolePrefix'>): string {
  const names = roleNames(config);
  const out = [
    `-- recon's least-privilege roles (RECON_ROLE_PREFIX=${config.rolePrefix}): ${ROLE_PURPOSES.map((p) => names[p]).join(', ')}.`,
    '-- Apply as a superuser after `recon migrate` (again after each upgrade: it is idempotent), each part on the server of its database.',
    '-- The roles log in without a password until you give them one: ALTER ROLE <name> PASSWORD ..., or your usual authentication.',
  ];
  for (const database of ['users', 'points', 'recon'] as const) {
    const { database: databaseName } = parseDatabaseUrl(config.databases[database]);
    out.push(
      '',
      `-- ${database} database ${databaseName} on ${hostOf(config.databases[database])}: ${purposesOn(database)
        .map((p) => names[p])
        .join(', ')}`,
    );
    out.push(`\\connect ${ident(databaseName)}`, 'begin;');
    for (const purpose of purposesOn(database)) for (const s of roleStatements(purpose, database, names[purpose], databaseName)) out.push(`${s};`);
    out.push('commit;');
  }
  return `${out.join('\n')}\n`;
}

export interface AppliedRoles {
  database: DatabaseName;
  url: string;
  roles: string[];
}

/**
 * Create the roles and apply their grants on each database of `config`,
 * connected with the configured URLs (which must be a superuser's: `recon
 * migrate --roles` runs as the administrator), one transaction per database.
 */
export async function applyRoles(config: Pick<Config, 'databases' | 'rolePrefix'>): Promise<AppliedRoles[]> {
  const names = roleNames(config);
  const applied: AppliedRoles[] = [];
  for (const database of ['users', 'points', 'recon'] as const) {
    const url = config.databases[database];
    const { database: databaseName } = parseDatabaseUrl(url);
    const db = connect(url, { max: 1, applicationName: 'recon-migrate' });
    try {
      await db.transaction(async (trx) => {
        for (const purpose of purposesOn(database)) for (const s of roleStatements(purpose, database, names[purpose], databaseName)) await trx.raw(s);
      });
      applied.push({ database, url, roles: purposesOn(database).map((p) => names[p]) });
    } finally {
      await db.destroy();
    }
  }
  return applied;
}

/** One privilege too few or too many, with the statement that fixes it. */
export interface PrivilegeFinding {
  /** What, in words: `SELECT on users`, `UPDATE on point_ledger`, `membership of pg_read_all_stats`. */
  privilege: string;
  /** SQL a superuser runs to fix it. */
  fix: string;
}

/** A connected role judged against its purpose on one database. */
export interface RoleInspection {
  purpose: RolePurpose;
  database: DatabaseName;
  /** The role the connection runs as (`current_user`). */
  role: string;
  superuser: boolean;
  /**
   * Whether it sees other sessions' transaction starts in `pg_stat_activity`
   * (superuser, or the privileges of `pg_read_all_stats`). Without, the safe
   * upper bound is unknowable and runs refuse to start.
   */
  seesOtherSessions: boolean;
  /** Privileges the purpose needs that the role lacks: recon fails (or fails closed) without them. */
  missing: PrivilegeFinding[];
  /** Privileges beyond the purpose (UPDATE or DELETE on the ledger, superuser, …): harmless to recon, but not least privilege. */
  excess: PrivilegeFinding[];
}

/**
 * Judge the role `db` connects as against what `purpose` needs on
 * `database` ({@link ROLE_GRANTS}): catalog reads only, any role may run it.
 */
export async function inspectRole(db: Knex, database: DatabaseName, purpose: RolePurpose): Promise<RoleInspection> {
  const needs = needsOf(purpose, database);
  const { rows: about } = await db.raw<{
    rows: {
      role: string;
      superuser: boolean;
      createrole: boolean;
      createdb: boolean;
      bypassrls: boolean;
      replication: boolean;
      sees: boolean;
      owns_database: boolean;
      schema_usage: boolean;
      schema_create: boolean;
      database_name: string;
    }[];
  }>(
    `select current_user as role, r.rolsuper as superuser, r.rolcreaterole as createrole, r.rolcreatedb as createdb,
            r.rolbypassrls as bypassrls, r.rolreplication as replication,
            pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') as sees,
            (select datdba = r.oid from pg_database where datname = current_database()) as owns_database,
            has_schema_privilege('public', 'USAGE') as schema_usage, has_schema_privilege('public', 'CREATE') as schema_create,
            current_database() as database_name
       from pg_roles r where r.rolname = current_user`,
  );
  const a = about[0]!;
  const r = ident(a.role);
  const result: RoleInspection = { purpose, database, role: a.role, superuser: a.superuser, seesOtherSessions: a.sees, missing: [], excess: [] };
  const missing = (privilege: string, fix: string) => result.missing.push({ privilege, fix });
  const excess = (privilege: string, fix: string) => result.excess.push({ privilege, fix });

  if (a.superuser) excess('superuser (every privilege, the ledger included)', `alter role ${r} nosuperuser`);
  for (const [held, attribute] of [
    [a.createrole, 'createrole'],
    [a.createdb, 'createdb'],
    [a.bypassrls, 'bypassrls'],
    [a.replication, 'replication'],
  ] as const) {
    if (held && !a.superuser) excess(attribute, `alter role ${r} no${attribute}`);
  }
  if (needs.readAllStats && !a.sees) missing('membership of pg_read_all_stats (or pg_monitor)', `grant pg_read_all_stats to ${r}`);
  if (!a.schema_usage) missing('USAGE on schema public', `grant usage on schema public to ${r}`);

  // Every table and column of the schema, with what the role holds on each (through its own grants, its roles and PUBLIC).
  const { rows: columns } = await db.raw<{ rows: { table: string; column: string; privileges: string[]; update: boolean }[] }>(
    `select c.relname as table, att.attname as column,
            array(select p from unnest(?::text[]) p where has_table_privilege(c.oid, p)) as privileges,
            has_column_privilege(c.oid, att.attnum, 'UPDATE') as update
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute att on att.attrelid = c.oid and att.attnum > 0 and not att.attisdropped
      where n.nspname = 'public' and c.relkind in ('r', 'p')
      order by 1, att.attnum`,
    [[...TABLE_PRIVILEGES]],
  );
  const tables = new Map<string, { privileges: Set<string>; updatable: string[] }>();
  for (const c of columns) {
    const t = tables.get(c.table) ?? { privileges: new Set(c.privileges), updatable: [] };
    if (c.update) t.updatable.push(c.column);
    tables.set(c.table, t);
  }

  if (needs.owns) {
    if (!a.superuser) {
      if (!a.owns_database) missing(`ownership of the database ${a.database_name}`, `alter database ${ident(a.database_name)} owner to ${r}`);
      if (!a.schema_create) missing('CREATE on schema public (migrations)', `grant create on schema public to ${r}`);
      for (const [table, t] of tables) {
        const lacking = (['SELECT', 'INSERT', 'UPDATE', 'DELETE'] as const).filter((p) => !t.privileges.has(p));
        if (lacking.length) missing(`${lacking.join(', ')} on ${table}`, `alter table ${ident(table)} owner to ${r}`);
      }
    }
    return result;
  }

  const wanted = new Map(needs.tables.map((t) => [t.table, t]));
  for (const [table, grant] of wanted) {
    const t = tables.get(table);
    if (!t) {
      missing(`table ${table} (it does not exist: run \`recon migrate\`)`, 'recon migrate');
      continue;
    }
    const lacking = grant.privileges.filter((p) => !t.privileges.has(p));
    if (lacking.length) missing(`${lacking.join(', ')} on ${table}`, `grant ${lacking.join(', ').toLowerCase()} on ${ident(table)} to ${r}`);
    const cannotUpdate = (grant.updateColumns ?? []).filter((c) => !t.updatable.includes(c));
    if (cannotUpdate.length)
      missing(`UPDATE of ${cannotUpdate.join(', ')} on ${table}`, `grant update (${cannotUpdate.map(ident).join(', ')}) on ${ident(table)} to ${r}`);
  }
  if (a.superuser) return result;
  for (const [table, t] of tables) {
    const grant = wanted.get(table);
    const allowed = new Set<string>(grant?.privileges ?? []);
    const extra = TABLE_PRIVILEGES.filter((p) => t.privileges.has(p) && !allowed.has(p));
    const columnsOnly = grant?.updateColumns ?? [];
    if (extra.length) {
      // Revoking UPDATE on the table revokes its column grants too: the needed ones are granted again.
      const regrant = extra.includes('UPDATE') && columnsOnly.length ? `; grant update (${columnsOnly.map(ident).join(', ')}) on ${ident(table)} to ${r}` : '';
      excess(`${extra.join(', ')} on ${table}`, `revoke ${extra.join(', ').toLowerCase()} on ${ident(table)} from ${r}${regrant}`);
    }
    if (!extra.includes('UPDATE')) {
      const beyond = t.updatable.filter((c) => !columnsOnly.includes(c));
      if (beyond.length) excess(`UPDATE of ${beyond.join(', ')} on ${table}`, `revoke update (${beyond.map(ident).join(', ')}) on ${ident(table)} from ${r}`);
    }
  }
  return result;
}

/** One configured URL judged for its purpose: its inspection, or why it could not be inspected (it does not connect, say). */
export type RoleCheck = { purpose: RolePurpose; database: DatabaseName; url: string } & ({ inspection: RoleInspection } | { error: unknown });

/**
 * Connect with each URL of `config` in turn ({@link roleConnections}) and
 * judge its role for its purpose: what `recon doctor` reports. Never throws
 * for a URL that fails; its error is in the result.
 */
export async function inspectRoles(config: Pick<Config, 'databases' | 'writerDatabases'>): Promise<RoleCheck[]> {
  return Promise.all(
    roleConnections(config).map(async ({ purpose, database, url }): Promise<RoleCheck> => {
      const db = connect(url, { max: 1, applicationName: 'recon-doctor' });
      try {
        return { purpose, database, url, inspection: await inspectRole(db, database, purpose) };
      } catch (error) {
        return { purpose, database, url, error };
      } finally {
        await db.destroy();
      }
    }),
  );
}
