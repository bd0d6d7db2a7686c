/**
 * One error base class for the whole project. Every failure we raise carries a
 * code from {@link ERROR_CODES}, whether a retry may help, and its cause.
 * {@link isRetryable} is the single place that decides what a retry can fix.
 */

export const ERROR_CODES = [
  /** A configuration variable has a bad value (exit 2). */
  'BAD_CONFIG',
  /** A command-line flag or API field is wrong (exit 2, or a 400). */
  'USAGE',
  /** A program or package recon needs is not installed (java, mvn). */
  'DEPENDENCY_MISSING',
  /** A service recon talks to does not answer or refuses (broker, Redis). */
  'SERVICE_UNAVAILABLE',
  /** A local service recon starts itself failed to start. */
  'SERVICE_START_FAILED',
  /** A Kafka message cannot be decoded into the event its topic carries. */
  'INVALID_MESSAGE',
  /** Something asked for does not exist (a run, a topic). */
  'NOT_FOUND',
  /** An existing topic has another shape than recon needs (partition count). */
  'TOPIC_MISCONFIGURED',
  /** A database role lacks a privilege a guarantee depends on: recon stops instead of guessing (the message names the grant). */
  'MISSING_PRIVILEGE',
  /** The connection holding a run's check locks died: the run stops before another takes its windows. */
  'LOCK_LOST',
  /** A compensation wrote, but its invariant does not hold yet (the stream may still catch up): retried. */
  'NOT_RESOLVED_YET',
  /** A Kafka consumer stopped for good (kafkajs will not restart it): the process exits for its supervisor to restart it. */
  'CONSUMER_CRASHED',
  /** A server setting recon depends on is wrong (wal_level for CDC): the message names the setting and the fix. */
  'SERVER_MISCONFIGURED',
  /**
   * A Kafka send resolved without the broker confirming some of its
   * partitions (kafkajs can skip a partition whose leader moved mid-send):
   * nothing of it may be marked published; retried.
   */
  'SEND_UNCONFIRMED',
  /** A bounded wait ran out. */
  'TIMEOUT',
  /** A run failed for a reason of its own (the cause says which). */
  'RUN_FAILED',
  /** A bug: code called in a way it does not support. */
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class ReconError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable ?? false;
  }

  /** True when the same operation, tried again later, may succeed. */
  readonly retryable: boolean;
}

/** A usage error of the command line: printed as one line, exit status 2. */
export class UsageError extends ReconError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/**
 * Postgres SQLSTATEs a retry can fix: the same statement, run again later,
 * may succeed. A good message must never be dead-lettered for one of these.
 */
const RETRYABLE_PG_CODES = new Set([
  // serialization_failure: a concurrent transaction won; run again, this one sees its result.
  '40001',
  // deadlock_detected: Postgres aborted this side of a deadlock; run again, the other side has finished.
  '40P01',
  // admin_shutdown: the server is shutting down or the backend was terminated; a new connection (to it or a new primary) works.
  '57P01',
  // crash_shutdown: another backend crashed and the server is restarting; it accepts connections again after recovery.
  '57P02',
  // cannot_connect_now: the server is starting up or recovering; it accepts connections again in a moment.
  '57P03',
  // query_canceled: a statement_timeout (or an operator's pg_cancel_backend) stopped the statement, e.g. behind a lock
  // or on an overloaded server; the same statement usually finishes once the load or the lock is gone.
  '57014',
  // lock_not_available: a lock_timeout expired; the lock holder finishes and the retry gets the lock.
  '55P03',
  // read_only_sql_transaction: the session refuses writes (during a failover, connected to a demoted primary or a standby,
  // or `default_transaction_read_only` turned on for maintenance). db/connections.ts discards such a connection, so the
  // retry opens a new one, which reaches the new primary or no longer inherits the read-only default.
  '25006',
  // disk_full: the server could not extend a file or write WAL; space comes back (WAL archived, logs rotated, volume grown).
  '53100',
  // out_of_memory: the server could not allocate memory for this statement; it succeeds once other work has released it.
  '53200',
  // too_many_connections: every connection slot is taken; slots free up as other clients disconnect.
  '53300',
  // connection_exception, sqlclient_unable_to_establish_sqlconnection, connection_does_not_exist, connection_failure:
  // the connection broke or could not be made (network, restart); a new one works once the server answers.
  '08000',
  '08001',
  '08003',
  '08006',
]);

/** Node socket errors that mean "the other side is not there right now". */
const RETRYABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH']);

/**
 * Whether a retry may fix `err`. Knows our {@link ReconError}, kafkajs errors
 * (their `retriable` flag; a client that ran out of its own retries is judged
 * by the error it gave up on), Postgres SQLSTATEs and socket errors. Never throws.
 */
export function isRetryable(err: unknown): boolean {
  try {
    if (err === null || typeof err !== 'object') return false;
    if (err instanceof ReconError) return err.retryable;
    const e = err as { retriable?: unknown; code?: unknown; name?: unknown; message?: unknown; cause?: unknown };
    // kafkajs gave up retrying on its own schedule (seconds); the error it wrapped
    // says whether a retry later, on ours, may still succeed (a broker restarting).
    if (e.name === 'KafkaJSNumberOfRetriesExceeded') return e.cause !== undefined && e.cause !== err && isRetryable(e.cause);
    if (typeof e.retriable === 'boolean') return e.retriable;
    if (typeof e.code === 'string' && (RETRYABLE_PG_CODES.has(e.code) || RETRYABLE_SOCKET_CODES.has(e.code))) return true;
    if (e.name === 'KnexTimeoutError') return true;
    if (typeof e.message === 'string' && /Connection terminated|connection (is )?closed|Client has encountered a connection error/i.test(e.message))
      return true;
    return e.cause !== undefined && e.cause !== err ? isRetryable(e.cause) : false;
  } catch {
    return false;
  }
}

/** A short "Class: message" for logs, headers and discrepancy records. Never throws. */
export function describeError(err: unknown): { errorClass: string; message: string } {
  try {
    if (err instanceof Error) return { errorClass: err.name || err.constructor.name, message: err.message };
    return { errorClass: typeof err, message: String(err) };
  } catch {
    return { errorClass: 'Unknown', message: 'unprintable error' };
  }
}

/**
 * A next step for the person on call, for failures whose cause is well known
 * (looked for along the `cause` chain). Undefined when there is none to give.
 */
export function operatorHint(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    const { code, address, port } = e as { code?: unknown; address?: unknown; port?: unknown };
    if (code === '3D000') {
      return 'a database does not exist: `recon migrate` creates missing databases; or check USERS_DATABASE_URL, POINTS_DATABASE_URL and RECON_DATABASE_URL';
    }
    if (code === '42P01') return 'a table is missing: run `recon migrate`';
    if (code === 'MISSING_PRIVILEGE' || code === '42501') {
      return "a database role lacks a privilege: `recon migrate --print-grants` prints what each of recon's roles needs, `recon migrate --roles` applies it (README: Least privilege)";
    }
    if (code === '28P01' || code === '28000') return 'the database refused the credentials: check the user and password in the *_DATABASE_URL variables';
    if (code === 'ECONNREFUSED' && typeof address === 'string') {
      return `nothing listens at ${address}${typeof port === 'number' ? `:${port}` : ''}: is the service running, and do the URL variables point at it?`;
    }
    const next = (e as { cause?: unknown }).cause;
    if (next === e) break;
    e = next;
  }
  return undefined;
}
