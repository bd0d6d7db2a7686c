/**
 * The outbox relay: publishes unpublished outbox rows of one or more
 * databases (users → `user.created`, points → `point.granted`), each to the
 * row's `topic` as written.
 *
 * Per round, in one transaction: claim up to `batchSize` rows
 * (`for update skip locked`, so several relays may run), send them in one
 * idempotent acks=all request, record `published_at`, partition and offset,
 * commit. A failed send rolls back (rows stay unpublished), the failure is
 * counted on the rows, and the relay backs off with jitter and tries again
 * with a round half the size (it grows back after full rounds that succeed).
 * A full batch loops at once; when idle, one loop per database polls every
 * `pollIntervalMs` with a single `exists` query, and the other loops sleep
 * until that one meets a full batch (a backlog).
 *
 * Per-key order holds across loops and relays: the claim leaves out rows
 * whose key has an earlier unpublished row another claimer holds
 * (`claimUnpublished`), and one claim's rows of a partition go out in one
 * request, in order, from an idempotent producer.
 */
import type { Knex } from 'knex';
import { backoffDelay, describeError, silentLogger, sleep, type Logger } from '../core/index.js';
import { claimUnpublished, hasUnpublished, markPublished, recordPublishFailure } from '../db/index.js';
import type { Producer } from './kafka.js';
import { outboxMessage, sendLocated } from './publish.js';

/** How long a helper loop sleeps when idle, unless loop 0 wakes it on a full batch. */
const HELPER_IDLE_MS = 1000;

export interface RelaySource {
  /** For logs and stats, e.g. `users`. */
  name: string;
  db: Knex;
}

export interface RelayOptions {
  /** Rows claimed and sent per round. Default 4000 (fewer rounds per event: each round costs six statements and a Kafka request). */
  batchSize?: number;
  /** Wait after a round that found nothing, ms. Default 20 (keeps p99 latency low). */
  pollIntervalMs?: number;
  /** Ceiling of the backoff after failed sends, ms. Default 5000. */
  maxBackoffMs?: number;
  /**
   * Loops per database. Several loops overlap one round's database work
   * (claim, mark) with another's send; `skip locked` keeps them apart, and a
   * key's later rows wait for its earlier ones held by another loop.
   * Default 2.
   */
  concurrency?: number;
  log?: Logger;
}

export interface RelayStats {
  /** Rows published, per source name. */
  published: Record<string, number>;
  /** Failed rounds, per source name. */
  failures: Record<string, number>;
}

export interface RelayHandle {
  stats(): RelayStats;
  /** Finish the round in hand, then stop. Resolves when every loop has ended. */
  stop(): Promise<void>;
}

/**
 * One round on one database: claim, send, mark, commit. Returns how many rows
 * were published. Throws (after rolling back and counting the failure on the
 * rows) when the send fails.
 */
export async function relayOnce(db: Knex, producer: Producer, batchSize: number): Promise<number> {
  const trx = await db.transaction();
  let ids: string[] = [];
  try {
    const rows = await claimUnpublished(trx, batchSize);
    if (rows.length === 0) {
      await trx.commit();
      return 0;
    }
    ids = rows.map((r) => r.event_id);
    const landed = await sendLocated(producer, rows.map(outboxMessage));
    await markPublished(
      trx,
      rows.map((r, i) => ({ event_id: r.event_id, partition: landed[i]!.partition, offset: landed[i]!.offset })),
    );
    await trx.commit();
    return rows.length;
  } catch (err) {
    if (!trx.isCompleted()) await trx.rollback().catch(() => undefined);
    // Outside the claiming transaction: no lock is held while we back off.
    await recordPublishFailure(db, ids, `${describeError(err).errorClass}: ${describeError(err).message}`).catch(() => undefined);
    throw err;
  }
}

/**
 * Run the relay loops (`concurrency` per source) until `stop()`. An
 * idempotent producer sends one request at a time, so each loop gets its own
 * producer when several are given (loops are numbered across sources, and
 * loop i uses `producers[i % length]`).
 */
export function runOutboxRelay(sources: readonly RelaySource[], producers: Producer | readonly Producer[], options: RelayOptions = {}): RelayHandle {
  const { batchSize = 4000, pollIntervalMs = 20, maxBackoffMs = 5000, concurrency = 2, log = silentLogger } = options;
  const pool = Array.isArray(producers) ? (producers as readonly Producer[]) : [producers as Producer];
  const abort = new AbortController();
  const stats: RelayStats = { published: {}, failures: {} };
  for (const source of sources) {
    stats.published[source.name] = 0;
    stats.failures[source.name] = 0;
  }
  // Loops are numbered across sources, so with a producer per loop no two loops (of one database or of two) share one.
  const loops = sources.flatMap((source, s) =>
    Array.from({ length: concurrency }, (_, i) => ({ source, producer: pool[(s * concurrency + i) % pool.length]!, helper: i > 0 })),
  );
  /** Per source: aborted (and replaced) to wake its helper loops when a full batch shows a backlog. */
  const wake = new Map(sources.map((src) => [src.name, new AbortController()]));
  const wakeHelpers = (name: string) => {
    wake.get(name)!.abort();
    wake.set(name, new AbortController());
  };
  const running = loops.map(async ({ source, producer, helper }) => {
    let failures = 0;
    let idle = false;
    // A round that fails is tried again at half the size (down to one row), then grows back after each full success:
    // a round too large for the broker (its record-batch limit, 1 MiB by default, with large payloads or few keys)
    // gets through instead of being retried whole for ever, and a poison row is isolated.
    let size = batchSize;
    // Loop 0 polls every `pollIntervalMs` (one `exists` query); helpers only join in on a backlog.
    const idleWait = () => sleep(helper ? HELPER_IDLE_MS : pollIntervalMs, AbortSignal.any([abort.signal, wake.get(source.name)!.signal]));
    while (!abort.signal.aborted) {
      try {
        if (idle && !(await hasUnpublished(source.db))) {
          await idleWait();
          continue;
        }
        const n = await relayOnce(source.db, producer, size);
        stats.published[source.name]! += n;
        if (failures > 0) log.info({ source: source.name, failures, roundSize: size }, 'relay: sending again');
        failures = 0;
        idle = n < size;
        if (!idle) size = Math.min(batchSize, size * 2);
        if (!idle && !helper) wakeHelpers(source.name);
        if (idle) await idleWait();
      } catch (err) {
        stats.failures[source.name]! += 1;
        const delay = backoffDelay(failures, 100, maxBackoffMs);
        failures += 1;
        size = Math.max(1, Math.floor(size / 2));
        log.warn({ source: source.name, err: describeError(err), retryInMs: delay, nextRoundSize: size }, 'relay: send failed; rows stay unpublished');
        await sleep(delay, abort.signal);
      }
    }
  });
  return {
    stats: () => ({ published: { ...stats.published }, failures: { ...stats.failures } }),
    async stop() {
      abort.abort();
      await Promise.all(running);
    },
  };
}
