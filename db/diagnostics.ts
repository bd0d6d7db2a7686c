/**
 * What `recon doctor` asks a database: who recon connects as and what that
 * role can see, whether the schema and the indexes the batch layer reads
 * through are there, how the planner runs the real window queries, and the
 * server's clock. Read-only, catalog queries and EXPLAINs (never ANALYZE).
 */
import knexFactory, { type Knex } from 'knex';
import type { DatabaseName } from './connections.js';
import { withDefaultUser } from './connections.js';
import { MIGRATIONS_TABLE, shippedMigrations } from './migrate.js';
import { ledgerSegmentSums } from './points/index.js';
import { consumedSegmentSums, outboxSegmentSums } from './shared/index.js';
import { usersSegmentSums } from './users/index.js';
import type { Window, SourceDatabase } from '../core/index.js';

/**
 * A small pool for diagnosis whose every wait is bounded by `timeoutMs`:
 * connecting, acquiring a connection and each statement. A server that does
 * not answer is then an error after that long, never a hang.
 */
export function connectForDiagnosis(url: string, timeoutMs: number): Knex {
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: withDefaultUser(url),
      application_name: 'recon-doctor',
      connectionTimeoutMillis: timeoutMs,
      statement_timeout: timeoutMs,
    },
    pool: { min: 0, max: 2, idleTimeoutMillis: 10_000 },
    acquireConnectionTimeout: timeoutMs,
    // knex prints failed connection attempts to the console otherwise; the caller reports them.
    log: { warn: () => undefined, error: () => undefined, deprecate: () => undefined, debug: () => undefined },
  });
}

export interface RoleFacts {
  /** `current_user`, quoted as an identifier when it needs to be (ready for a GRANT). */
  role: string;
  database: string;
  serverVersion: string;
  superuser: boolean;
  /**
   * The role has the privileges of `pg_read_all_stats` (directly or through
   * `pg_monitor`): `pg_stat_activity` shows it other roles' transaction
   * starts. Postgres checks privileges (inherited membership), so this asks
   * `pg_has_role(…, 'usage')`; a NOINHERIT membership does not count.
   */
  readsAllStats: boolean;
  /** `track_commit_timestamp` is on: the server records when each transaction committed. */
  commitTimestamps: boolean;
}

/** The role recon connects as, what it may see, and the server's version and commit-timestamp setting. */
export async function roleFacts(db: Knex): Promise<RoleFacts> {
  const { rows } = await db.raw<{ rows: RoleFacts[] }>(
    `select quote_ident(current_user) as role, current_database() as database, current_setting('server_version') as "serverVersion",
            coalesce((select rolsuper from pg_roles where rolname = current_user), false) as superuser,
            pg_has_role(current_user, 'pg_read_all_stats', 'usage') as "readsAllStats",
            current_setting('track_commit_timestamp') = 'on' as "commitTimestamps"`,
  );
  return rows[0]!;
}

/** The tables recon reads or writes in each database (their migrations create them). */
export const SCHEMA_TABLES: Record<DatabaseName, readonly string[]> = {
  users: ['users', 'outbox', 'user_balances', 'consumed_events', 'dead_letters'],
  points: ['point_ledger', 'outbox', 'consumed_events', 'dead_letters'],
  recon: ['runs', 'run_windows', 'watermarks', 'discrepancies', 'reports'],
};

/** Which of {@link SCHEMA_TABLES} the database lacks (`to_regclass`: needs no privilege on them). */
export async function missingTables(db: Knex, database: DatabaseName): Promise<string[]> {
  const { rows } = await db.raw<{ rows: { name: string }[] }>('select t as name from unnest(?::text[]) t where to_regclass(t) is null', [
    [...SCHEMA_TABLES[database]],
  ]);
  return rows.map((r) => r.name);
}

/**
 * The migrations the code ships for `database` that the database has not
 * recorded as applied (knex's {@link MIGRATIONS_TABLE}), in order: all of
 * them when the table is not there. A database whose tables exist but lacks
 * a later migration (a new column, an index) passes {@link missingTables}
 * and still breaks the consumers and runs.
 */
export async function pendingMigrations(db: Knex, database: DatabaseName): Promise<string[]> {
  const shipped = await shippedMigrations(database);
  const { rows: present } = await db.raw<{ rows: { present: boolean }[] }>('select to_regclass(?) is not null as present', [MIGRATIONS_TABLE]);
  if (!present[0]?.present) return shipped;
  const { rows } = await db.raw<{ rows: { name: string }[] }>(`select name from ${MIGRATIONS_TABLE}`);
  const recorded = new Set(rows.map((r) => r.name));
  return shipped.filter((m) => !recorded.has(m));
}

/** An index the batch layer reads through, as the migrations create it. */
export interface BatchIndexSpec {
  table: string;
  /** Leading key columns an index must have to serve (order matters). */
  columns: readonly string[];
  /** `window`: the window key the checks range over; `late`: the insert time the late-arrival scan ranges over. */
  role: 'window' | 'late';
  /** The statement that creates it (the migration's, made concurrent for a live database). */
  create: string;
}

const OUTBOX_WINDOW: BatchIndexSpec = {
  table: 'outbox',
  columns: ['occurred_at'],
  role: 'window',
  create: 'create index concurrently outbox_occurred_at_idx on outbox (occurred_at, event_id)',
};
const CONSUMED_WINDOW: BatchIndexSpec = {
  table: 'consumed_events',
  columns: ['consumer_group', 'event_occurred_at'],
  role: 'window',
  create: 'create index concurrently consumed_events_window_idx on consumed_events (consumer_group, event_occurred_at, event_id)',
};
/** Dead letters are read per window by the time they were dead-lettered (the dead-letter check, the late-arrival scan). */
const DEAD_LETTERS_WINDOW: BatchIndexSpec = {
  table: 'dead_letters',
  columns: ['dead_lettered_at'],
  role: 'window',
  create: 'create index concurrently dead_letters_at_idx on dead_letters (dead_lettered_at)',
};
const CONSUMED_LATE: BatchIndexSpec = {
  table: 'consumed_events',
  columns: ['consumed_at'],
  role: 'late',
  create: 'create index concurrently consumed_events_consumed_at_idx on consumed_events (consumed_at)',
};

/** The indexes of each source database that keep every batch query a range scan (db/migrations/<database>/). */
export const BATCH_INDEXES: Record<SourceDatabase, readonly BatchIndexSpec[]> = {
  users: [
    { table: 'users', columns: ['created_at'], role: 'window', create: 'create index concurrently users_created_at_idx on users (created_at, id)' },
    OUTBOX_WINDOW,
    CONSUMED_WINDOW,
    CONSUMED_LATE,
    DEAD_LETTERS_WINDOW,
  ],
  points: [
    {
      table: 'point_ledger',
      columns: ['user_created_at'],
      role: 'window',
      create: 'create index concurrently point_ledger_window_idx on point_ledger (user_created_at, user_id) include (amount, reason)',
    },
    {
      table: 'point_ledger',
      columns: ['created_at'],
      role: 'late',
      create: 'create index concurrently point_ledger_created_at_idx on point_ledger (created_at)',
    },
    OUTBOX_WINDOW,
    CONSUMED_WINDOW,
    CONSUMED_LATE,
    DEAD_LETTERS_WINDOW,
  ],
};

export interface FoundIndexes {
  spec: BatchIndexSpec;
  /** Valid, non-partial indexes of the table whose key starts with the spec's columns (any name). */
  found: string[];
}

/**
 * For each of {@link BATCH_INDEXES}, the indexes that can serve it: found by
 * definition (leading key columns), not by name, so one a DBA rebuilt under
 * another name counts. Partial indexes do not (the relay's index of
 * unpublished rows starts with `occurred_at` too), nor invalid ones (a failed
 * `create index concurrently`), which the planner never uses.
 */
export async function batchIndexes(db: Knex, database: SourceDatabase): Promise<FoundIndexes[]> {
  const specs = BATCH_INDEXES[database];
  const { rows } = await db.raw<{ rows: { table: string; index: string; columns: string[] }[] }>(
    `select t.relname as table, i.relname as index,
            array(select a.attname::text from unnest(x.indkey) with ordinality k(attnum, n)
                    join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
                   where k.n <= x.indnkeyatts order by k.n) as columns
       from pg_index x
       join pg_class i on i.oid = x.indexrelid
       join pg_class t on t.oid = x.indrelid
      where t.relname = any(?::text[]) and pg_table_is_visible(t.oid) and x.indisvalid and x.indpred is null`,
    [[...new Set(specs.map((s) => s.table))]],
  );
  return specs.map((spec) => ({
    spec,
    found: rows.filter((r) => r.table === spec.table && spec.columns.every((c, i) => r.columns[i] === c)).map((r) => r.index),
  }));
}

/** One node of an EXPLAIN (FORMAT JSON) plan: the fields doctor reads. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** The scans of a plan, depth first: node type, the table it reads (when the node names one) and the index it uses. */
export function planScans(plan: PlanNode): { node: string; relation?: string; index?: string }[] {
  const here = /Scan/.test(plan['Node Type'])
    ? [
        {
          node: plan['Node Type'],
          ...(plan['Relation Name'] ? { relation: plan['Relation Name'] } : {}),
          ...(plan['Index Name'] ? { index: plan['Index Name'] } : {}),
        },
      ]
    : [];
  return [...here, ...(plan.Plans ?? []).flatMap(planScans)];
}

export interface WindowQueryPlan {
  /** The table whose window key the query ranges over. */
  table: string;
  /** Scans of the plan the planner chose. */
  scans: ReturnType<typeof planScans>;
  /** The planner's row estimate of the table (`pg_class.reltuples`; -1 when never analyzed). */
  estimatedRows: number;
}

/**
 * The real window queries of a source database: the first-level checksum
 * query of each window key, as a run sends it. Each is given a transaction
 * that EXPLAINs its statements instead of running them.
 */
const WINDOW_QUERIES: Record<SourceDatabase, readonly { table: string; send(db: Knex.Transaction, window: Window, group: string): Promise<unknown> }[]> = {
  users: [
    { table: 'users', send: (db, w) => usersSegmentSums(db, [w], stride(w)) },
    { table: 'outbox', send: (db, w) => outboxSegmentSums(db, [w], stride(w)) },
    { table: 'consumed_events', send: (db, w, group) => consumedSegmentSums(db, group, [w], stride(w)) },
  ],
  points: [
    { table: 'point_ledger', send: (db, w) => ledgerSegmentSums(db, [w], stride(w)) },
    { table: 'outbox', send: (db, w) => outboxSegmentSums(db, [w], stride(w)) },
    { table: 'consumed_events', send: (db, w, group) => consumedSegmentSums(db, group, [w], stride(w)) },
  ],
};

const stride = (w: Window) => Math.max(1, Math.ceil((w.end.getTime() - w.start.getTime()) / 64));

/**
 * A transaction whose `raw` EXPLAINs each statement (with its bindings) and
 * records the plan, answering no rows; `set …` statements (the window
 * queries' `set local jit = off`) run as they are. The query builders run
 * unchanged, so what is explained is exactly what a run sends.
 */
function explainingTransaction(trx: Knex.Transaction, plans: PlanNode[]): Knex.Transaction {
  const raw = async (sql: string, bindings: readonly Knex.RawBinding[] = []) => {
    if (/^\s*set\s/i.test(sql)) {
      await trx.raw(sql, bindings);
      return { rows: [] };
    }
    const { rows } = await trx.raw<{ rows: { 'QUERY PLAN': { Plan: PlanNode }[] }[] }>(`explain (format json) ${sql}`, bindings);
    plans.push(rows[0]!['QUERY PLAN'][0]!.Plan);
    return { rows: [] };
  };
  return new Proxy(trx, { get: (target, prop, receiver) => (prop === 'raw' ? raw : (Reflect.get(target, prop, receiver) as unknown)) });
}

/**
 * The plans of the window queries of `database` over `window` (`group`: the
 * consumer group whose consumed events this database holds). The planner
 * reads a small table whole, by its own choice; with `seqscan: false` it is
 * told to avoid sequential scans (`enable_seqscan = off`), which shows
 * whether a window index could serve the query at all.
 */
export async function windowQueryPlans(
  db: Knex,
  database: SourceDatabase,
  window: Window,
  group: string,
  { seqscan = true }: { seqscan?: boolean } = {},
): Promise<WindowQueryPlan[]> {
  return db.transaction(
    async (trx) => {
      if (!seqscan) await trx.raw('set local enable_seqscan = off');
      const out: WindowQueryPlan[] = [];
      for (const q of WINDOW_QUERIES[database]) {
        const plans: PlanNode[] = [];
        await q.send(explainingTransaction(trx, plans), window, group);
        const { rows } = await trx.raw<{ rows: { n: number }[] }>('select coalesce((select reltuples from pg_class where oid = to_regclass(?)), -1) as n', [
          q.table,
        ]);
        out.push({ table: q.table, scans: plans.flatMap(planScans), estimatedRows: Number(rows[0]?.n ?? -1) });
      }
      return out;
    },
    { readOnly: true },
  );
}

/**
 * The server's clock now (`clock_timestamp()`, the real time, not the
 * transaction's start), in milliseconds since the epoch with the
 * microseconds as a fraction.
 */
export async function serverClockMs(db: Knex | Knex.Transaction): Promise<number> {
  const { rows } = await db.raw<{ rows: { ms: number }[] }>('select extract(epoch from clock_timestamp()) * 1000 as ms');
  return Number(rows[0]!.ms);
}
