/**
 * Logical replication, for the Debezium relay: the server's `wal_level`, the
 * replication slots of a database and how much WAL each holds back, the
 * publications the connectors stream from, and the signs that outbox rows are
 * deleted soon after they are written (Debezium's "insert then delete"
 * pattern, which recon cannot reconcile).
 */
import type { Knex } from 'knex';

/** `wal_level` of the server: `logical` is what CDC needs. */
export async function walLevel(db: Knex): Promise<string> {
  const { rows } = await db.raw<{ rows: { wal_level: string }[] }>(`select current_setting('wal_level') as wal_level`);
  return rows[0]?.wal_level ?? 'unknown';
}

export interface ReplicationSlot {
  slot: string;
  plugin: string | null;
  type: string;
  active: boolean;
  /** WAL the slot keeps on disk (current LSN − restart_lsn), bytes; null for a slot that never reserved WAL. */
  retainedBytes: number | null;
  /** How far the consumer's confirmed position is behind the current LSN, bytes (logical slots; null otherwise). */
  lagBytes: number | null;
  /** `wal_status` (`reserved`, `extended`, `unreserved`, `lost`). */
  walStatus: string | null;
}

/** The replication slots of the connected database (all of them, or those named), with the WAL they hold. */
export async function replicationSlots(db: Knex, names?: readonly string[]): Promise<ReplicationSlot[]> {
  const { rows } = await db.raw<{ rows: (Omit<ReplicationSlot, 'retainedBytes' | 'lagBytes'> & { retained: string | null; lag: string | null })[] }>(
    `select slot_name as slot, plugin, slot_type as type, active, wal_status as "walStatus",
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text as retained,
            pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text as lag
       from pg_replication_slots
      where database = current_database() ${names ? 'and slot_name = any(?::text[])' : ''}
      order by slot_name`,
    names ? [[...names]] : [],
  );
  return rows.map(({ retained, lag, ...r }) => ({
    ...r,
    retainedBytes: retained === null ? null : Number(retained),
    lagBytes: lag === null ? null : Number(lag),
  }));
}

/**
 * Drop the named slot if it exists and no one streams from it. Returns
 * `dropped`, `absent`, or `active` (a connector still holds it: stop it first).
 */
export async function dropReplicationSlot(db: Knex, slot: string): Promise<'dropped' | 'absent' | 'active'> {
  const { rows } = await db.raw<{ rows: { active: boolean }[] }>(`select active from pg_replication_slots where slot_name = ?`, [slot]);
  const found = rows[0];
  if (!found) return 'absent';
  if (found.active) return 'active';
  try {
    await db.raw(`select pg_drop_replication_slot(?)`, [slot]);
    return 'dropped';
  } catch (err) {
    // 55006 object_in_use: a connector took it again between the two statements.
    if ((err as { code?: unknown }).code === '55006') return 'active';
    // 42704 undefined_object: someone else dropped it in between.
    if ((err as { code?: unknown }).code === '42704') return 'absent';
    throw err;
  }
}

/** The tables a publication of the connected database publishes (`schema.table`), or undefined when it does not exist. */
export async function publicationTables(db: Knex, publication: string): Promise<string[] | undefined> {
  const { rows } = await db.raw<{ rows: { table: string | null }[] }>(
    `select t.schemaname || '.' || t.tablename as table
       from pg_publication p left join pg_publication_tables t on t.pubname = p.pubname
      where p.pubname = ?`,
    [publication],
  );
  if (rows.length === 0) return undefined;
  return rows.flatMap((r) => (r.table ? [r.table] : []));
}

/**
 * The table the connectors' heartbeat query writes to (`heartbeat.action.query`):
 * a row inserted every heartbeat is a change in the publication, so the slot's
 * confirmed position moves past the WAL of every other table even while the
 * outbox is quiet. Its change events are dropped before they reach a topic.
 */
export const CDC_HEARTBEAT_TABLE = 'recon_cdc_heartbeat';

/** The statement each heartbeat runs: one row in, rows older than an hour out (deletes are not published). */
export const CDC_HEARTBEAT_QUERY = `delete from public.${CDC_HEARTBEAT_TABLE} where at < now() - interval '1 hour'; insert into public.${CDC_HEARTBEAT_TABLE} (at) values (now())`;

/**
 * Create, unless they exist, the heartbeat table and `publication` for
 * `public.outbox` and the heartbeat table, inserts only (updates and deletes of
 * outbox rows never reach the connector); a publication from before the
 * heartbeat table gets it added. Needs ownership of `outbox` (or a superuser).
 */
export async function ensureOutboxPublication(db: Knex, publication: string): Promise<'created' | 'exists'> {
  await db.raw(`create table if not exists public.${CDC_HEARTBEAT_TABLE} (id bigserial primary key, at timestamptz not null default now())`);
  const tables = await publicationTables(db, publication);
  if (tables !== undefined) {
    if (!tables.includes(`public.${CDC_HEARTBEAT_TABLE}`)) await db.raw(`alter publication ?? add table public.${CDC_HEARTBEAT_TABLE}`, [publication]);
    return 'exists';
  }
  try {
    await db.raw(`create publication ?? for table public.outbox, public.${CDC_HEARTBEAT_TABLE} with (publish = 'insert')`, [publication]);
    return 'created';
  } catch (err) {
    // 42710 duplicate_object: a concurrent register created it first.
    if ((err as { code?: unknown }).code === '42710') return 'exists';
    throw err;
  }
}

/** Drop the heartbeat table once no publication of the database names it any more. */
export async function dropHeartbeatTableIfUnused(db: Knex): Promise<void> {
  const { rows } = await db.raw<{ rows: unknown[] }>(`select 1 from pg_publication_tables where schemaname = 'public' and tablename = ?`, [
    CDC_HEARTBEAT_TABLE,
  ]);
  if (rows.length === 0) await db.raw(`drop table if exists public.${CDC_HEARTBEAT_TABLE}`);
}

export async function dropPublication(db: Knex, publication: string): Promise<'dropped' | 'absent'> {
  if ((await publicationTables(db, publication)) === undefined) return 'absent';
  await db.raw(`drop publication if exists ??`, [publication]);
  return 'dropped';
}

/** What says whether outbox rows are deleted soon after insert. */
export interface OutboxRetentionFacts {
  /** Rows inserted into and deleted from `outbox` since the statistics were last reset (`pg_stat_user_tables`). */
  inserted: number;
  deleted: number;
  /** Rows in the table now (estimate). */
  live: number;
  /** User triggers on `outbox` that fire on INSERT and whose function body deletes from it, or that fire on DELETE. */
  deletingTriggers: string[];
  /** Rules on `outbox` (an `ON INSERT DO ALSO DELETE` / `DO INSTEAD NOTHING` rule keeps rows out of the table). */
  rules: string[];
}

export async function outboxRetentionFacts(db: Knex): Promise<OutboxRetentionFacts | undefined> {
  const { rows } = await db.raw<{ rows: { inserted: string; deleted: string; live: string }[] }>(
    `select n_tup_ins::text as inserted, n_tup_del::text as deleted, n_live_tup::text as live
       from pg_stat_user_tables where schemaname = 'public' and relname = 'outbox'`,
  );
  const stats = rows[0];
  if (!stats) return undefined;
  // No `?` in the pattern: knex would take it for a binding.
  const { rows: triggers } = await db.raw<{ rows: { name: string }[] }>(
    `select t.tgname as name
       from pg_trigger t join pg_proc p on p.oid = t.tgfoid
      where t.tgrelid = 'public.outbox'::regclass and not t.tgisinternal
        and (p.prosrc ~* 'delete\\s+from\\s+(only\\s+)*(public\\.)*"*outbox' or (t.tgtype & 8) <> 0)
      order by 1`,
  );
  const { rows: rules } = await db.raw<{ rows: { name: string }[] }>(
    `select rulename as name from pg_rules where schemaname = 'public' and tablename = 'outbox' order by 1`,
  );
  return {
    inserted: Number(stats.inserted),
    deleted: Number(stats.deleted),
    live: Number(stats.live),
    deletingTriggers: triggers.map((t) => t.name),
    rules: rules.map((r) => r.name),
  };
}

/** What says whether the relay's work list (`unpublished_events`) gets vacuumed. */
export interface WorkListVacuumFacts {
  /** Rows and dead row versions in the work list (`pg_stat_user_tables` estimates). */
  live: number;
  dead: number;
  /** The server's `autovacuum` setting, and whether the table turns it off (`autovacuum_enabled = false`). */
  autovacuum: boolean;
  tableAutovacuum: boolean;
  /** The last vacuum of the work list, by hand or by autovacuum; null: never since the statistics were reset. */
  lastVacuum: Date | null;
}

/** Undefined when the work list does not exist (a database recon has not migrated) or has no statistics yet. */
export async function workListVacuumFacts(db: Knex): Promise<WorkListVacuumFacts | undefined> {
  const { rows } = await db.raw<{
    rows: { live: string; dead: string; autovacuum: string; table_off: boolean; last_vacuum: Date | null }[];
  }>(
    `select s.n_live_tup::text as live, s.n_dead_tup::text as dead, current_setting('autovacuum') as autovacuum,
            coalesce('autovacuum_enabled=false' = any(c.reloptions), false) as table_off,
            greatest(s.last_vacuum, s.last_autovacuum) as last_vacuum
       from pg_stat_user_tables s join pg_class c on c.oid = s.relid
      where s.schemaname = 'public' and s.relname = 'unpublished_events'`,
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    live: Number(r.live),
    dead: Number(r.dead),
    autovacuum: r.autovacuum === 'on',
    tableAutovacuum: !r.table_off,
    lastVacuum: r.last_vacuum,
  };
}
