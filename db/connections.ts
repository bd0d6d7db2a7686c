import knexFactory, { type Knex } from 'knex';
import { userInfo } from 'node:os';
import pg from 'pg';
import { silentLogger, writerDatabaseUrls, type Config, type Logger, type SourceDatabase } from '../core/index.js';

export type { Knex };
export type DatabaseName = SourceDatabase | 'recon';

/**
 * One knex handle per database and purpose. Code never joins across them.
 * `users` and `points` read the sources (runs, reports: the reader role);
 * `usersWriter` and `pointsWriter` are what compensations write them with
 * (the writer role), the very same handles when the URLs are the same;
 * `recon` is the recon database (its owner).
 */
export interface Databases {
  users: Knex;
  points: Knex;
  recon: Knex;
  usersWriter: Knex;
  pointsWriter: Knex;
}

// bigint (int8) and numeric come back as strings by default; our counts,
// offsets and sums fit a double comfortably, and numbers keep the code plain.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

export interface PoolOptions {
  /**
   * Most connections each pool opens. Size it to the work: a consumer with
   * concurrency N needs about N. Default 4.
   */
  max?: number;
  /** `application_name` shown in `pg_stat_activity`. Default `recon`. */
  applicationName?: string;
  /** Where knex's own messages go (at debug level: the errors they describe reach the caller anyway). Default: nowhere. */
  log?: Logger;
}

/**
 * A URL without a user name means the operating-system user, as with libpq
 * (node-postgres would otherwise look only at $USER, unset under cron and CI).
 */
export function withDefaultUser(url: string): string {
  const u = new URL(url);
  if (!u.username) u.username = encodeURIComponent(userInfo().username);
  return u.toString();
}

/**
 * SQLSTATEs after which a connection is not used again: a retry on the same
 * session would fail the same way for ever, a fresh one may not.
 * - `25006` read_only_sql_transaction: the session refuses writes. After a
 *   failover it talks to a demoted primary or a standby (a new connection
 *   reaches the new primary); with `default_transaction_read_only` turned on
 *   for a while, the sessions opened meanwhile keep it after it is turned off.
 */
const DISCARD_CONNECTION_CODES = new Set(['25006']);

/** What knex puts on each raw connection of its pool (`__knex__disposed` set: destroyed instead of reused). */
interface PooledConnection {
  __knexUid?: string;
  __knex__disposed?: unknown;
}

export function connect(url: string, { max = 4, applicationName = 'recon', log = silentLogger }: PoolOptions = {}): Knex {
  // knex prints failed connection attempts with their stacks to the console by default.
  const quiet = (message: unknown) => log.debug({ database: new URL(url).pathname.slice(1) }, `knex: ${String(message).split('\n')[0]}`);
  /** The pool's live connections by knex's id, to discard one after a DISCARD_CONNECTION_CODES error. */
  const live = new Map<string, PooledConnection>();
  const db = knexFactory({
    client: 'pg',
    connection: { connectionString: withDefaultUser(url), application_name: applicationName },
    pool: {
      min: 0,
      max,
      idleTimeoutMillis: 10_000,
      afterCreate(connection: PooledConnection, done: (err: Error | null, connection: PooledConnection) => void) {
        if (connection.__knexUid) live.set(connection.__knexUid, connection);
        done(null, connection);
      },
    },
    acquireConnectionTimeout: 30_000,
    log: { warn: quiet, error: quiet, deprecate: quiet, debug: quiet },
  });
  (db.client as { pool?: { on(event: 'destroySuccess', fn: (id: number, c: PooledConnection) => void): void } }).pool?.on('destroySuccess', (_, c) => {
    if (c.__knexUid) live.delete(c.__knexUid);
  });
  db.on('query-error', (err: { code?: unknown }, query: { __knexUid?: string }) => {
    const connection = query.__knexUid === undefined ? undefined : live.get(query.__knexUid);
    // The pool validates a connection before handing it out again, and destroys a disposed one.
    if (connection && typeof err.code === 'string' && DISCARD_CONNECTION_CODES.has(err.code)) connection.__knex__disposed = `SQLSTATE ${err.code}`;
  });
  return db;
}

/**
 * Connect to the three databases of `config`, each pool sized by `options`.
 * A writer URL equal to its reader's (the default) shares the reader's pool;
 * pools open connections only when used, so a process that never
 * compensates never connects as the writer.
 */
export function connectDatabases(config: Pick<Config, 'databases'> & Partial<Pick<Config, 'writerDatabases'>>, options: PoolOptions = {}): Databases {
  const users = connect(config.databases.users, options);
  const points = connect(config.databases.points, options);
  const writers = writerDatabaseUrls(config);
  return {
    users,
    points,
    recon: connect(config.databases.recon, options),
    usersWriter: writers.users === config.databases.users ? users : connect(writers.users, options),
    pointsWriter: writers.points === config.databases.points ? points : connect(writers.points, options),
  };
}

/**
 * The databases as compensations use them: `users` and `points` are the
 * writer handles. The handlers read and write through `dbs.users` and
 * `dbs.points`, so they run as the writer role without knowing it.
 */
export function compensationDatabases(dbs: Databases): Databases {
  return { ...dbs, users: dbs.usersWriter, points: dbs.pointsWriter };
}

export async function closeDatabases(dbs: Databases): Promise<void> {
  await Promise.all([...new Set([dbs.users, dbs.points, dbs.recon, dbs.usersWriter, dbs.pointsWriter])].map((db) => db.destroy()));
}

/** One round trip: the database answers (health checks). */
export async function ping(db: Knex): Promise<void> {
  await db.raw('select 1');
}
