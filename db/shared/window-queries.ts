/** The checks' SQL on the tables both source databases have: outbox, consumed events and dead letters (see ../window-sql.ts). */
import type { Knex } from 'knex';
import type { Window } from '../../core/index.js';
import { inRanges, noJit, type Db, type SegmentKey } from '../window-sql.js';

export interface EventSegmentSums extends SegmentKey {
  n: number;
  /** Σ uuid_hash(event_id). */
  h: string;
}

export interface CountSegment extends SegmentKey {
  n: number;
}

/** Per-segment (count, Σh) of outbox rows whose `occurred_at` lies in `ranges`, published or not. */
export async function outboxSegmentSums(db: Db, ranges: readonly Window[], strideMs: number): Promise<EventSegmentSums[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'outbox', 'o', 'occurred_at', ['o.occurred_at', 'o.event_id']);
  const { rows } = await noJit(db, (trx) =>
    trx.raw<{ rows: EventSegmentSums[] }>(
      `select date_bin(? * interval '1 millisecond', o.occurred_at, r.s) as seg, r.e as range_end,
            count(*) as n, sum(uuid_hash(o.event_id))::text as h
     from ${r.sql}
     group by 1, 2`,
      [strideMs, ...r.bindings],
    ),
  );
  return rows;
}

/** Per-segment count of unpublished outbox rows in `ranges` (the partial index of unpublished rows). */
export async function unpublishedSegmentCounts(db: Db, ranges: readonly Window[], strideMs: number): Promise<CountSegment[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'outbox', 'o', 'occurred_at', ['o.occurred_at'], 'and o.published_at is null');
  const { rows } = await noJit(db, (trx) =>
    trx.raw<{ rows: CountSegment[] }>(
      `select date_bin(? * interval '1 millisecond', o.occurred_at, r.s) as seg, r.e as range_end, count(*) as n
     from ${r.sql}
     group by 1, 2`,
      [strideMs, ...r.bindings],
    ),
  );
  return rows;
}

/** Per-segment (count, Σh) of events `group` consumed whose `event_occurred_at` lies in `ranges`. */
export async function consumedSegmentSums(db: Db, group: string, ranges: readonly Window[], strideMs: number): Promise<EventSegmentSums[]> {
  if (ranges.length === 0) return [];
  const r = inRanges(ranges, 'consumed_events', 'c', 'event_occurred_at', ['c.event_occurred_at', 'c.event_id'], 'and c.consumer_group = ?');
  const { rows } = await noJit(db, (trx) =>
    trx.raw<{ rows: EventSegmentSums[] }>(
      `select date_bin(? * interval '1 millisecond', c.event_occurred_at, r.s) as seg, r.e as range_end,
            count(*) as n, sum(uuid_hash(c.event_id))::text as h
     from ${r.sql}
     group by 1, 2`,
      [strideMs, ...r.bindings, group],
    ),
  );
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
  const { rows } = await noJit(db, (trx) =>
    trx.raw<{ rows: OutboxLeafRow[] }>(
      `select o.event_id, o.topic, o.occurred_at, o.published_at is not null as published, o.kafka_partition, o.kafka_offset
     from ${r.sql}`,
      r.bindings,
    ),
  );
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
  const { rows } = await noJit(db, (trx) =>
    trx.raw<{ rows: { event_id: string; topic: string; event_occurred_at: Date }[] }>(
      `select c.event_id, c.topic, c.event_occurred_at
     from ${r.sql}`,
      [...r.bindings, group],
    ),
  );
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
 * Dead letters of `group` not replayed yet for the given events: by event id (the
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
     from dead_letters where consumer_group = ? and event_id = any(?::uuid[]) and replayed_at is null
     union
     select d.id, x.event_id, d.topic, d.kafka_partition, d.kafka_offset, d.error_class, d.dead_lettered_at
     from unnest(?::uuid[], ?::text[], ?::int[], ?::int8[]) x(event_id, topic, p, o)
     join dead_letters d on d.consumer_group = ? and d.topic = x.topic and d.kafka_partition = x.p and d.kafka_offset = x.o and d.replayed_at is null`,
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

/**
 * Dead letters of `group` dead-lettered within `window` and not replayed,
 * with or without an event id. The check reports here those that no outbox
 * event of the window they belong to accounts for (no event id, or one with
 * no outbox row: a foreign producer's message, a rolled-back producer's
 * poison); a dead letter of an outbox event is reported in its event's window.
 */
export async function deadLettersIn(db: Db, group: string, window: Window): Promise<DeadLetterFinding[]> {
  const { rows } = await db.raw<{ rows: DeadLetterFinding[] }>(
    `select id, event_id, topic, kafka_partition, kafka_offset, error_class, dead_lettered_at
     from dead_letters
     where dead_lettered_at >= ? and dead_lettered_at < ? and consumer_group = ? and replayed_at is null`,
    [window.start, window.end, group],
  );
  return rows;
}
