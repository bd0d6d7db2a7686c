/** The per-check advisory locks of runs (single flight), held on a connection of their own. */
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
    async release() {
      try {
        await client.query('select pg_advisory_unlock_all()');
      } finally {
        await client.end();
      }
    },
  };
}
