/**
 * The SQL of the batch layer's checks: per-segment checksums and leaf rows
 * over windows of window-key values.
 *
 * Every query here reads through an index range scan `key >= start and
 * key < end` on its table's window index (never a full scan). A query can
 * take several disjoint ranges at once (the segments of one bisection level
 * that differ), joined from `unnest` so each range is one index range scan
 * and the whole level is one round trip.
 *
 * Checksums are order-independent: a count and a sum of a 32-bit hash of the
 * id (`uuid_hash`, computed from the uuid's bytes, no text conversion). Sums
 * come back as text and are compared as bigint in JavaScript: they can exceed
 * 2^53.
 */
import type { Knex } from 'knex';
import type { Window } from '../core/index.js';

type Db = Knex | Knex.Transaction;

/**
 * Rows of `table` whose window key lies in one of `ranges`, as a FROM clause
 * exposing `r(s, e)` (the range of each row) and `alias` (the row, with
 * `columns`). One range: a one-row subquery of constants, which the planner
 * folds into the index condition. Several: each range is a LATERAL subquery
 * fenced by `offset 0`, so it stays a parameterised index range scan per
 * range; as a plain join the planner, blind to how narrow the ranges are, may
 * prefer walking another index of the whole table in group order.
 * `extra` is a further condition on the row (written with `alias`), and its
 * bindings follow the ranges'.
 */
function inRanges(
  ranges: readonly Window[],
  table: string,
  alias: string,
  key: string,
  columns: readonly string[],
  extra = '',
): { sql: string; bindings: Knex.Value[] } {
  if (ranges.length === 1) {
    const [only] = ranges;
    return {
      sql: `(select ?::timestamptz as s, ?::timestamptz as e) r join ${table} ${alias} on ${alias}.${key} >= r.s and ${alias}.${key} < r.e ${extra}`,
      bindings: [only!.start, only!.end],
    };
  }
  return {
    sql: `unnest(?::timestamptz[], ?::timestamptz[]) r(s, e)
          cross join lateral (select ${columns.join(', ')} from ${table} ${alias}
                              where ${alias}.${key} >= r.s and ${alias}.${key} < r.e ${extra} offset 0) ${alias}`,
    bindings: [ranges.map((w) => w.start.toISOString()), ranges.map((w) => w.end.toISOString())],
  };
}

/**
 * Run a window query with JIT compilation off. The planner cannot see how
 * narrow a window is, so its estimates can pass the JIT thresholds; compiling
 * then costs more (tens to hundreds of milliseconds) than the scan it speeds
 * up. `set local` needs a transaction: a read-only one, three short round trips.
 */
async function noJit<T>(db: Db, query: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  const run = async (trx: Knex.Transaction) => {
    await trx.raw('set local jit = off');
    return query(trx);
  };
  return db.isTransaction ? run(db as Knex.Transaction) : (db as Knex).transaction(run, { readOnly: true });
}

/** One segment's checksum row: segment start and the end of the range it was cut from. */
interface SegmentKey {
  seg: Date;
  range_end: Date;
}

export interface UsersSegmentSums extends SegmentKey {
  /** Users in the segment. */
  n: number;
  /** Σ uuid_hash(id), as a decimal string. */
  h: string;
}

export interface LedgerSegmentSums extends SegmentKey {
  /** Signup entries (grants and revocations) in the segment. */
  n: number;
  /** Σ amount. */
  a: string;
  /** Σ amount · uuid_hash(user_id). */
  ah: string;
}

export interface EventSegmentSums extends SegmentKey {
  n: number;
  /** Σ uuid_hash(event_id). */
  h: string;
}

export interface CountSegment extends SegmentKey {
  n: number;
}

const SIGNUP_REASONS = ['signup_bonus', 'signup_bonus_revocation'];

/** Per-segment (count, Σh) of users whose `created_at` lies in `ranges`, segments `strideMs` wide from each range's start. */
export async function usersSegmentSums(db: Db, ranges: readonly Window[], strideMs: number): Promise<UsersSegmentSums[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'users', 'u', 'created_at', ['u.created_at', 'u.id']);
  const { rows } = await noJit(db, (trx) => trx.raw<{ rows: UsersSegmentSums[] }>(
    `select date_bin(? * interval '1 millisecond', u.created_at, r.s) as seg, r.e as range_end,
            count(*) as n, sum(uuid_hash(u.id))::text as h
     from ${r.sql}
     group by 1, 2`,
    [strideMs, ...r.bindings],
  ));
  return rows;
}

/** Per-segment (count, Σamount, Σamount·h) of signup ledger entries whose `user_created_at` lies in `ranges`. */
export async function ledgerSegmentSums(db: Db, ranges: readonly Window[], strideMs: number): Promise<LedgerSegmentSums[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'point_ledger', 'p', 'user_created_at', ['p.user_created_at', 'p.user_id', 'p.amount'], 'and p.reason = any(?::text[])');
  const { rows } = await noJit(db, (trx) => trx.raw<{ rows: LedgerSegmentSums[] }>(
    `select date_bin(? * interval '1 millisecond', p.user_created_at, r.s) as seg, r.e as range_end,
            count(*) as n, sum(p.amount)::text as a, sum(p.amount::int8 * uuid_hash(p.user_id))::text as ah
     from ${r.sql}
     group by 1, 2`,
    [strideMs, ...r.bindings, SIGNUP_REASONS],
  ));
  return rows;
}

/** Users whose `created_at` lies in `ranges` (leaf comparison). */
export async function usersInRanges(db: Db, ranges: readonly Window[]): Promise<{ id: string; created_at: Date }[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'users', 'u', 'created_at', ['u.id', 'u.created_at']);
  const { rows } = await noJit(db, (trx) => trx.raw<{ rows: { id: string; created_at: Date }[] }>(
    `select u.id, u.created_at from ${r.sql}`,
    r.bindings,
  ));
  return rows;
}

/** Net signup amount per ledger user id whose `user_created_at` lies in `ranges` (leaf comparison). */
export async function ledgerNetsInRanges(
  db: Db,
  ranges: readonly Window[],
): Promise<{ user_id: string; net: number; entries: number; user_created_at: Date }[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'point_ledger', 'p', 'user_created_at', ['p.user_id', 'p.amount', 'p.user_created_at'], 'and p.reason = any(?::text[])');
  const { rows } = await noJit(db, (trx) => trx.raw<{ rows: { user_id: string; net: number; entries: number; user_created_at: Date }[] }>(
    `select p.user_id, sum(p.amount) as net, count(*) as entries, min(p.user_created_at) as user_created_at
     from ${r.sql}
     group by p.user_id`,
    [...r.bindings, SIGNUP_REASONS],
  ));
  return rows;
}

/** Per-segment (count, Σh) of outbox rows whose `occurred_at` lies in `ranges`, published or not. */
export async function outboxSegmentSums(db: Db, ranges: readonly Window[], strideMs: number): Promise<EventSegmentSums[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'outbox', 'o', 'occurred_at', ['o.occurred_at', 'o.event_id']);
  const { rows } = await noJit(db, (trx) => trx.raw<{ rows: EventSegmentSums[] }>(
    `select date_bin(? * interval '1 millisecond', o.occurred_at, r.s) as seg, r.e as range_end,
            count(*) as n, sum(uuid_hash(o.event_id))::text as h
     from ${r.sql}
     group by 1, 2`,
    [strideMs, ...r.bindings],
  ));
  return rows;
}

/** Per-segment count of unpublished outbox rows in `ranges` (the partial index of unpublished rows). */
export async function unpublishedSegmentCounts(db: Db, ranges: readonly Window[], strideMs: number): Promise<CountSegment[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'outbox', 'o', 'occurred_at', ['o.occurred_at'], 'and o.published_at is null');
  const { rows } = await noJit(db, (trx) => trx.raw<{ rows: CountSegment[] }>(
    `select date_bin(? * interval '1 millisecond', o.occurred_at, r.s) as seg, r.e as range_end, count(*) as n
     from ${r.sql}
     group by 1, 2`,
    [strideMs, ...r.bindings],
  ));
  return rows;
}

/** Per-segment (count, Σh) of events `group` consumed whose `event_occurred_at` lies in `ranges`. */
export async function consumedSegmentSums(db: Db, group: string, ranges: readonly Window[], strideMs: number): Promise<EventSegmentSums[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'consumed_events', 'c', 'event_occurred_at', ['c.event_occurred_at', 'c.event_id'], 'and c.consumer_group = ?');
  const { rows } = await noJit(db, (trx) => trx.raw<{ rows: EventSegmentSums[] }>(
    `select date_bin(? * interval '1 millisecond', c.event_occurred_at, r.s) as seg, r.e as range_end,
            count(*) as n, sum(uuid_hash(c.event_id))::text as h
     from ${r.sql}
     group by 1, 2`,
    [strideMs, ...r.bindings, group],
  ));
  return rows;
}

export interface OutboxLeafRow {
  event_id: string;
  topic: string;
  occurred_at: Date;
  published: boolean;
  /** Where the relay's send landed (null: unpublished, or acknowledged without a position). */
  kafka_partition: number | null;
  kafka_offset: number | null;
}

/** Outbox rows whose `occurred_at` lies in `ranges` (leaf comparison). */
export async function outboxInRanges(db: Db, ranges: readonly Window[]): Promise<OutboxLeafRow[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'outbox', 'o', 'occurred_at', ['o.event_id', 'o.topic', 'o.occurred_at', 'o.published_at', 'o.kafka_partition', 'o.kafka_offset']);
  const { rows } = await noJit(db, (trx) => trx.raw<{ rows: OutboxLeafRow[] }>(
    `select o.event_id, o.topic, o.occurred_at, o.published_at is not null as published, o.kafka_partition, o.kafka_offset
     from ${r.sql}`,
    r.bindings,
  ));
  return rows;
}

/** Events `group` consumed whose `event_occurred_at` lies in `ranges` (leaf comparison). */
export async function consumedInRanges(
  db: Db,
  group: string,
  ranges: readonly Window[],
): Promise<{ event_id: string; topic: string; event_occurred_at: Date }[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'consumed_events', 'c', 'event_occurred_at', ['c.event_id', 'c.topic', 'c.event_occurred_at'], 'and c.consumer_group = ?');
  const { rows } = await noJit(db, (trx) => trx.raw<{ rows: { event_id: string; topic: string; event_occurred_at: Date }[] }>(
    `select c.event_id, c.topic, c.event_occurred_at
     from ${r.sql}`,
    [...r.bindings, group],
  ));
  return rows;
}

export interface DeadLetterFinding {
  id: number;
  event_id: string | null;
  topic: string;
  kafka_partition: number;
  kafka_offset: number;
  error_class: string;
  dead_lettered_at: Date;
}

/**
 * Dead letters of `group` for the given events: by event id (the
 * `(consumer_group, event_id)` index) or, for dead letters recorded without
 * one, by the position the event was published at (the table's unique
 * `(consumer_group, topic, kafka_partition, kafka_offset)` index).
 */
export async function deadLettersForEvents(
  db: Db,
  group: string,
  events: readonly { event_id: string; topic: string; kafka_partition: number | null; kafka_offset: number | null }[],
): Promise<DeadLetterFinding[]> {
  if (events.length === 0) return [];
  const placed = events.filter((e) => e.kafka_partition !== null && e.kafka_offset !== null);
  const { rows } = await db.raw<{ rows: DeadLetterFinding[] }>(
    `select id, event_id, topic, kafka_partition, kafka_offset, error_class, dead_lettered_at
     from dead_letters where consumer_group = ? and event_id = any(?::uuid[])
     union
     select d.id, x.event_id, d.topic, d.kafka_partition, d.kafka_offset, d.error_class, d.dead_lettered_at
     from unnest(?::uuid[], ?::text[], ?::int[], ?::int8[]) x(event_id, topic, p, o)
     join dead_letters d on d.consumer_group = ? and d.topic = x.topic and d.kafka_partition = x.p and d.kafka_offset = x.o`,
    [
      group,
      events.map((e) => e.event_id),
      placed.map((e) => e.event_id),
      placed.map((e) => e.topic),
      placed.map((e) => e.kafka_partition),
      placed.map((e) => e.kafka_offset),
      group,
    ] as unknown as Knex.Value[],
  );
  return rows;
}

/** Dead letters of `group` without an event id (undecodable messages), dead-lettered within `window`. */
export async function anonymousDeadLettersIn(db: Db, group: string, window: Window): Promise<DeadLetterFinding[]> {
  const { rows } = await db.raw<{ rows: DeadLetterFinding[] }>(
    `select id, event_id, topic, kafka_partition, kafka_offset, error_class, dead_lettered_at
     from dead_letters
     where dead_lettered_at >= ? and dead_lettered_at < ? and consumer_group = ? and event_id is null`,
    [window.start, window.end, group],
  );
  return rows;
}

/** The window-key columns a check can start from. */
export const WINDOW_KEYS = {
  users: { table: 'users', column: 'created_at' },
  ledger: { table: 'point_ledger', column: 'user_created_at' },
  outbox: { table: 'outbox', column: 'occurred_at' },
  consumed: { table: 'consumed_events', column: 'event_occurred_at' },
} as const;
export type WindowKeyName = keyof typeof WINDOW_KEYS;

/** Smallest window-key value of a source (an index endpoint read), or null when it is empty. */
export async function earliestWindowKey(db: Db, key: WindowKeyName, group?: string): Promise<Date | null> {
  const { table, column } = WINDOW_KEYS[key];
  const where = key === 'consumed' && group !== undefined ? 'where consumer_group = ?' : '';
  const { rows } = await db.raw<{ rows: { t: Date | null }[] }>(`select min(${column}) as t from ${table} ${where}`, where ? [group!] : []);
  return rows[0]?.t ?? null;
}

/**
 * The database server's clock and the start of the oldest transaction open on
 * this database (a client backend other than ours). Rows such a transaction
 * writes carry times from its start and become visible only when it commits.
 * Every open transaction counts, not only those that already hold a write
 * xid: Postgres assigns one at the first write, and a transaction may read or
 * wait for a long time before it writes rows keyed by its start time.
 */
export async function writerHorizon(db: Db): Promise<{ now: Date; oldestWriterStart: Date | null }> {
  const { rows } = await db.raw<{ rows: { now: Date; oldest: Date | null }[] }>(
    `select now() as now,
            (select min(xact_start) from pg_stat_activity
              where datname = current_database() and backend_type = 'client backend'
                and xact_start is not null and pid <> pg_backend_pid()) as oldest`,
  );
  const row = rows[0]!;
  return { now: row.now, oldestWriterStart: row.oldest };
}

/** A table whose rows can be written long after their window-key time (a consumer catching up). */
export interface LateSource {
  table: 'point_ledger' | 'consumed_events';
  /** When the row was written (indexed). */
  insertedAt: 'created_at' | 'consumed_at';
  /** The window key it is compared by. */
  key: 'user_created_at' | 'event_occurred_at';
}

/**
 * Starts of the windows (aligned to multiples of `windowSeconds` since the
 * epoch) holding rows written at or after `since` whose key is before
 * `before`: the windows behind a watermark that received rows late. An index
 * range scan on the insert time; table and column names come from
 * {@link LateSource}, never from input.
 */
export async function lateWindowStarts(db: Db, source: LateSource, since: Date, before: Date, windowSeconds: number): Promise<Date[]> {
  const { rows } = await db.raw<{ rows: { bucket: number }[] }>(
    `select distinct floor(extract(epoch from ${source.key}) / ?) as bucket
       from ${source.table}
      where ${source.insertedAt} >= ? and ${source.key} < ?
      order by 1`,
    [windowSeconds, since, before],
  );
  return rows.map((r) => new Date(Number(r.bucket) * windowSeconds * 1000));
}
