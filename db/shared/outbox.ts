import type { Knex } from 'knex';

/** One outbox row (Debezium convention: aggregate id as key, event id in header `id`). */
export interface OutboxEventRow {
  event_id: string;
  /** Full topic name, namespace included: the relay publishes to it as written. */
  topic: string;
  message_key: string;
  payload: object;
  headers?: Record<string, string>;
  /** Defaults to the transaction's start (`now()`), the same clock the safe upper bound uses. */
  occurred_at?: Date;
}

/**
 * Insert outbox rows in one statement; rows whose event id exists are left
 * alone (a republished or replayed event keeps its first row). Returns the
 * event ids inserted.
 */
export async function insertOutboxEvents(db: Knex | Knex.Transaction, rows: readonly OutboxEventRow[]): Promise<string[]> {
  if (rows.length === 0) return [];
  // One statement over parallel arrays: a handful of bind parameters however many rows,
  // and a fraction of the planning and parsing of a multi-row VALUES list.
  const { rows: inserted } = await db.raw<{ rows: { event_id: string }[] }>(
    `insert into outbox (event_id, topic, message_key, payload, headers, occurred_at)
     select e, t, k, p::jsonb, h::jsonb, coalesce(o, now())
       from unnest(?::uuid[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[]) as x(e, t, k, p, h, o)
     on conflict (event_id) do nothing
     returning event_id`,
    [
      rows.map((r) => r.event_id),
      rows.map((r) => r.topic),
      rows.map((r) => r.message_key),
      rows.map((r) => JSON.stringify(r.payload)),
      rows.map((r) => JSON.stringify({ id: r.event_id, ...r.headers })),
      rows.map((r) => r.occurred_at ?? null),
    ] as Knex.RawBinding[],
  );
  return inserted.map((r) => r.event_id);
}

/** An outbox row as the relay sends it: payload as JSON text, headers as strings. */
export interface PendingOutboxRow {
  event_id: string;
  topic: string;
  message_key: string | null;
  /** JSON text of the payload (sent as the message value). */
  payload: string;
  headers: Record<string, string>;
  occurred_at: Date;
}

/**
 * Lock up to `limit` unpublished rows, oldest first, skipping rows another
 * relay holds (several relays may run). Unpublished rows are found through
 * `unpublished_events`, the work list that the outbox's triggers keep equal
 * to its rows with `published_at` null (migration 0009), not by a sequence
 * cursor: a row whose transaction commits late (sequence order is not commit
 * order) is still found. The work list keeps `published_at` out of every
 * index of `outbox`, so marking rows published is a HOT update.
 * Call inside the transaction that will mark them published.
 *
 * Both the work-list rows and the outbox rows are locked (`skip locked`
 * both): a republishing compensation locks the outbox row first and the
 * work-list row through the trigger, and the relay never waits on either, so
 * the two cannot deadlock. A work-list row whose outbox row was deleted
 * (a prune of an unpublished row) is dropped here.
 *
 * Per-key order: a key's rows must reach its partition in outbox order, but
 * another claimer may hold (and be sending, or about to roll back) an earlier
 * row of the same key. A claimed row with an earlier unpublished row of its
 * topic and key outside this claim is therefore not returned: it stays locked
 * (so nobody else sends it either) until this transaction ends, and is
 * claimed again once the earlier one is published. The claimer of the oldest
 * rows is never held back, so the outbox always drains.
 *
 * That check is made by the statement that reads the claimed outbox rows,
 * one probe of the work list's key index per row, with no list of the
 * claim's rows to send along: a work-list row is this claim's own when this
 * transaction locked it, that is when its `xmax` is this transaction's id.
 * This transaction writes no other work-list row before the check, and a
 * row another transaction locked or deleted carries that one's id (several
 * lockers at once would leave a multixact there, but nothing takes shared
 * locks on the work list). When some claimed rows could not be read (their
 * outbox row deleted, or locked by a republishing compensation), the claim's
 * own rows are just those read, and the check is made again against exactly
 * them.
 */
export async function claimUnpublished(trx: Knex.Transaction, limit: number): Promise<PendingOutboxRow[]> {
  // Walk the work list's index in order and stop after `limit` rows. Statistics taken while it was nearly
  // empty could make the planner sort the WHOLE backlog instead, exactly when the relay must catch up. And
  // commit without waiting for the WAL flush: a mark lost in a crash of the database leaves its rows
  // unpublished, so they are sent again (at least once; consumers deduplicate by event id), never lost.
  // No sequential scans either: every statement of the round (these selects, the mark and the work list's
  // trigger) looks rows up by key, but on tables autovacuum has not analyzed yet (a new estate, a burst after a
  // quiet spell) the planner took the work list for ten rows and scanned it whole per round, testing each row
  // against the round's few thousand ids (`= any`, unhashed): seconds per round once a backlog built up.
  // All local to this transaction.
  await trx.raw(
    "select set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true), set_config('enable_seqscan', 'off', true), set_config('synchronous_commit', 'off', true)",
  );
  const { rows: listed } = await trx.raw<{ rows: { event_id: string }[] }>(
    'select event_id from unpublished_events order by occurred_at, event_id limit ? for update skip locked',
    [limit],
  );
  if (listed.length === 0) return [];
  const ids = listed.map((r) => r.event_id);
  // `at_us`: occurred_at in microseconds (a Date keeps only milliseconds), to order rows of one key exactly.
  const { rows } = await trx.raw<{ rows: (PendingOutboxRow & { at_us: number; waits: boolean })[] }>(
    `select o.event_id, o.topic, o.message_key, o.payload::text as payload, o.headers, o.occurred_at,
            (extract(epoch from o.occurred_at) * 1000000)::int8 as at_us,
            o.message_key is not null and exists (
              select 1 from unpublished_events u
               where ${EARLIER_OF_KEY}
                 and u.xmax <> pg_current_xact_id()::xid
            ) as waits
       from outbox o
      where o.event_id = any(?::uuid[]) and o.published_at is null
      for update skip locked`,
    [ids],
  );
  let waiting = new Set(rows.filter((r) => r.waits).map((r) => r.event_id));
  if (rows.length < ids.length) {
    await dropDeletedFromWorkList(trx, ids);
    waiting = await waitingOutside(
      trx,
      rows.map((r) => r.event_id),
    );
  }
  rows.sort((a, b) => a.at_us - b.at_us || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));
  return rows.filter((r) => !waiting.has(r.event_id)).map(({ at_us: _, waits: __, ...row }) => row);
}

/**
 * The condition "work-list row `u` is an earlier unpublished row of outbox
 * row `o`'s topic and key", by the work list's key index
 * (`unpublished_events_key_hash_idx`, migration 0010): the hash finds the
 * key's few rows, the rest checks them exactly. "Earlier" is `(occurred_at,
 * event_id)`, so of two rows of one key in one transaction exactly one goes
 * first and two claimers never hold each other back.
 */
const EARLIER_OF_KEY = `hashtextextended(u.message_key, 0) = hashtextextended(o.message_key, 0)
                 and u.message_key is not null
                 and u.topic = o.topic and u.message_key = o.message_key
                 and (u.occurred_at, u.event_id) < (o.occurred_at, o.event_id)`;

/**
 * Of `mine` (outbox rows this transaction holds), those with an earlier
 * unpublished row of their topic and key outside `mine`. Only for the rare
 * round in which claimed rows could not be read: the `<> all` is a scan of
 * `mine` for each earlier row found, which the common path avoids.
 */
async function waitingOutside(trx: Knex.Transaction, mine: readonly string[]): Promise<Set<string>> {
  if (mine.length === 0) return new Set();
  const { rows } = await trx.raw<{ rows: { event_id: string }[] }>(
    `select o.event_id from outbox o
      where o.event_id = any(?::uuid[]) and o.message_key is not null
        and exists (select 1 from unpublished_events u where ${EARLIER_OF_KEY} and u.event_id <> all(?::uuid[]))`,
    [Array.from(mine), Array.from(mine)],
  );
  return new Set(rows.map((r) => r.event_id));
}

/** Remove the work-list rows among `ids` whose outbox row no longer exists (the outbox has no foreign key to keep them in step). */
async function dropDeletedFromWorkList(trx: Knex.Transaction, ids: readonly string[]): Promise<void> {
  await trx.raw(
    `delete from unpublished_events u
      where u.event_id = any(?::uuid[]) and not exists (select 1 from outbox o where o.event_id = u.event_id)`,
    [Array.from(ids)],
  );
}

/** An outbox row as stored: what the relay sends, and whether it was published. */
export interface StoredOutboxRow extends PendingOutboxRow {
  published_at: Date | null;
}

/**
 * Outbox rows by event id, in the shape the relay sends (to produce the very
 * same message again: duplicate faults, republishing compensations).
 */
export async function outboxRowsById(db: Knex | Knex.Transaction, eventIds: readonly string[]): Promise<StoredOutboxRow[]> {
  if (eventIds.length === 0) return [];
  const { rows } = await db.raw<{ rows: StoredOutboxRow[] }>(
    `select event_id, topic, message_key, payload::text as payload, headers, occurred_at, published_at
     from outbox where event_id = any(?::uuid[])`,
    [Array.from(eventIds)],
  );
  return rows;
}

/** The event ids among `eventIds` that have an outbox row (primary-key lookups). */
export async function outboxEventIdsAmong(db: Knex | Knex.Transaction, eventIds: readonly string[]): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const { rows } = await db.raw<{ rows: { event_id: string }[] }>('select event_id from outbox where event_id = any(?::uuid[])', [Array.from(eventIds)]);
  return new Set(rows.map((r) => r.event_id));
}

/** An unpublished outbox row a republishing compensation asked about, and the earlier unpublished row of its key it must wait for. */
export interface RepublishOrderRow {
  event_id: string;
  /** The earliest unpublished row of the same topic and key, earlier than this one and not among the rows asked about; null: none. */
  waits_for: string | null;
}

/**
 * Of `eventIds`, the rows still unpublished, in outbox order (`occurred_at`,
 * then `event_id`, as the relay orders a key's rows), each with the earliest
 * earlier unpublished row of its topic and key that is not among `eventIds`.
 * A row with one must not be sent before it (per-key order); rows without a
 * key never wait. One statement: per row, a range scan of the unpublished rows
 * of its key in the work list (`unpublished_events_key_hash_idx`).
 */
export async function unpublishedInKeyOrder(db: Knex | Knex.Transaction, eventIds: readonly string[]): Promise<RepublishOrderRow[]> {
  if (eventIds.length === 0) return [];
  const ids = Array.from(eventIds);
  const { rows } = await db.raw<{ rows: RepublishOrderRow[] }>(
    `select o.event_id, w.event_id as waits_for
       from outbox o
       left join lateral (
         select u.event_id from unpublished_events u
          where ${EARLIER_OF_KEY}
            and u.event_id <> all(?::uuid[])
          order by u.occurred_at, u.event_id
          limit 1
       ) w on true
      where o.event_id = any(?::uuid[]) and o.published_at is null
      order by o.occurred_at, o.event_id`,
    [ids, ids],
  );
  return rows;
}

/**
 * Record rows as published, with where they landed. `partition`/`offset`
 * null means "acknowledged, position unknown" (used by fault injection to
 * stand for a send lost after its acknowledgement).
 */
export async function markPublished(
  db: Knex | Knex.Transaction,
  rows: readonly { event_id: string; partition: number | null; offset: number | null }[],
): Promise<number> {
  if (rows.length === 0) return 0;
  // The `= any(...)` repeats the join key so the planner finds the rows through
  // the primary key; a bare join to unnest() hashes the whole outbox per batch.
  const { rowCount } = await db.raw<{ rowCount: number }>(
    `update outbox o set published_at = clock_timestamp(), kafka_partition = x.p, kafka_offset = x.o
     from unnest(?::uuid[], ?::int[], ?::bigint[]) as x(id, p, o)
     where o.event_id = x.id and o.event_id = any(?::uuid[])`,
    [rows.map((r) => r.event_id), rows.map((r) => r.partition), rows.map((r) => r.offset), rows.map((r) => r.event_id)] as unknown as readonly Knex.Value[],
  );
  return rowCount;
}

/**
 * Count a failed send against rows (outside the claiming transaction, which
 * rolled back, so no lock is held while the relay backs off). Rows another
 * relay has locked meanwhile are skipped.
 */
export async function recordPublishFailure(db: Knex | Knex.Transaction, eventIds: readonly string[], error: string): Promise<void> {
  if (eventIds.length === 0) return;
  await db.raw(
    `update outbox set attempts = attempts + 1, last_error = ?
     where event_id in (select event_id from outbox where event_id = any(?::uuid[]) and published_at is null for update skip locked)`,
    [error.slice(0, 2000), Array.from(eventIds)],
  );
}

/** Whether any row waits (one cheap query on the work list: the relay's idle poll). */
export async function hasUnpublished(db: Knex | Knex.Transaction): Promise<boolean> {
  const { rows } = await db.raw<{ rows: { found: boolean }[] }>('select exists (select 1 from unpublished_events) as found');
  return rows[0]?.found ?? false;
}

/** Rows not yet published (tests, progress, lag). */
export async function countUnpublished(db: Knex | Knex.Transaction): Promise<number> {
  const { rows } = await db.raw<{ rows: { n: number }[] }>('select count(*)::int as n from unpublished_events');
  return rows[0]?.n ?? 0;
}

/**
 * Record a republished row as published, only if nobody did meanwhile: the
 * relay may publish the same row concurrently, and the first position
 * recorded stays (the duplicate message is harmless, consumers deduplicate by
 * event id). Returns the event ids this call marked.
 */
export async function markRepublished(
  db: Knex | Knex.Transaction,
  rows: readonly { event_id: string; partition: number | null; offset: number | null }[],
): Promise<string[]> {
  if (rows.length === 0) return [];
  const { rows: marked } = await db.raw<{ rows: { event_id: string }[] }>(
    `update outbox o set published_at = clock_timestamp(), kafka_partition = x.p, kafka_offset = x.o
     from unnest(?::uuid[], ?::int[], ?::bigint[]) as x(id, p, o)
     where o.event_id = x.id and o.published_at is null
     returning o.event_id`,
    [rows.map((r) => r.event_id), rows.map((r) => r.partition), rows.map((r) => r.offset)] as unknown as readonly Knex.Value[],
  );
  return marked.map((r) => r.event_id);
}

/**
 * Record where a row re-sent because its message was missing on the topic
 * landed (a record lost on a leader failover, or deleted): unlike
 * {@link markRepublished}, the row was published already, so its old
 * position is replaced; only rows still marked published are touched.
 */
export async function markRelocated(
  db: Knex | Knex.Transaction,
  rows: readonly { event_id: string; partition: number | null; offset: number | null }[],
): Promise<string[]> {
  if (rows.length === 0) return [];
  const { rows: marked } = await db.raw<{ rows: { event_id: string }[] }>(
    `update outbox o set published_at = clock_timestamp(), kafka_partition = x.p, kafka_offset = x.o
     from unnest(?::uuid[], ?::int[], ?::bigint[]) as x(id, p, o)
     where o.event_id = x.id and o.published_at is not null
     returning o.event_id`,
    [rows.map((r) => r.event_id), rows.map((r) => r.partition), rows.map((r) => r.offset)] as unknown as readonly Knex.Value[],
  );
  return marked.map((r) => r.event_id);
}
