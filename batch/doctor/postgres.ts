/** Doctor's checks of the three databases: connection and schema, session visibility, commit timestamps, window indexes, clock. */
import { DEFAULT_SUBSCRIPTIONS, namespaced, type Config, type SourceDatabase } from '../../core/index.js';
import {
  batchIndexes,
  missingTables,
  pendingMigrations,
  roleFacts,
  serverClockMs,
  windowQueryPlans,
  MIGRATIONS_TABLE,
  type DatabaseName,
  type FoundIndexes,
  type WindowQueryPlan,
} from '../../db/index.js';
import { bestSkew, judgeSkew, sampleClock } from './clock.js';
import { failureFinding } from './run.js';
import type { DoctorCheck, DoctorFinding } from './types.js';

/** The variable that names each database. */
export const DATABASE_VARIABLES: Record<DatabaseName, string> = {
  users: 'USERS_DATABASE_URL',
  points: 'POINTS_DATABASE_URL',
  recon: 'RECON_DATABASE_URL',
};

/** `url` with its password replaced by `***` (fit for a terminal, a log or a support ticket). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}

const target = (config: Config, name: DatabaseName) => `Postgres at ${redactUrl(config.databases[name])} (${DATABASE_VARIABLES[name]})`;

/** The database connects, its schema (the migrations' tables) is there, and every migration the code ships is applied. */
export function databaseConnectCheck(config: Config, name: DatabaseName): DoctorCheck {
  const variable = DATABASE_VARIABLES[name];
  const check: DoctorCheck = {
    name: `${name}.connect`,
    target: target(config, name),
    async run(ctx) {
      const db = ctx.postgres(config.databases[name]);
      let facts;
      try {
        facts = await roleFacts(db);
      } catch (err) {
        return connectFailure(check, err, variable, ctx.timeoutMs);
      }
      const as = `as ${facts.role}${facts.superuser ? ' (superuser)' : ''}, PostgreSQL ${facts.serverVersion}`;
      const missing = await missingTables(db, name);
      if (missing.length) {
        return {
          status: 'fail',
          detail: `${redactUrl(config.databases[name])} connects ${as}, but lacks the tables ${missing.join(', ')}`,
          fix: 'run `recon migrate`',
        };
      }
      let pending;
      try {
        pending = await pendingMigrations(db, name);
      } catch (err) {
        if ((err as { code?: unknown } | null)?.code !== '42501') throw err;
        return {
          status: 'warn',
          detail: `${redactUrl(config.databases[name])} connects ${as}, but ${facts.role} cannot read ${MIGRATIONS_TABLE}: pending migrations not checked`,
          fix: `grant select on ${MIGRATIONS_TABLE} to ${facts.role};  (or \`recon migrate --roles\`)`,
        };
      }
      if (pending.length) {
        return {
          status: 'fail',
          detail: `${redactUrl(config.databases[name])} connects ${as}, but lacks the migrations ${pending.join(', ')}`,
          fix: 'run `recon migrate`',
        };
      }
      return { status: 'pass', detail: `${redactUrl(config.databases[name])} ${as}`, fix: '' };
    },
  };
  return check;
}

function connectFailure(check: DoctorCheck, err: unknown, variable: string, timeoutMs: number): DoctorFinding {
  const finding = failureFinding(check, err, timeoutMs);
  const code = (err as { code?: unknown } | null)?.code;
  if (code === '3D000') return { ...finding, fix: `run \`recon migrate\` (it creates missing databases and their tables), or correct ${variable}` };
  if (code === '28P01' || code === '28000') return { ...finding, fix: `check the user and password in ${variable} (and pg_hba.conf)` };
  if (code === 'ECONNREFUSED') return { ...finding, fix: `nothing listens there: start Postgres, or correct host and port in ${variable}` };
  return finding;
}

/**
 * The role sees other sessions' transaction starts. The safe upper bound
 * stops before the oldest transaction open on a source database
 * (`pg_stat_activity.xact_start`); Postgres shows a role only its own
 * sessions' starts unless it is a superuser or has `pg_read_all_stats` (also
 * through `pg_monitor`), so without it other writers' open transactions are
 * invisible and a run can close a window before their rows commit.
 */
export function sessionVisibilityCheck(config: Config, name: SourceDatabase): DoctorCheck {
  return {
    name: `${name}.session-visibility`,
    target: target(config, name),
    requires: [`${name}.connect`],
    async run(ctx) {
      const facts = await roleFacts(ctx.postgres(config.databases[name]));
      if (facts.superuser) return { status: 'pass', detail: `${facts.role} is a superuser: sees every session's transaction start`, fix: '' };
      if (facts.readsAllStats) return { status: 'pass', detail: `${facts.role} has pg_read_all_stats: sees every session's transaction start`, fix: '' };
      return {
        status: 'fail',
        detail: `${facts.role} sees only its own sessions in pg_stat_activity: the safe upper bound cannot see other writers' open transactions`,
        fix: `grant pg_read_all_stats to ${facts.role};  (or pg_monitor)`,
      };
    },
  };
}

/**
 * Judge `track_commit_timestamp` against what the grace is measured from
 * (`RECON_GRACE_FROM`): with `start` recon never asks for commit times, so
 * the setting does not matter.
 */
export function judgeCommitTimestamps(commitTimestamps: boolean, graceFrom: Config['graceFrom']): DoctorFinding {
  const setting = `track_commit_timestamp is ${commitTimestamps ? 'on' : 'off'}`;
  if (graceFrom === 'start')
    return {
      status: 'pass',
      detail: `RECON_GRACE_FROM=start: lateness is measured from transaction start by configuration; track_commit_timestamp (${commitTimestamps ? 'on' : 'off'}) is not used`,
      fix: '',
    };
  if (commitTimestamps) return { status: 'pass', detail: `${setting}: the server records when each transaction committed`, fix: '' };
  return {
    status: 'warn',
    detail: `${setting}: lateness is measured from transaction start, so a transaction open longer than the grace can make transient false discrepancies`,
    fix: 'set track_commit_timestamp = on in postgresql.conf (takes effect at the next restart)',
  };
}

/** `track_commit_timestamp` is on (unless `RECON_GRACE_FROM=start`): the server can tell when a row's transaction committed. */
export function commitTimestampsCheck(config: Config, name: SourceDatabase): DoctorCheck {
  return {
    name: `${name}.commit-timestamps`,
    target: target(config, name),
    requires: [`${name}.connect`],
    async run(ctx) {
      const facts = await roleFacts(ctx.postgres(config.databases[name]));
      return judgeCommitTimestamps(facts.commitTimestamps, config.graceFrom);
    },
  };
}

/** Row estimate under which the planner may read a table whole rather than through the window index: it is cheaper, and stays so until the table grows. */
export const SMALL_TABLE_ROWS = 10_000;

/** How the window query on `table` reads it: through a window index (and which), or not. */
function windowScan(plan: WindowQueryPlan | undefined, windowIndexes: readonly string[]): string | undefined {
  if (!plan || plan.scans.some((s) => s.node === 'Seq Scan' && s.relation === plan.table)) return undefined;
  const scan = plan.scans.find((s) => s.index !== undefined && windowIndexes.includes(s.index));
  return scan ? `${scan.node} on ${scan.index}` : undefined;
}

/**
 * Judge the batch indexes of one database and the plans of its window
 * queries. `plans` are the planner's own choices; `forcedPlans`, when given,
 * the plans with sequential scans disabled (asked for the tables whose plan
 * did not use a window index): a small table read whole is fine, a large one
 * means stale statistics, and no window index even then means none serves.
 */
export function judgeWindowIndexes(
  found: readonly FoundIndexes[],
  plans: readonly WindowQueryPlan[],
  forcedPlans: readonly WindowQueryPlan[] = [],
): DoctorFinding {
  const missing = found.filter((f) => f.found.length === 0);
  const used: string[] = [];
  const small: string[] = [];
  const stale: string[] = [];
  const unused: string[] = [];
  for (const plan of plans) {
    const windowIndexes = found.filter((f) => f.spec.table === plan.table && f.spec.role === 'window').flatMap((f) => f.found);
    const chosen = windowScan(plan, windowIndexes);
    if (chosen) {
      used.push(`${plan.table}: ${chosen}`);
      continue;
    }
    const forced = windowScan(
      forcedPlans.find((p) => p.table === plan.table),
      windowIndexes,
    );
    const rows = Math.max(0, Math.round(plan.estimatedRows));
    if (forced && plan.estimatedRows < SMALL_TABLE_ROWS) small.push(`${plan.table}: read whole while small (about ${rows} rows); ${forced} once it grows`);
    else if (forced) stale.push(`${plan.table} (about ${rows} rows): the planner prefers a sequential scan to ${forced}`);
    else if (windowIndexes.length) unused.push(`${plan.table}: the window query does not use ${windowIndexes.join(' or ')} (${describeScans(plan)})`);
    else unused.push(`${plan.table}: ${describeScans(plan)}, no window index`);
  }
  const detail = [
    ...missing.map((m) => `missing: an index on ${m.spec.table} (${m.spec.columns.join(', ')})${m.spec.role === 'late' ? ' for the late-arrival scan' : ''}`),
    ...unused,
    ...stale,
    ...used,
    ...small,
  ].join('; ');
  const fixes = [
    ...missing.map((m) => `${m.spec.create};`),
    ...(unused.length && !missing.length ? ['run ANALYZE on the tables named; an index that is there but unused may be invalid: recreate it'] : []),
    ...(stale.length ? [`analyze ${[...new Set(stale.map((s) => s.split(' ')[0]))].join(', ')};`] : []),
  ];
  if (missing.length || unused.length) return { status: 'fail', detail, fix: fixes.join(' ') };
  if (stale.length) return { status: 'warn', detail, fix: fixes.join(' ') };
  return { status: 'pass', detail, fix: '' };
}

function describeScans(plan: WindowQueryPlan): string {
  const on = plan.scans.filter((s) => s.relation === plan.table || s.index !== undefined);
  return on.length ? on.map((s) => `${s.node}${s.index ? ` on ${s.index}` : ''}`).join(', ') : 'no scan of it in the plan';
}

/**
 * The window indexes exist and the planner uses them: each window query a
 * run sends, EXPLAINed over the most recent window a run could check, reads
 * its table through the window index (Index Scan, Index Only Scan or a
 * bitmap of it), never a sequential scan.
 */
export function windowIndexesCheck(config: Config, name: SourceDatabase): DoctorCheck {
  // The plans of the consumed-events queries need a group; any inbox group of this database shows them (its default one when none is declared).
  const subscription =
    config.subscriptions.find((s) => s.evidence === 'inbox' && s.consumedDb === name) ?? DEFAULT_SUBSCRIPTIONS.find((s) => s.consumedDb === name)!;
  return {
    name: `${name}.window-indexes`,
    target: target(config, name),
    requires: [`${name}.connect`],
    async run(ctx) {
      const db = ctx.postgres(config.databases[name]);
      const end = new Date(Date.now() - config.graceSeconds * 1000);
      const window = { start: new Date(end.getTime() - config.windowSeconds * 1000), end };
      const group = namespaced(config, subscription.group);
      const found = await batchIndexes(db, name);
      const plans = await windowQueryPlans(db, name, window, group);
      const needForcing = plans.some(
        (p) =>
          !windowScan(
            p,
            found.filter((f) => f.spec.table === p.table && f.spec.role === 'window').flatMap((f) => f.found),
          ),
      );
      const forced = needForcing ? await windowQueryPlans(db, name, window, group, { seqscan: false }) : [];
      return judgeWindowIndexes(found, plans, forced);
    },
  };
}

/** Skew between the database server's clock and this host's. */
export function databaseClockCheck(config: Config, name: DatabaseName): DoctorCheck {
  return {
    name: `${name}.clock`,
    target: target(config, name),
    requires: [`${name}.connect`],
    async run(ctx) {
      // One connection for every exchange (a transaction holds it): no pool wait inside a round trip.
      const samples = await ctx.postgres(config.databases[name]).transaction(
        async (trx) => {
          await serverClockMs(trx);
          return sampleClock(() => serverClockMs(trx));
        },
        { readOnly: true },
      );
      return judgeSkew(`the ${name} database server`, bestSkew(samples), config.graceSeconds);
    },
  };
}

/** Every check of one database, in order. */
export function databaseChecks(config: Config, name: DatabaseName): DoctorCheck[] {
  if (name === 'recon') return [databaseConnectCheck(config, name), databaseClockCheck(config, name)];
  return [
    databaseConnectCheck(config, name),
    sessionVisibilityCheck(config, name),
    commitTimestampsCheck(config, name),
    windowIndexesCheck(config, name),
    databaseClockCheck(config, name),
  ];
}
