/** The per-check advisory locks of runs (single flight), held on a connection of their own. */
import type { Knex } from 'knex';
import pg from 'pg';
import { ReconError, describeError, type CheckName } from '../../core/index.js';
import { withDefaultUser } from '../connections.js';

/**
 * Session-level advisory locks that keep a check single-flight across
 * processes (scheduler, API, command line). They live on a dedicated
 * connection, outside any pool (a pool may recycle an idle connection and
 * silently drop a session lock); closing it releases them.
 */
export interface CheckLocks {
  /** Try to take the lock of `check`; false when another run holds it. */
  tryLock(check: CheckName): Promise<boolean>;
  /**
   * Throw when the connection holding the locks is gone (the server ended it,
   * the network dropped it): its locks went with it, and another run may now
   * hold the check. One round trip; called before each window commits.
   */
  assertHeld(): Promise<void>;
  /**
   * The backend pid of the session that holds the locks: a distributed run
   * records it, and each window commit checks that this very session still
   * holds its check's lock (see {@link checkLockFence}).
   */
  backendPid(): Promise<number>;
  /** Release every lock taken and close the connection. */
  release(): Promise<void>;
}

export async function openCheckLocks(reconUrl: string): Promise<CheckLocks> {
  const client = new pg.Client({ connectionString: withDefaultUser(reconUrl), application_name: 'recon-run-lock' });
  await client.connect();
  // A broken lock connection means the locks are gone: the run must not go on believing it holds them.
  let lost: Error | undefined;
  client.on('error', (err) => (lost ??= err));
  client.on('end', () => (lost ??= new Error('connection ended')));
  return {
    async assertHeld() {
      try {
        if (lost) throw lost;
        await client.query('select 1');
      } catch (err) {
        throw new ReconError(
          'LOCK_LOST',
          `lost the connection holding the check locks (${describeError(err).message}); stopping before another run takes the same windows`,
          { cause: err, retryable: true },
        );
      }
    },
    async tryLock(check) {
      const { rows } = await client.query<{ ok: boolean }>("select pg_try_advisory_lock(hashtextextended('recon-check:' || $1, 0)) as ok", [check]);
      return rows[0]?.ok === true;
    },
    async backendPid() {
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      return rows[0]!.pid;
    },
    async release() {
      try {
        await client.query('select pg_advisory_unlock_all()');
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * The fence of a distributed window commit, in the commit's transaction:
 * locks the run's row (so the window commits of one run queue behind each
 * other and each sees the ones before it) and answers whether the run is
 * still `running` and its coordinator's session (`runs.lock_pid`, started at
 * `runs.lock_backend_start`, so a reused pid does not count) still holds the
 * check's advisory lock. False: the run lost the check (its coordinator died
 * or was cut off, another run may hold it now), and the window must not commit.
 */
export async function checkLockFence(trx: Knex.Transaction, runId: string, check: CheckName): Promise<boolean> {
  const { rows } = await trx.raw<{ rows: { ok: boolean }[] }>(
    `select r.status = 'running' and exists (
              select 1 from pg_locks l join pg_stat_activity a on a.pid = l.pid
               where l.locktype = 'advisory' and l.granted and l.pid = r.lock_pid and a.backend_start = r.lock_backend_start
                 and l.database = (select oid from pg_database where datname = current_database())
                 and l.classid = ((k.key >> 32) & 4294967295)::oid and l.objid = (k.key & 4294967295)::oid and l.objsubid = 1
            ) as ok
       from runs r, hashtextextended('recon-check:' || ?, 0) as k(key)
      where r.id = ?::uuid
      for update of r`,
    [check, runId],
  );
  return rows[0]?.ok === true;
}
