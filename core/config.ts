/**
 * Configuration: the one module that reads `process.env`.
 *
 * Everything is validated once, at start-up. A bad value becomes a
 * {@link ConfigError} naming the variable; the CLI prints its one line and
 * exits with status 2. Every other module receives a {@link Config} object.
 */
import { z } from 'zod';
import cron from 'node-cron';
import { ReconError } from './errors.js';
import { ISO_INSTANT_HINT, parseIsoInstant } from './parse.js';
import { DEFAULT_SUBSCRIPTIONS, RELAYS, formatSubscriptions, parseSubscriptions, type Relay, type Subscription } from './subscriptions.js';

const postgresUrl = z.string().refine((v) => /^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(v), 'must be a postgres://host:port/database URL');

const redisUrl = z.string().refine((v) => /^rediss?:\/\/./.test(v), 'must be a redis:// URL');

const brokerList = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
  )
  .refine((list) => list.length > 0 && list.every((b) => /^[A-Za-z0-9_.-]+:\d{1,5}$/.test(b)), 'must be host:port[,host:port...]');

const positiveInt = (max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .refine((n) => n > 0 && n <= max, `must be between 1 and ${max}`);

const nonNegativeInt = z.string().regex(/^\d+$/, 'must be a whole number').transform(Number);

const isoInstant = z
  .string()
  .refine((v) => parseIsoInstant(v) !== undefined, ISO_INSTANT_HINT)
  .transform((v) => parseIsoInstant(v)!);

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as UTC or Europe/Paris');

const cronExpression = z.string().refine((v) => cron.validate(v), 'must be a cron expression such as "0 3 * * *"');

/** Kafka topic names allow [a-zA-Z0-9._-]; the namespace becomes a topic prefix, so it obeys the same rule. */
const namespace = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of letters, digits, _ or -');

/** Role names are `<prefix>reader`, `<prefix>writer`, `<prefix>owner`: plain lower-case identifiers, short enough for Postgres (63 bytes). */
const rolePrefix = z.string().regex(/^[a-z_][a-z0-9_]{0,50}$/, 'must be 1-51 characters of lower-case letters, digits or _, not starting with a digit');

const reportPolicy = z.enum(['always', 'drift', 'never']);

/**
 * Where users reach `recon serve` (`https://recon.example.com`): an http(s)
 * URL without credentials, query or fragment. Its origin is accepted as the
 * server's own in the Origin check; `https` marks the session cookie Secure.
 */
const publicUrl = z
  .string()
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password && !u.search && !u.hash;
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL such as https://recon.example.com (no credentials, query or fragment)')
  .transform((v) => new URL(v).href);

/** An http(s) base URL (the Kafka Connect REST API): no credentials in it, no query or fragment; kept without a trailing slash. */
const httpBaseUrl = z
  .string()
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !u.search && !u.hash;
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL such as http://127.0.0.1:8083')
  .transform((v) => new URL(v).href.replace(/\/+$/, ''));
/** A share in [0, 1], written as a decimal (`0.01` is one percent). */
const ratio = z
  .string()
  .regex(/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/, 'must be a decimal between 0 and 1, such as 0.01')
  .transform(Number);

/** One or more http(s) URLs, comma-separated (webhook receivers). */
const urlList = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean),
  )
  .refine(
    (list) =>
      list.length > 0 &&
      list.every((v) => {
        try {
          const u = new URL(v);
          return u.protocol === 'https:' || u.protocol === 'http:';
        } catch {
          return false;
        }
      }),
    'must be one or more http:// or https:// URLs, comma-separated',
  );

const port = z
  .string()
  .regex(/^\d+$/, 'must be a port number')
  .transform(Number)
  .refine((n) => n >= 0 && n <= 65535, 'must be between 0 and 65535');

/** Variable name → schema, with its default. Absent variables take the default. */
const schema = {
  USERS_DATABASE_URL: postgresUrl.default('postgres://127.0.0.1:5432/recon_users'),
  POINTS_DATABASE_URL: postgresUrl.default('postgres://127.0.0.1:5432/recon_points'),
  RECON_DATABASE_URL: postgresUrl.default('postgres://127.0.0.1:5432/recon_batch'),
  USERS_WRITER_DATABASE_URL: postgresUrl.optional(),
  POINTS_WRITER_DATABASE_URL: postgresUrl.optional(),
  RECON_ROLE_PREFIX: rolePrefix.default('recon_'),
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379'),
  KAFKA_BROKERS: brokerList.default(['127.0.0.1:9092']),
  RECON_NAMESPACE: namespace.optional(),
  SIGNUP_BONUS_POINTS: positiveInt(1_000_000_000).default(1000),
  RECON_WINDOW_SECONDS: positiveInt(31 * 24 * 3600).default(3600),
  RECON_GRACE_SECONDS: nonNegativeInt.default(300),
  RECON_GRACE_FROM: z.enum(['commit', 'start']).default('commit'),
  RECON_START: isoInstant.optional(),
  RECON_CRON: cronExpression.default('0 3 * * *'),
  RECON_TZ: timeZone.default('UTC'),
  SMTP_URL: z
    .string()
    .refine((v) => /^smtps?:\/\/./.test(v), 'must be an smtp:// or smtps:// URL')
    .optional(),
  REPORT_FROM: z.string().email('must be an e-mail address').default('recon@localhost'),
  REPORT_TO: z
    .string()
    .refine((v) => v.split(',').every((a) => z.string().email().safeParse(a.trim()).success), 'must be comma-separated e-mail addresses')
    .optional(),
  REPORT_POLICY: reportPolicy.default('drift'),
  RECON_REPORTS_DIR: z.string().min(1).default('reports'),
  RECON_API_PORT: port.default(8080),
  RECON_API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  RECON_API_READ_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  RECON_PUBLIC_URL: publicUrl.optional(),
  RECON_API_RUNS_PER_MINUTE: positiveInt(10_000).default(6),
  RECON_CONSUME_HEALTH_PORT: port.optional(),
  RECON_DLT_HEADERS: z.enum(['recon', 'spring'], { message: 'must be recon or spring' }).default('recon'),
  RECON_WORKER_CONCURRENCY: positiveInt(256).default(4),
  RECON_COMPENSATION_BATCH: positiveInt(2000).default(250),
  RECON_SWEEP_SECONDS: positiveInt(24 * 3600).default(60),
  RECON_SWEEP_STALE_SECONDS: nonNegativeInt.default(120),
  RECON_JOB_LOCK_MS: positiveInt(3_600_000).default(30_000),
  RECON_RUN_MODE: z.enum(['in-process', 'workers'], { message: 'must be in-process or workers' }).default('in-process'),
  RECON_RUN_WINDOWS_PER_JOB: positiveInt(1000).default(4),
  RECON_WINDOW_DELAY_MS: nonNegativeInt.default(0),
  KAFKA_CONNECT_URL: httpBaseUrl.default('http://127.0.0.1:8083'),
  USERS_CONNECT_DATABASE_URL: postgresUrl.optional(),
  POINTS_CONNECT_DATABASE_URL: postgresUrl.optional(),
  RECON_SLOT_LAG_WARN_BYTES: positiveInt().default(1024 * 1024 * 1024),
  RECON_BENCH_DEBEZIUM_USERS: positiveInt(10_000_000).default(50_000),
  RECON_BENCH_PRUNE_ROWS: positiveInt(100_000_000).default(10_000_000),
  RECON_BENCH_STATEMENT_ROUNDS: positiveInt(10_000).default(16),
  RECON_RELAY: z.enum(RELAYS).default('polling'),
  RECON_SUBSCRIPTIONS: z
    .string()
    .transform((v, ctx) => {
      const parsed = parseSubscriptions(v);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    })
    .default(() => [...DEFAULT_SUBSCRIPTIONS]),
  RECON_CLOCK_SKEW_SECONDS: nonNegativeInt.refine((n) => n <= 3600, 'must be between 0 and 3600').default(60),
  RECON_AUTO_COMPENSATE_LIMIT: nonNegativeInt.default(1000),
  RECON_AUTO_COMPENSATE_RATIO: ratio.default(0.01),
  RECON_AUTO_COMPENSATE_RATIO_MIN: nonNegativeInt.default(100),
  RECON_WEBHOOK_URL: urlList.optional(),
  RECON_SKIP_ALERT_SECONDS: positiveInt(30 * 86_400).default(3600),
  RECON_RETENTION_DAYS: positiveInt(36_500).default(30),
  RECON_PRUNE_CRON: cronExpression.optional(),
  USERS_PRUNE_DATABASE_URL: postgresUrl.optional(),
  POINTS_PRUNE_DATABASE_URL: postgresUrl.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
} as const;

type Schema = typeof schema;
type Parsed = { [K in keyof Schema]: z.output<Schema[K]> };

export interface Config {
  /**
   * Connection URLs of the three databases. Code never joins across them.
   * `users` and `points` are what runs read the sources with (the reader
   * role); `recon` is the recon database's owner.
   */
  databases: { users: string; points: string; recon: string };
  /**
   * What compensations write the source databases with (the writer role):
   * `USERS_WRITER_DATABASE_URL` and `POINTS_WRITER_DATABASE_URL`. Absent,
   * the reader's URL of the same database, so a configuration whose
   * `databases` are replaced (the demo's, a benchmark's) follows them;
   * {@link writerDatabaseUrls} resolves them.
   */
  writerDatabases: { users?: string; points?: string };
  /** Prefix of the roles `recon migrate --roles` creates: `<prefix>reader`, `<prefix>writer`, `<prefix>owner` (`RECON_ROLE_PREFIX`). Default `recon_`. */
  rolePrefix: string;
  redisUrl: string;
  kafkaBrokers: string[];
  /** Prefix of every topic, consumer group and queue; `undefined` when unset. */
  namespace: string | undefined;
  /** `B` of the invariants: the net signup amount every committed user must have. Default 1000. */
  signupBonusPoints: number;
  /** Width of one reconciliation window. Default 3600 s. */
  windowSeconds: number;
  /** Rows younger than this are not reconciled yet: the stream is given time to deliver. Default 300 s. */
  graceSeconds: number;
  /**
   * What the grace is measured from (`RECON_GRACE_FROM`): `commit` (default)
   * where the source database tracks commit timestamps, else the window key
   * (the writing transaction's start); `start`: always the window key, for
   * backfills and test fixtures that write rows keyed in the past (measured
   * from commit they wait one grace after they commit).
   */
  graceFrom: 'commit' | 'start';
  /** Where a check with no watermark starts, instead of the earliest row of its sources. */
  start: Date | undefined;
  cron: string;
  timeZone: string;
  report: {
    smtpUrl: string | undefined;
    from: string;
    to: string[];
    policy: z.output<typeof reportPolicy>;
    dir: string;
  };
  api: {
    port: number;
    /** The operator's token (`RECON_API_TOKEN`): reads and acts. */
    token: string | undefined;
    /**
     * The viewer's token (`RECON_API_READ_TOKEN`): sees every page and API
     * answer, and is refused (403) every state-changing request. Needs
     * `RECON_API_TOKEN` and must differ from it.
     */
    readToken: string | undefined;
    /**
     * Where users reach the server (`RECON_PUBLIC_URL`), normalized by `URL`;
     * undefined when unset. Its origin counts as the server's own; `https`
     * makes the session cookie `Secure` with the `__Host-` prefix.
     */
    publicUrl: string | undefined;
    /** Runs one client may start with `POST /api/runs` per minute (`RECON_API_RUNS_PER_MINUTE`). Default 6. */
    runsPerMinute: number;
  };
  /**
   * Port of `recon stream consume`'s `/healthz` and `/metrics`
   * (`RECON_CONSUME_HEALTH_PORT`); unset: no endpoint.
   */
  consumeHealthPort: number | undefined;
  /**
   * The header dialect recon's consumers write on their dead letters
   * (`RECON_DLT_HEADERS`): `recon` (default: `x-original-*`, strings) or
   * `spring` (the names and binary encodings of Spring for Apache Kafka's
   * DeadLetterPublishingRecoverer). Reading always understands both.
   */
  dltHeaders: 'recon' | 'spring';
  compensation: {
    /** Compensation jobs one `recon worker` runs at once (`RECON_WORKER_CONCURRENCY`). Default 4. */
    concurrency: number;
    /** Discrepancies of one kind carried by one job, handled with multi-row SQL (`RECON_COMPENSATION_BATCH`). Default 250. */
    batchSize: number;
    /** Seconds between two sweeps of the worker's sweeper (`RECON_SWEEP_SECONDS`). Default 60. */
    sweepIntervalSeconds: number;
    /**
     * A `queued` discrepancy older than this whose job Redis no longer has (or
     * whose job finished without resolving it) is queued again
     * (`RECON_SWEEP_STALE_SECONDS`). Default 120.
     */
    staleSeconds: number;
    /**
     * Lock of an active job, ms (`RECON_JOB_LOCK_MS`). A worker that dies
     * (SIGKILL, power) stops renewing it; after about this long another worker
     * takes the job over. Also the stalled-job check interval. Default 30000.
     */
    lockMs: number;
    /**
     * The blast-radius guard: per check and run, compensable discrepancies
     * beyond either limit are all `held` for an operator's decision instead of
     * being queued.
     */
    guard: {
      /** Most compensations a check's run queues on its own (`RECON_AUTO_COMPENSATE_LIMIT`). 0 holds all. Default 1000. */
      limit: number;
      /** Largest share of the rows the check compared in the run (`RECON_AUTO_COMPENSATE_RATIO`). Default 0.01. */
      ratio: number;
      /**
       * The ratio applies only from this many compensable discrepancies on
       * (`RECON_AUTO_COMPENSATE_RATIO_MIN`), so that a small run (one missing
       * grant among 50 users) is not held. Default 100.
       */
      ratioMinCount: number;
    };
  };
  /** How runs compare their windows (distributed runs). */
  runs: {
    /**
     * `in-process` (`RECON_RUN_MODE`, default): the process that runs a run
     * compares every window itself; `workers`: it plans the windows and hands
     * them, in batches, to the window queue that every `recon worker` serves.
     */
    mode: 'in-process' | 'workers';
    /** Consecutive windows one window job compares (`RECON_RUN_WINDOWS_PER_JOB`), workers mode only. Default 4. */
    windowsPerJob: number;
    /**
     * Testing only (`RECON_WINDOW_DELAY_MS`): a window worker waits this many
     * ms before comparing each window, so that a test can kill it mid-run
     * deterministically. Default 0; never set it in production.
     */
    windowDelayMs: number;
  };
  alerts: {
    /** Receivers of the JSON alerts (`RECON_WEBHOOK_URL`, comma-separated); empty: no webhooks. */
    webhookUrls: string[];
    /**
     * A run that skips a check because another run has held it for longer
     * than this many seconds alerts `run.skipped` (`RECON_SKIP_ALERT_SECONDS`). Default 3600.
     */
    skipAlertSeconds: number;
  };
  /**
   * How the outbox is relayed to Kafka (`RECON_RELAY`): `polling` (default),
   * recon's own relay, which writes `published_at`, partition and offset back;
   * or `debezium`, Debezium's Outbox Event Router on Kafka Connect, which never
   * touches the outbox row (`recon stream relay` then refuses to run;
   * publication and position come from the topic).
   */
  relay: Relay;
  /** Kafka Connect, for the Debezium relay (`recon services up --connect`, `recon connect …`). */
  connect: {
    /** Base URL of the Connect REST API (`KAFKA_CONNECT_URL`). Default `http://127.0.0.1:8083`. */
    url: string;
    /**
     * What each Debezium connector connects to its database with
     * (`USERS_CONNECT_DATABASE_URL`, `POINTS_CONNECT_DATABASE_URL`): the Connect
     * worker connects itself, so host and port are as the worker sees them, and
     * the role needs REPLICATION and SELECT on the outbox (and owns the
     * publication). Absent, the database's own URL; {@link connectDatabaseUrls}
     * resolves them.
     */
    databases: { users?: string; points?: string };
    /** `recon doctor` warns about a replication slot holding more WAL than this (`RECON_SLOT_LAG_WARN_BYTES`). Default 1 GiB. */
    slotLagWarnBytes: number;
  };
  /** Users per relay in `npm run bench debezium` (`RECON_BENCH_DEBEZIUM_USERS`): smaller for a quick run. Default 50000. */
  benchDebeziumUsers: number;
  /** Rows of history `npm run bench -- prune` prunes (`RECON_BENCH_PRUNE_ROWS`): smaller for a quick run. Default 10000000. */
  benchPruneRows: number;
  /** Rounds of 4,000 users in `npm run bench -- stream-statements` (`RECON_BENCH_STATEMENT_ROUNDS`): more for steadier figures. Default 16. */
  benchStatementRounds: number;
  /**
   * Which consumer groups read which topic, and what says they consumed an
   * event (`RECON_SUBSCRIPTIONS`): `inbox` (the group's `consumed_events`
   * rows) or `offsets` (its committed offsets). Base names, no namespace.
   */
  subscriptions: readonly Subscription[];
  /**
   * Allowance for clocks and batching between the database that stamps
   * `occurred_at` and the producer that stamps a message's timestamp
   * (`RECON_CLOCK_SKEW_SECONDS`). Default 60. Topic evidence of a window
   * `[t0, t1)` reads from `t0 − skew` to `t1 + grace + skew`.
   */
  clockSkewSeconds: number;
  /**
   * Retention of the stream's history (`recon prune`): outbox and consumed-event
   * rows, and the recon database's old window records and closed
   * discrepancies, are deleted only behind every watermark, outside windows
   * with an open discrepancy, and when older than this.
   */
  prune: {
    /** Days of history kept at least (`RECON_RETENTION_DAYS`). Default 30. */
    retentionDays: number;
    /** When set (`RECON_PRUNE_CRON`, in `RECON_TZ`), `recon scheduler` also prunes at each of its ticks. Default unset: no scheduled prune. */
    cron: string | undefined;
    /**
     * What the prune deletes source rows with (`USERS_PRUNE_DATABASE_URL`,
     * `POINTS_PRUNE_DATABASE_URL`): a role with SELECT and DELETE on `outbox`
     * and `consumed_events`. Absent, the database's own URL (the reader's, which
     * in production has no DELETE: the prune then refuses and names the grant);
     * {@link pruneDatabaseUrls} resolves them.
     */
    databases: { users?: string; points?: string };
  };
  logLevel: Parsed['LOG_LEVEL'];
}

/** Names of every variable this module reads, for `--help` and the README. */
export const CONFIG_VARIABLES = Object.keys(schema) as (keyof Schema)[];

export class ConfigError extends ReconError {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super('BAD_CONFIG', `${variable}: ${reason}`);
  }
}

/**
 * Read and validate the environment. Throws a {@link ConfigError} naming the
 * first bad variable (one line, fit for the terminal).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = {} as Record<string, unknown>;
  for (const [name, type] of Object.entries(schema)) {
    // An empty variable means "unset": `FOO= recon run` should not be an error.
    const raw = env[name] === '' ? undefined : env[name];
    const result = (type as z.ZodType).safeParse(raw);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new ConfigError(name, `${issue?.message ?? 'invalid value'} (got ${JSON.stringify(raw)})`);
    }
    parsed[name] = result.data;
  }
  const p = parsed as Parsed;
  if (p.RECON_API_READ_TOKEN !== undefined) {
    if (p.RECON_API_TOKEN === undefined)
      throw new ConfigError('RECON_API_READ_TOKEN', 'needs RECON_API_TOKEN (without it the server has no authentication at all)');
    if (p.RECON_API_READ_TOKEN === p.RECON_API_TOKEN) throw new ConfigError('RECON_API_READ_TOKEN', 'must differ from RECON_API_TOKEN');
  }
  return {
    databases: { users: p.USERS_DATABASE_URL, points: p.POINTS_DATABASE_URL, recon: p.RECON_DATABASE_URL },
    writerDatabases: {
      ...(p.USERS_WRITER_DATABASE_URL !== undefined ? { users: p.USERS_WRITER_DATABASE_URL } : {}),
      ...(p.POINTS_WRITER_DATABASE_URL !== undefined ? { points: p.POINTS_WRITER_DATABASE_URL } : {}),
    },
    rolePrefix: p.RECON_ROLE_PREFIX,
    redisUrl: p.REDIS_URL,
    kafkaBrokers: p.KAFKA_BROKERS,
    namespace: p.RECON_NAMESPACE,
    signupBonusPoints: p.SIGNUP_BONUS_POINTS,
    windowSeconds: p.RECON_WINDOW_SECONDS,
    graceSeconds: p.RECON_GRACE_SECONDS,
    graceFrom: p.RECON_GRACE_FROM,
    start: p.RECON_START,
    cron: p.RECON_CRON,
    timeZone: p.RECON_TZ,
    report: {
      smtpUrl: p.SMTP_URL,
      from: p.REPORT_FROM,
      to: p.REPORT_TO ? p.REPORT_TO.split(',').map((a) => a.trim()) : [],
      policy: p.REPORT_POLICY,
      dir: p.RECON_REPORTS_DIR,
    },
    api: {
      port: p.RECON_API_PORT,
      token: p.RECON_API_TOKEN,
      readToken: p.RECON_API_READ_TOKEN,
      publicUrl: p.RECON_PUBLIC_URL,
      runsPerMinute: p.RECON_API_RUNS_PER_MINUTE,
    },
    consumeHealthPort: p.RECON_CONSUME_HEALTH_PORT,
    dltHeaders: p.RECON_DLT_HEADERS,
    compensation: {
      concurrency: p.RECON_WORKER_CONCURRENCY,
      batchSize: p.RECON_COMPENSATION_BATCH,
      sweepIntervalSeconds: p.RECON_SWEEP_SECONDS,
      staleSeconds: p.RECON_SWEEP_STALE_SECONDS,
      lockMs: p.RECON_JOB_LOCK_MS,
      guard: { limit: p.RECON_AUTO_COMPENSATE_LIMIT, ratio: p.RECON_AUTO_COMPENSATE_RATIO, ratioMinCount: p.RECON_AUTO_COMPENSATE_RATIO_MIN },
    },
    runs: { mode: p.RECON_RUN_MODE, windowsPerJob: p.RECON_RUN_WINDOWS_PER_JOB, windowDelayMs: p.RECON_WINDOW_DELAY_MS },
    relay: p.RECON_RELAY,
    connect: {
      url: p.KAFKA_CONNECT_URL,
      databases: {
        ...(p.USERS_CONNECT_DATABASE_URL !== undefined ? { users: p.USERS_CONNECT_DATABASE_URL } : {}),
        ...(p.POINTS_CONNECT_DATABASE_URL !== undefined ? { points: p.POINTS_CONNECT_DATABASE_URL } : {}),
      },
      slotLagWarnBytes: p.RECON_SLOT_LAG_WARN_BYTES,
    },
    benchDebeziumUsers: p.RECON_BENCH_DEBEZIUM_USERS,
    benchPruneRows: p.RECON_BENCH_PRUNE_ROWS,
    benchStatementRounds: p.RECON_BENCH_STATEMENT_ROUNDS,
    subscriptions: p.RECON_SUBSCRIPTIONS,
    clockSkewSeconds: p.RECON_CLOCK_SKEW_SECONDS,
    alerts: { webhookUrls: p.RECON_WEBHOOK_URL ?? [], skipAlertSeconds: p.RECON_SKIP_ALERT_SECONDS },
    prune: {
      retentionDays: p.RECON_RETENTION_DAYS,
      cron: p.RECON_PRUNE_CRON,
      databases: {
        ...(p.USERS_PRUNE_DATABASE_URL !== undefined ? { users: p.USERS_PRUNE_DATABASE_URL } : {}),
        ...(p.POINTS_PRUNE_DATABASE_URL !== undefined ? { points: p.POINTS_PRUNE_DATABASE_URL } : {}),
      },
    },
    logLevel: p.LOG_LEVEL,
  };
}

/** Why the polling relay does not run under `RECON_RELAY=debezium` (one line, for the terminal). */
export const POLLING_RELAY_REFUSED =
  'RECON_RELAY=debezium: the outboxes are relayed by Debezium on Kafka Connect, so the polling relay does not run (it would send every event a second time); unset RECON_RELAY (or set it to polling) to use it';

/** The URLs the Debezium connectors connect with, each the database's own URL when not set. */
export function connectDatabaseUrls(config: Pick<Config, 'databases'> & { connect?: Pick<Config['connect'], 'databases'> }): { users: string; points: string } {
  return { users: config.connect?.databases.users ?? config.databases.users, points: config.connect?.databases.points ?? config.databases.points };
}

/** The URLs `recon prune` deletes source rows with, each the database's own URL when not set. */
export function pruneDatabaseUrls(config: Pick<Config, 'databases'> & { prune?: Pick<Config['prune'], 'databases'> }): { users: string; points: string } {
  return { users: config.prune?.databases.users ?? config.databases.users, points: config.prune?.databases.points ?? config.databases.points };
}

/** The writer URLs of `config`, each its reader's URL when not set. */
export function writerDatabaseUrls(config: Pick<Config, 'databases'> & { writerDatabases?: Config['writerDatabases'] }): { users: string; points: string } {
  return { users: config.writerDatabases?.users ?? config.databases.users, points: config.writerDatabases?.points ?? config.databases.points };
}

/** Full name of a topic, consumer group or queue under the configured namespace. */
export function namespaced(config: Pick<Config, 'namespace'>, name: string): string {
  return config.namespace ? `${config.namespace}.${name}` : name;
}

/**
 * The variables that reproduce `config`'s connections, namespace and window
 * settings in a child process (benchmarks and tests start relays, consumers
 * and workers this way). The inverse of {@link loadConfig} for those fields.
 */
export function configEnv(config: Config): Record<string, string> {
  return {
    USERS_DATABASE_URL: config.databases.users,
    POINTS_DATABASE_URL: config.databases.points,
    RECON_DATABASE_URL: config.databases.recon,
    // Only when set: unset, each follows its reader's URL, as in the parent.
    ...(config.writerDatabases.users !== undefined ? { USERS_WRITER_DATABASE_URL: config.writerDatabases.users } : {}),
    ...(config.writerDatabases.points !== undefined ? { POINTS_WRITER_DATABASE_URL: config.writerDatabases.points } : {}),
    RECON_ROLE_PREFIX: config.rolePrefix,
    REDIS_URL: config.redisUrl,
    KAFKA_BROKERS: config.kafkaBrokers.join(','),
    RECON_NAMESPACE: config.namespace ?? '',
    SIGNUP_BONUS_POINTS: String(config.signupBonusPoints),
    RECON_WINDOW_SECONDS: String(config.windowSeconds),
    RECON_GRACE_SECONDS: String(config.graceSeconds),
    RECON_GRACE_FROM: config.graceFrom,
    ...(config.start ? { RECON_START: config.start.toISOString() } : {}),
    RECON_DLT_HEADERS: config.dltHeaders,
    RECON_RELAY: config.relay,
    KAFKA_CONNECT_URL: config.connect.url,
    RECON_SLOT_LAG_WARN_BYTES: String(config.connect.slotLagWarnBytes),
    ...(config.connect.databases.users !== undefined ? { USERS_CONNECT_DATABASE_URL: config.connect.databases.users } : {}),
    ...(config.connect.databases.points !== undefined ? { POINTS_CONNECT_DATABASE_URL: config.connect.databases.points } : {}),
    RECON_SUBSCRIPTIONS: formatSubscriptions(config.subscriptions),
    RECON_CLOCK_SKEW_SECONDS: String(config.clockSkewSeconds),
    RECON_AUTO_COMPENSATE_LIMIT: String(config.compensation.guard.limit),
    RECON_AUTO_COMPENSATE_RATIO: String(config.compensation.guard.ratio),
    RECON_AUTO_COMPENSATE_RATIO_MIN: String(config.compensation.guard.ratioMinCount),
    RECON_RETENTION_DAYS: String(config.prune.retentionDays),
    RECON_JOB_LOCK_MS: String(config.compensation.lockMs),
    RECON_RUN_MODE: config.runs.mode,
    RECON_RUN_WINDOWS_PER_JOB: String(config.runs.windowsPerJob),
    RECON_WINDOW_DELAY_MS: String(config.runs.windowDelayMs),
  };
}
