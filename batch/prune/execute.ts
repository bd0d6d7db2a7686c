/**
 * `recon prune`: retention of the stream's history behind the watermarks.
 *
 * Order of a prune, each step safe if the process dies after it:
 * 1. under the single-flight locks of the checks reading the pruned tables
 *    (so no run is walking or re-checking their windows meanwhile), compute
 *    the horizon and record it in the recon database (`pruned_horizons`):
 *    from then on no run, re-check or late-arrival scan looks behind it;
 * 2. delete outbox and consumed-event rows keyed before it, in small
 *    batches by primary key, each its own short transaction with a
 *    `lock_timeout`; an event is pruned only with its other half: an outbox
 *    row whose consumed row is keyed at or after the horizon stays, and so
 *    does a consumed row whose outbox row is (a kept row would otherwise
 *    read as unconsumed, or as a phantom);
 * 3. delete the recon database's window records and closed discrepancies
 *    behind each check's horizon and older than the retention.
 * `users` and `point_ledger` are never touched: the ledger is the record.
 */
import { performance } from 'node:perf_hooks';
import {
  ALL_CHECK_NAMES,
  ReconError,
  describeError,
  pruneDatabaseUrls,
  sleep,
  type CheckName,
  type Config,
  type Logger,
  type SourceDatabase,
} from '../../core/index.js';
import {
  assertPrunePrivileges,
  connect,
  consumedEventsFrom,
  consumedGroups,
  consumedPruneCandidates,
  deleteConsumedRows,
  deleteOutboxRows,
  getWatermark,
  oldestOpenWindowStart,
  openCheckLocks,
  outboxEventsFrom,
  outboxPruneCandidates,
  pruneClosedDiscrepancies,
  pruneRunWindows,
  recordPruneCounts,
  recordPrunedHorizon,
  type Knex,
  type PruneCandidate,
  type PruneCursor,
  type PruneDelete,
} from '../../db/index.js';
import { CHECKS_READING_PRUNED_TABLES, checkHorizon, retentionCutoff, tableHorizon, type CheckPruneFacts } from './horizon.js';

export interface PruneOptions {
  /** Keep at least this much history (`--older-than`); default `RECON_RETENTION_DAYS`. */
  olderThanMs?: number;
  /** Count what would go; record and delete nothing. Default false. */
  dryRun?: boolean;
  /** Rows per delete batch (one short transaction each). Default 5000. */
  batchSize?: number;
  /** Longest wait for a row lock in a batch before it is retried (`lock_timeout`). Default 2000 ms. */
  lockTimeoutMs?: number;
  /** Pause between two batches, to leave the database to the stream. Default 0. */
  pauseMs?: number;
  /** Now, for the retention cutoff. Default: the clock. */
  now?: Date;
  /** Told after every batch. */
  onProgress?: (p: PruneProgress) => void;
  signal?: AbortSignal;
}

export interface PruneProgress {
  database: string;
  table: string;
  deleted: number;
  rowsPerSecond: number;
}

/** Rows deleted (or, in a dry run, that would be) from one table of one database. */
export interface PruneTableCount {
  database: 'users' | 'points' | 'recon';
  table: string;
  deleted: number;
  /** Rows behind the horizon kept because the other half of their event is not (outbox and consumed events only). */
  kept: number;
}

export interface PruneSummary {
  dryRun: boolean;
  /** now − retention. */
  cutoff: Date;
  /** Per check: the instant its history is pruned up to (null: nothing, e.g. no watermark yet). */
  horizons: Partial<Record<CheckName, Date | null>>;
  /** The horizon of the outbox and consumed-event tables (null: nothing pruned there). */
  sourceHorizon: Date | null;
  tables: PruneTableCount[];
  batches: number;
  /** Longest transaction of a delete batch: how long its row locks were held. */
  longestTransactionMs: number;
  durationMs: number;
}

export interface PruneDeps {
  config: Pick<Config, 'databases' | 'prune'>;
  /** The recon database (its owner). */
  recon: Knex;
  log: Logger;
}

const DEFAULT_BATCH = 5000;
const LOCK_RETRIES = 5;

export async function executePrune(deps: PruneDeps, options: PruneOptions = {}): Promise<PruneSummary> {
  const { config, recon, log } = deps;
  const t0 = performance.now();
  const dryRun = options.dryRun ?? false;
  const batchSize = options.batchSize ?? DEFAULT_BATCH;
  const lockTimeoutMs = options.lockTimeoutMs ?? 2000;
  const cutoff = retentionCutoff(options.now ?? new Date(), options.olderThanMs ?? config.prune.retentionDays * 86_400_000);
  const urls = pruneDatabaseUrls(config);
  const sources: Record<SourceDatabase, Knex> = {
    users: connect(urls.users, { max: 2, applicationName: 'recon-prune' }),
    points: connect(urls.points, { max: 2, applicationName: 'recon-prune' }),
  };
  const stats = { batches: 0, longestTransactionMs: 0 };
  const tables: PruneTableCount[] = [];
  try {
    // Fail closed before recording anything: the role must be able to do what it is asked.
    await Promise.all([assertPrunePrivileges(sources.users), assertPrunePrivileges(sources.points)]);

    const { horizons, sourceHorizon } = await fixHorizons(deps, cutoff, dryRun);
    log.info({ cutoff, sourceHorizon, horizons, dryRun }, 'prune: horizons');

    if (sourceHorizon) {
      const ctx: SourcePruneContext = { sources, horizon: sourceHorizon, batchSize, lockTimeoutMs, dryRun, options, stats };
      for (const db of ['users', 'points'] as const) tables.push(await pruneOutbox(ctx, db));
      for (const db of ['users', 'points'] as const) tables.push(await pruneConsumed(ctx, db));
    } else {
      for (const db of ['users', 'points'] as const)
        for (const table of ['outbox', 'consumed_events']) tables.push({ database: db, table, deleted: 0, kept: 0 });
    }

    let runWindows = 0;
    let discrepancies = 0;
    for (const check of ALL_CHECK_NAMES) {
      const h = horizons[check];
      if (!h) continue;
      runWindows += await pruneReconTable(
        options,
        (limit) => pruneRunWindows(recon, { check, before: h, writtenBefore: cutoff, limit, dryRun }),
        batchSize,
        dryRun,
      );
      discrepancies += await pruneReconTable(
        options,
        (limit) => pruneClosedDiscrepancies(recon, { check, before: h, changedBefore: cutoff, limit, dryRun }),
        batchSize,
        dryRun,
      );
    }
    tables.push(
      { database: 'recon', table: 'run_windows', deleted: runWindows, kept: 0 },
      { database: 'recon', table: 'discrepancies', deleted: discrepancies, kept: 0 },
    );

    if (!dryRun && sourceHorizon) {
      const counts = Object.fromEntries(tables.map((t) => [`${t.database}.${t.table}`, t.deleted]));
      for (const check of CHECKS_READING_PRUNED_TABLES) await recordPruneCounts(recon, check, counts);
    }
    const summary: PruneSummary = { dryRun, cutoff, horizons, sourceHorizon, tables, ...stats, durationMs: Math.round(performance.now() - t0) };
    log.info({ ...summary, tables: undefined, deleted: Object.fromEntries(tables.map((t) => [`${t.database}.${t.table}`, t.deleted])) }, 'prune: done');
    return summary;
  } finally {
    await Promise.all([sources.users.destroy(), sources.points.destroy()]);
  }
}

/**
 * Every check's horizon, and the one of the outbox and consumed tables
 * (recorded for the checks that read them unless `dryRun`), computed and
 * recorded while holding those checks' run locks.
 */
async function fixHorizons(
  deps: PruneDeps,
  cutoff: Date,
  dryRun: boolean,
): Promise<{ horizons: Partial<Record<CheckName, Date | null>>; sourceHorizon: Date | null }> {
  const { recon, config } = deps;
  const locks = dryRun ? undefined : await openCheckLocks(config.databases.recon);
  try {
    if (locks) {
      for (const check of CHECKS_READING_PRUNED_TABLES) {
        if (!(await locks.tryLock(check)))
          throw new ReconError('SERVICE_UNAVAILABLE', `check ${check} is being run right now; prune again once the run has finished`, { retryable: true });
      }
    }
    const facts = new Map<CheckName, CheckPruneFacts>();
    for (const check of ALL_CHECK_NAMES) {
      const [watermark, oldestOpen] = await Promise.all([getWatermark(recon, check), oldestOpenWindowStart(recon, check)]);
      facts.set(check, { check, watermark, oldestOpenWindowStart: oldestOpen });
    }
    const horizons = Object.fromEntries([...facts.values()].map((f) => [f.check, checkHorizon(cutoff, f)])) as Partial<Record<CheckName, Date | null>>;
    const sourceHorizon = tableHorizon(
      cutoff,
      CHECKS_READING_PRUNED_TABLES.map((c) => facts.get(c)!),
    );
    if (sourceHorizon) {
      // Every check reading the pruned tables is held to the same horizon: an event is pruned with both its halves.
      for (const check of CHECKS_READING_PRUNED_TABLES) horizons[check] = sourceHorizon;
      if (!dryRun) for (const check of CHECKS_READING_PRUNED_TABLES) await recordPrunedHorizon(recon, check, sourceHorizon);
    }
    return { horizons, sourceHorizon };
  } finally {
    await locks?.release().catch(() => undefined);
  }
}

interface SourcePruneContext {
  sources: Record<SourceDatabase, Knex>;
  horizon: Date;
  batchSize: number;
  lockTimeoutMs: number;
  dryRun: boolean;
  options: PruneOptions;
  stats: { batches: number; longestTransactionMs: number };
}

/** Of `ids`, those whose other half (in either source database) is at or after the horizon. */
async function otherHalvesKept(
  ctx: SourcePruneContext,
  ids: string[],
  lookup: (db: Knex, ids: string[], horizon: Date) => Promise<string[]>,
): Promise<Set<string>> {
  const found = await Promise.all((['users', 'points'] as const).map((db) => lookup(ctx.sources[db], ids, ctx.horizon)));
  return new Set(found.flat());
}

async function pruneOutbox(ctx: SourcePruneContext, database: SourceDatabase): Promise<PruneTableCount> {
  const count: PruneTableCount = { database, table: 'outbox', deleted: 0, kept: 0 };
  await walk(
    ctx,
    count,
    (cursor) => outboxPruneCandidates(ctx.sources[database], ctx.horizon, cursor, ctx.batchSize),
    async (ids) => {
      const keep = await otherHalvesKept(ctx, ids, consumedEventsFrom);
      const go = ids.filter((id) => !keep.has(id));
      count.kept += keep.size;
      return { go, remove: () => deleteOutboxRows(ctx.sources[database], go, ctx.horizon, ctx.lockTimeoutMs) };
    },
  );
  return count;
}

async function pruneConsumed(ctx: SourcePruneContext, database: SourceDatabase): Promise<PruneTableCount> {
  const count: PruneTableCount = { database, table: 'consumed_events', deleted: 0, kept: 0 };
  for (const group of await consumedGroups(ctx.sources[database])) {
    await walk(
      ctx,
      count,
      (cursor) => consumedPruneCandidates(ctx.sources[database], group, ctx.horizon, cursor, ctx.batchSize),
      async (ids) => {
        const keep = await otherHalvesKept(ctx, ids, outboxEventsFrom);
        const go = ids.filter((id) => !keep.has(id));
        count.kept += keep.size;
        return { go, remove: () => deleteConsumedRows(ctx.sources[database], group, go, ctx.horizon, ctx.lockTimeoutMs) };
      },
    );
  }
  return count;
}

/** Walk the candidates batch by batch in key order; delete each batch's prunable rows (or count them in a dry run). */
async function walk(
  ctx: SourcePruneContext,
  count: PruneTableCount,
  next: (cursor: PruneCursor) => Promise<PruneCandidate[]>,
  decide: (ids: string[]) => Promise<{ go: string[]; remove: () => Promise<PruneDelete> }>,
): Promise<void> {
  const started = performance.now();
  let cursor: PruneCursor = null;
  for (;;) {
    if (ctx.options.signal?.aborted)
      throw new ReconError('TIMEOUT', 'prune interrupted; what it deleted stays deleted, the next prune goes on', { retryable: true });
    const batch = await next(cursor);
    if (batch.length === 0) return;
    cursor = batch[batch.length - 1]!;
    const { go, remove } = await decide(batch.map((c) => c.event_id));
    if (go.length) {
      if (ctx.dryRun) count.deleted += go.length;
      else {
        const done = await withLockRetries(remove);
        count.deleted += done.deleted;
        ctx.stats.batches++;
        ctx.stats.longestTransactionMs = Math.max(ctx.stats.longestTransactionMs, done.transactionMs);
      }
    }
    ctx.options.onProgress?.({
      database: count.database,
      table: count.table,
      deleted: count.deleted,
      rowsPerSecond: count.deleted / Math.max(0.001, (performance.now() - started) / 1000),
    });
    if (batch.length < ctx.batchSize) return;
    if (ctx.options.pauseMs) await sleep(ctx.options.pauseMs, ctx.options.signal);
  }
}

/** A batch that met a held row lock (`lock_timeout`, 55P03) is tried again a few times, then the prune stops (nothing half-done: the batch rolled back). */
async function withLockRetries(remove: () => Promise<PruneDelete>): Promise<PruneDelete> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await remove();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== '55P03' || attempt >= LOCK_RETRIES) {
        if (code === '55P03')
          throw new ReconError('TIMEOUT', `prune: a delete batch kept waiting for row locks (${describeError(err).message}); try again later`, {
            cause: err,
            retryable: true,
          });
        throw err;
      }
      await sleep(100 * 2 ** attempt);
    }
  }
}

/** Delete a recon table's prunable rows batch by batch (a dry run counts them in one statement). */
async function pruneReconTable(
  options: PruneOptions,
  batch: (limit: number) => Promise<{ deleted: number }>,
  batchSize: number,
  dryRun: boolean,
): Promise<number> {
  if (dryRun) return (await batch(batchSize)).deleted;
  let total = 0;
  for (;;) {
    if (options.signal?.aborted) return total;
    const { deleted } = await batch(batchSize);
    total += deleted;
    if (deleted < batchSize) return total;
  }
}
