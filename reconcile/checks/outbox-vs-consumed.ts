/**
 * `outbox-vs-consumed`: for each pipeline (users outbox → `point-service`,
 * points outbox → `user-service-balances`), every outbox event of the window
 * is published and consumed by its group, or dead-lettered and reported; and
 * every consumed event has an outbox row.
 *
 * A segment is clean when the outbox and the group's consumed events have the
 * same (count, Σ hash(event id)) and no outbox row is unpublished. Dead
 * letters take precedence over "unconsumed": a poison event is reported, not
 * republished forever.
 *
 * With topic evidence (a run passes `ctx.topics`), each window also reads the
 * window's messages from each topic, bounded by the broker's time index
 * (`[t0 − skew, t1 + grace + skew)`, see {@link topicReadRange}):
 *
 * - publication and position come from the topic where the row has none
 *   (`RECON_RELAY=debezium` never writes them back); a row whose event is not
 *   on the topic is an `unpublished_event`, for the polling relay also when
 *   the row says published (a record lost on a leader failover, or deleted);
 * - a message with no outbox row, no committed user (`user.created`) or no
 *   ledger entry (`point.granted`) is a `phantom_event`, consumed or not;
 * - a group declared with `offsets` evidence consumed an event at (p, o) when
 *   its committed offset on p is above o; else the event is in its dead-letter
 *   topic (`dead_lettered_event`, any dialect) or an `unconsumed_event` marked
 *   report-only (it is on the topic: the group will reach it).
 */
import {
  CHECK_NAMES,
  DLT_SUFFIX,
  TOPICS,
  discrepancyId,
  inboxSubscriptions,
  namespaced,
  type DiscrepancyKind,
  type Evidence,
  type Window,
  encodeEntity,
  type SourceDatabase,
  type TopicName,
} from '../../core/index.js';
import {
  consumedInRanges,
  consumedSegmentSums,
  deadLettersForEvents,
  deadLettersIn,
  outboxEventIdsAmong,
  earliestWindowKey,
  ledgerEntryIdsAmong,
  outboxInRanges,
  usersCreatedAtById,
  type OutboxLeafRow,
  outboxSegmentSums,
  unpublishedSegmentCounts,
  type DeadLetterFinding,
  type DiscrepancyInput,
  type Knex,
  type Supersession,
} from '../../db/index.js';
import { bisect, dedupe, pairSegments, type BisectionTarget } from './bisection.js';
import type { Check, CheckContext } from './check.js';
import type { DeadLetterMessage, LetterReplay, TopicMessage, TopicRead } from './topic-evidence.js';
import { earliestOf } from './users-vs-points.js';

const NAME = CHECK_NAMES.outboxVsConsumed;

/** One pipeline as this check sees it: full topic and group names, and where each side lives. */
export interface Pipeline {
  topic: string;
  group: string;
  outboxDb: SourceDatabase;
  consumedDb: SourceDatabase;
  evidence: Evidence;
}

/** The configured subscriptions with `inbox` evidence (compared by checksums with `consumed_events`). */
export function pipelines(config: Pick<CheckContext['config'], 'namespace' | 'subscriptions'>): Pipeline[] {
  return inboxSubscriptions(config.subscriptions).map((s) => ({
    topic: namespaced(config, s.topic),
    group: namespaced(config, s.group),
    outboxDb: s.outboxDb,
    consumedDb: s.consumedDb,
    evidence: s.evidence,
  }));
}

/** The configured subscriptions with `offsets` evidence (compared with the group's committed offsets; need topic evidence). */
export function offsetPipelines(config: Pick<CheckContext['config'], 'namespace' | 'subscriptions'>): Pipeline[] {
  return config.subscriptions
    .filter((s) => s.evidence === 'offsets')
    .map((s) => ({
      topic: namespaced(config, s.topic),
      group: namespaced(config, s.group),
      outboxDb: s.outboxDb,
      consumedDb: s.consumedDb,
      evidence: s.evidence,
    }));
}

/** Each topic and the database whose outbox feeds it. */
const OUTBOX_TOPICS: readonly { topic: TopicName; outboxDb: SourceDatabase }[] = [
  { topic: TOPICS.userCreated, outboxDb: 'users' },
  { topic: TOPICS.pointGranted, outboxDb: 'points' },
];

/**
 * What a window's topic evidence reads, by message timestamp. A message's
 * timestamp is its send time (recon's relay and kafkajs stamp CreateTime at
 * send; Debezium's router stamps its processing time), so it is the row's
 * `occurred_at` plus the relay's lag, give or take the clocks of the database
 * and the producer's host. The lower bound allows for that skew (and producer
 * batching); the upper bound allows for the grace as well: a row not
 * published within the grace would be reported unpublished anyway.
 */
export function topicReadRange(config: Pick<CheckContext['config'], 'graceSeconds' | 'clockSkewSeconds'>, window: Window): Window {
  const skew = config.clockSkewSeconds * 1000;
  return { start: new Date(window.start.getTime() - skew), end: new Date(window.end.getTime() + config.graceSeconds * 1000 + skew) };
}

export const outboxVsConsumed: Check = {
  name: NAME,
  sources: ['users', 'points'],
  // Events consumed late (a phantom, say) keep the event's old time; an event dead-lettered late (its consumer was
  // down past the grace, then found it poison) belongs to its event's window, which may hold an unconsumed_event.
  lateSources: [
    { db: 'points', source: { table: 'consumed_events', insertedAt: 'consumed_at', key: 'event_occurred_at' } },
    { db: 'users', source: { table: 'consumed_events', insertedAt: 'consumed_at', key: 'event_occurred_at' } },
    { db: 'points', source: { table: 'dead_letters', insertedAt: 'dead_lettered_at', outboxDb: 'users' } },
    { db: 'users', source: { table: 'dead_letters', insertedAt: 'dead_lettered_at', outboxDb: 'points' } },
  ],

  async earliest(ctx) {
    // Every outbox (whoever consumes its topic, and with whatever evidence), and what the inbox groups consumed.
    const found = await Promise.all([
      ...OUTBOX_TOPICS.map((t) => earliestWindowKey(ctx.dbs[t.outboxDb], 'outbox')),
      ...pipelines(ctx.config).map((p) => earliestWindowKey(ctx.dbs[p.consumedDb], 'consumed', p.group)),
    ]);
    return earliestOf(found);
  },

  async compare(ctx, window) {
    const passes = new Map<string, TopicPass>();
    const topicResults = await Promise.all(
      OUTBOX_TOPICS.map(async (t) => {
        if (!ctx.topics) return { found: [], rowsCompared: 0, segmentsCompared: 0, rowsFetched: 0 };
        const pass = await topicPass(ctx, namespaced(ctx.config, t.topic), t.outboxDb, window);
        passes.set(pass.topic, pass);
        return { found: pass.found, rowsCompared: pass.outbox.length + pass.read.messages.length, segmentsCompared: 0, rowsFetched: pass.rowsFetched };
      }),
    );
    const results = await Promise.all(
      pipelines(ctx.config).map(async (p) => {
        const tp = passes.get(p.topic);
        const [bisected, deadLetters] = await Promise.all([
          bisect(pipelineTarget(ctx, p, window, tp), window, ctx.bisection),
          eventlessDeadLettersIn(ctx, p, window),
        ]);
        return { ...bisected, found: [...bisected.found, ...deadLetters.map((dl) => deadLetterDiscrepancy(p, window, dl))] };
      }),
    );
    const offsetResults = await Promise.all(
      offsetPipelines(ctx.config).map(async (p) => {
        const tp = passes.get(p.topic);
        if (!tp) return { found: [], rowsCompared: 0, segmentsCompared: 0, rowsFetched: 0 };
        return offsetsPass(ctx, p, window, tp);
      }),
    );
    results.push(...topicResults, ...offsetResults);
    const found = dedupe(results.flatMap((r) => r.found));
    return {
      found,
      supersedes: supersededByDeadLetters(NAME, found),
      rowsCompared: results.reduce((s, r) => s + r.rowsCompared, 0),
      segmentsCompared: results.reduce((s, r) => s + r.segmentsCompared, 0),
      rowsFetched: results.reduce((s, r) => s + r.rowsFetched, 0),
    };
  },
};

/**
 * Dead letters dead-lettered within `window` that no outbox event accounts
 * for (no event id, or one without an outbox row): they are reported in this
 * window. A dead letter of an outbox event belongs to its event's window
 * (found there through the unconsumed event, and by the late-source re-check
 * when it came after that window closed), so each dead letter is reported in
 * one window only.
 */
async function eventlessDeadLettersIn({ dbs }: CheckContext, p: Pipeline, window: Window): Promise<DeadLetterFinding[]> {
  const letters = await deadLettersIn(dbs[p.consumedDb], p.group, window);
  const ids = [...new Set(letters.flatMap((l) => (l.event_id ? [l.event_id] : [])))];
  const withOutbox = await outboxEventIdsAmong(dbs[p.outboxDb], ids);
  return letters.filter((l) => !l.event_id || !withOutbox.has(l.event_id));
}

function pipelineTarget({ dbs, config }: CheckContext, p: Pipeline, window: Window, tp: TopicPass | undefined): BisectionTarget {
  const outboxDb: Knex = dbs[p.outboxDb];
  const consumedDb: Knex = dbs[p.consumedDb];
  // With topic evidence, publication is judged by the topic pass; under Debezium no row is ever marked published, so
  // the rows' own flag says nothing and must not make every segment differ.
  const rowsTellPublication = !(tp && config.relay === 'debezium');
  return {
    async compareSegments(ranges, strideMs) {
      const [outbox, unpublished, consumed] = await Promise.all([
        outboxSegmentSums(outboxDb, ranges, strideMs),
        rowsTellPublication ? unpublishedSegmentCounts(outboxDb, ranges, strideMs) : Promise.resolve([]),
        consumedSegmentSums(consumedDb, p.group, ranges, strideMs),
      ]);
      const unpublishedAt = new Set(unpublished.filter((u) => u.n > 0).map((u) => u.seg.getTime()));
      const level = pairSegments(outbox, consumed, strideMs, (o, c) => ({
        same:
          (o?.n ?? 0) === (c?.n ?? 0) && BigInt(o?.h ?? '0') === BigInt(c?.h ?? '0') && !(rowsTellPublication && unpublishedAt.has((o ?? c)!.seg.getTime())),
        rows: Math.max(o?.n ?? 0, c?.n ?? 0),
        covered: (o?.n ?? 0) + (c?.n ?? 0),
      }));
      return level;
    },
    async compareRows(ranges) {
      const [rows, consumed] = await Promise.all([outboxInRanges(outboxDb, ranges), consumedInRanges(consumedDb, p.group, ranges)]);
      // Positions from the topic where the rows have none. What the topic pass found missing on the topic is its
      // unpublished_event (republished), not also unconsumed; the phantoms it saw on the topic it reported itself.
      const outbox = tp ? rows.map((o) => locate(o, tp)) : rows;
      const consumedIds = new Set(consumed.map((c) => c.event_id));
      const unconsumed = outbox.filter((o) => o.published && !consumedIds.has(o.event_id));
      const deadLetters = await deadLettersForEvents(consumedDb, p.group, unconsumed);
      const reportedByTopic = (d: DiscrepancyInput): boolean => {
        if (!tp) return false;
        const eventId = String(d.details?.eventId);
        return (d.kind === 'unconsumed_event' && tp.unpublished.has(eventId)) || (d.kind === 'phantom_event' && tp.onTopic.has(eventId));
      };
      return {
        found: classifyEvents(p, window, outbox, consumed, deadLetters).filter((d) => !reportedByTopic(d)),
        rowsFetched: outbox.length + consumed.length + deadLetters.length,
      };
    },
  };
}

/** Row-level classification of one pipeline's events in some ranges of a window. */
export function classifyEvents(
  p: Pipeline,
  window: Window,
  outbox: readonly { event_id: string; topic: string; occurred_at: Date; published: boolean }[],
  consumed: readonly { event_id: string; topic: string; event_occurred_at: Date }[],
  deadLetters: readonly DeadLetterFinding[],
): DiscrepancyInput[] {
  const consumedIds = new Set(consumed.map((c) => c.event_id));
  const outboxIds = new Set(outbox.map((o) => o.event_id));
  const deadLetterOf = new Map<string, DeadLetterFinding>();
  for (const dl of deadLetters) if (dl.event_id && !deadLetterOf.has(dl.event_id)) deadLetterOf.set(dl.event_id, dl);
  const found: DiscrepancyInput[] = [];
  const event = (kind: DiscrepancyKind, group: string | undefined, eventId: string, topic: string, occurredAt: Date): DiscrepancyInput => {
    const entity = encodeEntity({ type: 'event', sourceDb: p.outboxDb, eventId, ...(group !== undefined ? { group } : {}) });
    return {
      id: discrepancyId(NAME, kind, entity.entity_id),
      check_name: NAME,
      kind,
      ...entity,
      window_start: window.start,
      window_end: window.end,
      details: { eventId, sourceDb: p.outboxDb, consumerDb: p.consumedDb, topic, group: p.group, occurredAt: occurredAt.toISOString() },
    };
  };
  for (const o of outbox) {
    if (consumedIds.has(o.event_id)) continue;
    if (!o.published) {
      found.push(event('unpublished_event', undefined, o.event_id, o.topic, o.occurred_at));
      continue;
    }
    const dl = deadLetterOf.get(o.event_id);
    if (dl) found.push(deadLetterDiscrepancy(p, window, dl));
    else found.push(event('unconsumed_event', p.group, o.event_id, o.topic, o.occurred_at));
  }
  for (const c of consumed) {
    if (!outboxIds.has(c.event_id)) found.push(event('phantom_event', p.group, c.event_id, c.topic, c.event_occurred_at));
  }
  return found;
}

/** A dead letter as a discrepancy: reported, identified by its row in the consumer's database. */
export function deadLetterDiscrepancy(p: Pipeline, window: Window, dl: DeadLetterFinding): DiscrepancyInput {
  const entity = encodeEntity({ type: 'dead_letter', consumerDb: p.consumedDb, deadLetterId: Number(dl.id) });
  return {
    id: discrepancyId(NAME, 'dead_lettered_event', entity.entity_id),
    check_name: NAME,
    kind: 'dead_lettered_event',
    ...entity,
    window_start: window.start,
    window_end: window.end,
    details: {
      eventId: dl.event_id,
      sourceDb: p.outboxDb,
      consumerDb: p.consumedDb,
      deadLetterId: Number(dl.id),
      topic: dl.topic,
      group: p.group,
      partition: dl.kafka_partition,
      offset: Number(dl.kafka_offset),
      errorClass: dl.error_class,
      deadLetteredAt: dl.dead_lettered_at.toISOString(),
    },
  };
}

/**
 * The `unconsumed_event` each dead-lettered event of `found` replaces: the
 * event was found unconsumed while its consumer was down, and dead-lettered
 * when it came back. The dead letter outranks it; the run closes it
 * (resolved, superseded) so it is never republished again.
 */
export function supersededByDeadLetters(check: string, found: readonly DiscrepancyInput[]): Supersession[] {
  const out: Supersession[] = [];
  for (const d of found) {
    if (d.kind !== 'dead_lettered_event') continue;
    const { eventId, sourceDb, group } = d.details as { eventId?: unknown; sourceDb?: unknown; group?: unknown };
    if (typeof eventId !== 'string' || typeof group !== 'string' || (sourceDb !== 'users' && sourceDb !== 'points')) continue;
    const unconsumed = encodeEntity({ type: 'event', sourceDb, eventId, group });
    out.push({
      id: discrepancyId(check, 'unconsumed_event', unconsumed.entity_id),
      by: d.id,
      resolution: `superseded by dead_lettered_event ${d.id}: event ${eventId} was dead-lettered by ${group}; fix the cause, then \`recon dlq replay\``,
    });
  }
  return out;
}

/** What the topic pass learnt about one topic's window, for the group passes. */
interface TopicPass {
  topic: string;
  outboxDb: SourceDatabase;
  read: TopicRead;
  /** The window's outbox rows of this topic. */
  outbox: OutboxLeafRow[];
  /** Event id → its position on the topic (as read). */
  onTopic: Map<string, { partition: number; offset: number }>;
  /** Event ids reported as `unpublished_event` by this pass. */
  unpublished: Set<string>;
  found: DiscrepancyInput[];
  rowsFetched: number;
}

/** An outbox row with its position from the topic when the topic has it; published when it is on the topic. */
function locate(o: OutboxLeafRow, tp: TopicPass): OutboxLeafRow {
  const at = tp.onTopic.get(o.event_id);
  if (!at) return o;
  return { ...o, published: true, kafka_partition: o.kafka_partition ?? at.partition, kafka_offset: o.kafka_offset ?? at.offset };
}

/**
 * Whether a row the polling relay marked published should have been read:
 * its recorded position is inside what was read, or is not on the partition
 * any more (past its end, before its log start). A position between the log
 * start and the read range (or after it, a send later than the grace) was
 * simply not read: the row is trusted.
 */
function lostFromTopic(o: OutboxLeafRow, read: TopicRead): boolean {
  // Acknowledged without a position: nothing to look for (its consumers' evidence judges it).
  if (o.kafka_partition === null || o.kafka_offset === null) return false;
  const span = read.spans.find((s) => s.partition === o.kafka_partition);
  if (!span) return read.exists;
  const at = Number(o.kafka_offset);
  return (at >= span.from && at < span.to) || at >= span.high || at < span.low;
}

interface MessageFacts {
  occurredAt: Date | undefined;
  userId: string | undefined;
  entryId: string | undefined;
}

function factsOf(m: TopicMessage): MessageFacts {
  try {
    const v = JSON.parse(m.value?.toString('utf8') ?? 'null') as { occurredAt?: unknown; userId?: unknown; entryId?: unknown } | null;
    const at = typeof v?.occurredAt === 'string' ? new Date(v.occurredAt) : undefined;
    return {
      occurredAt: at && !Number.isNaN(at.getTime()) ? at : undefined,
      userId: typeof v?.userId === 'string' ? v.userId.toLowerCase() : undefined,
      entryId: typeof v?.entryId === 'string' ? v.entryId.toLowerCase() : undefined,
    };
  } catch {
    return { occurredAt: undefined, userId: undefined, entryId: undefined };
  }
}

/**
 * One topic's window against its outbox: which rows are on the topic (and
 * where), which are not (`unpublished_event`), and which messages of the
 * window no outbox row, committed user or ledger entry accounts for
 * (`phantom_event`, found at the topic whether or not anyone consumed them).
 */
async function topicPass(ctx: CheckContext, topic: string, outboxDb: SourceDatabase, window: Window): Promise<TopicPass> {
  const range = topicReadRange(ctx.config, window);
  const polling = ctx.config.relay === 'polling';
  // Under the polling relay the rows are read before the topic: a row the relay marks published meanwhile then
  // points below the partition end read after it, never past it (which would look like a record lost from the topic
  // and be sent again). Debezium writes nothing back to the rows, so both are read at once.
  const [read, rows] = polling
    ? await outboxInRanges(ctx.dbs[outboxDb], [window]).then(async (r) => [await ctx.topics!.readByTime(topic, range.start, range.end), r] as const)
    : await Promise.all([ctx.topics!.readByTime(topic, range.start, range.end), outboxInRanges(ctx.dbs[outboxDb], [window])]);
  const outbox = rows.filter((o) => o.topic === topic);
  const onTopic = new Map<string, { partition: number; offset: number }>();
  for (const m of read.messages) if (m.eventId && !onTopic.has(m.eventId)) onTopic.set(m.eventId, { partition: m.partition, offset: m.offset });
  const found: DiscrepancyInput[] = [];
  const unpublished = new Set<string>();
  // A topic that does not exist says nothing the polling relay's rows do not (under Debezium, nothing was published).
  for (const o of polling && !read.exists ? [] : outbox) {
    if (onTopic.has(o.event_id)) continue;
    if (o.published && !(polling && lostFromTopic(o, read))) continue;
    if (o.published && !polling) continue;
    unpublished.add(o.event_id);
    const lost = o.published;
    const entity = encodeEntity({ type: 'event', sourceDb: outboxDb, eventId: o.event_id });
    found.push({
      id: discrepancyId(NAME, 'unpublished_event', entity.entity_id),
      check_name: NAME,
      kind: 'unpublished_event',
      ...entity,
      window_start: window.start,
      window_end: window.end,
      details: {
        eventId: o.event_id,
        sourceDb: outboxDb,
        topic,
        occurredAt: o.occurred_at.toISOString(),
        evidence: 'topic',
        onTopic: false,
        ...(lost
          ? {
              lostFromTopic: true,
              recordedPartition: o.kafka_partition,
              recordedOffset: o.kafka_offset === null ? null : Number(o.kafka_offset),
              note: 'the row says published, but its message is not on the topic (lost on a leader failover, deleted, or expired): sent again',
            }
          : { note: `not on the topic between ${range.start.toISOString()} and ${range.end.toISOString()}: sent again` }),
      },
    });
  }
  const outboxIds = new Set(outbox.map((o) => o.event_id));
  const candidates: { m: TopicMessage; facts: MessageFacts }[] = [];
  const seen = new Set<string>();
  for (const m of read.messages) {
    if (!m.eventId || outboxIds.has(m.eventId) || seen.has(m.eventId)) continue;
    seen.add(m.eventId);
    const facts = factsOf(m);
    // A message that does not decode as this topic's event (no user id, no entry id) is poison, not a phantom: its
    // consumers dead-letter it, and it is reported as dead_lettered_event.
    if ((outboxDb === 'users' ? facts.userId : facts.entryId) === undefined) continue;
    const at = facts.occurredAt ?? new Date(m.timestamp);
    // Each message belongs to the window of its event's time: the read ranges of neighbouring windows overlap.
    if (at >= window.start && at < window.end) candidates.push({ m, facts });
  }
  let rowsFetched = outbox.length;
  if (candidates.length) {
    const withRow = await outboxEventIdsAmong(
      ctx.dbs[outboxDb],
      candidates.map((c) => c.m.eventId!),
    );
    const rest = candidates.filter((c) => !withRow.has(c.m.eventId!));
    const accounted =
      outboxDb === 'users'
        ? new Set(
            (
              await usersCreatedAtById(
                ctx.dbs.users,
                rest.flatMap((c) => (c.facts.userId ? [c.facts.userId] : [])),
              )
            ).keys(),
          )
        : await ledgerEntryIdsAmong(
            ctx.dbs.points,
            rest.flatMap((c) => (c.facts.entryId ? [c.facts.entryId] : [])),
          );
    rowsFetched += candidates.length;
    for (const { m, facts } of rest) {
      const key = outboxDb === 'users' ? facts.userId : facts.entryId;
      if (key && accounted.has(key)) continue;
      const entity = encodeEntity({ type: 'event', sourceDb: outboxDb, eventId: m.eventId! });
      found.push({
        id: discrepancyId(NAME, 'phantom_event', entity.entity_id),
        check_name: NAME,
        kind: 'phantom_event',
        ...entity,
        window_start: window.start,
        window_end: window.end,
        details: {
          eventId: m.eventId,
          sourceDb: outboxDb,
          topic,
          foundAt: 'topic',
          partition: m.partition,
          offset: m.offset,
          occurredAt: (facts.occurredAt ?? new Date(m.timestamp)).toISOString(),
          ...(facts.userId ? { userId: facts.userId } : {}),
          ...(facts.entryId ? { entryId: facts.entryId } : {}),
        },
      });
    }
  }
  return { topic, outboxDb, read, outbox, onTopic, unpublished, found, rowsFetched };
}

/**
 * A group with `offsets` evidence: an event at (p, o) is consumed when the
 * group's committed offset on p is above o. What it has not reached is in its
 * dead-letter topic (a letter naming this group, any dialect) or unconsumed.
 * An unconsumed event here is on the topic (what is not is the topic pass's
 * `unpublished_event`, republished there), so it is report-only: the group
 * will reach it; sending it again would only make a consumer that does not
 * deduplicate see it twice.
 */
async function offsetsPass(ctx: CheckContext, p: Pipeline, window: Window, tp: TopicPass) {
  const range = topicReadRange(ctx.config, window);
  const [offsets, letters] = await Promise.all([
    ctx.topics!.groupOffsets(p.group, p.topic),
    ctx.topics!.readDeadLetters(p.topic + DLT_SUFFIX, range.start, range.end),
  ]);
  const committed = new Map(offsets.map((o) => [o.partition, o.committed]));
  const lag = Object.fromEntries(offsets.map((o) => [String(o.partition), Math.max(0, o.end - Math.max(0, o.committed))]));
  const mine = letters.filter((l) => l.group === p.group && l.topic === p.topic);
  const letterAt = new Map<string, DeadLetterMessage>();
  const letterOf = new Map<string, DeadLetterMessage>();
  for (const l of mine) {
    letterAt.set(`${l.partition}:${l.offset}`, l);
    if (l.eventId) letterOf.set(l.eventId, l);
  }
  const follow = await replayFollower(ctx, p, mine);
  const found: DiscrepancyInput[] = [];
  for (const row of tp.outbox) {
    if (tp.unpublished.has(row.event_id)) continue;
    const o = locate(row, tp);
    if (o.kafka_partition === null || o.kafka_offset === null) continue;
    let partition = o.kafka_partition;
    let offset = Number(o.kafka_offset);
    let at = committed.get(partition) ?? -1;
    // The letter of the record at the row's position first: a later letter of the same event is a replay that died again.
    let letter = letterAt.get(`${partition}:${offset}`) ?? letterOf.get(o.event_id);
    let replays = 0;
    if (letter) {
      // A replayed letter (`recon dlq replay --group`): what happened to the replayed record decides.
      const outcome = follow(letter);
      replays = outcome.replays;
      if (outcome.state === 'consumed') continue;
      if (outcome.state === 'pending') {
        letter = undefined;
        partition = outcome.partition;
        offset = outcome.offset;
        at = committed.get(partition) ?? -1;
      } else letter = outcome.letter;
    }
    // A group that dead-letters a record commits past it (Spring's DefaultErrorHandler counts a recovered record
    // as handled): its letter, not its offset, says what happened to the event.
    if (at > offset && !letter) continue;
    const entity = encodeEntity({ type: 'event', sourceDb: p.outboxDb, eventId: o.event_id, group: p.group });
    const base = {
      eventId: o.event_id,
      sourceDb: p.outboxDb,
      topic: p.topic,
      group: p.group,
      evidence: 'offsets',
      occurredAt: o.occurred_at.toISOString(),
      partition,
      offset,
    };
    if (letter) {
      found.push({
        id: discrepancyId(NAME, 'dead_lettered_event', entity.entity_id),
        check_name: NAME,
        kind: 'dead_lettered_event',
        ...entity,
        window_start: window.start,
        window_end: window.end,
        details: {
          ...base,
          dialect: letter.dialect,
          dltTopic: p.topic + DLT_SUFFIX,
          dltPartition: letter.dltPartition,
          dltOffset: letter.dltOffset,
          errorClass: letter.errorClass ?? null,
          errorMessage: letter.errorMessage ?? null,
          ...(replays ? { replays, note: `dead again after ${replays} replay(s): \`recon dlq replay --group\` needs --force` } : {}),
        },
      });
      continue;
    }
    found.push({
      id: discrepancyId(NAME, 'unconsumed_event', entity.entity_id),
      check_name: NAME,
      kind: 'unconsumed_event',
      ...entity,
      window_start: window.start,
      window_end: window.end,
      // What a report shows first (it cuts long details): report-only, where the group stands, its lag per partition.
      details: {
        compensation: 'report',
        committedOffset: at,
        lag,
        ...base,
        onTopic: tp.onTopic.has(o.event_id),
        note: `on the topic at ${partition}:${offset}; group ${p.group} has committed ${at < 0 ? 'nothing' : at} on partition ${partition}: not republished, the group will reach it`,
      },
    });
  }
  return { found, rowsCompared: tp.outbox.length, segmentsCompared: 0, rowsFetched: mine.length };
}

type ReplayOutcome =
  | { state: 'dead'; letter: DeadLetterMessage; replays: number }
  | { state: 'consumed'; replays: number }
  | { state: 'pending'; partition: number; offset: number; replays: number };

/**
 * For letters replayed by `recon dlq replay --group`: the letter stays in the
 * DLT, so the replay decides. The replayed record (at the position
 * `dlq_replays` recorded) died again when a letter of the group names its
 * position (read from the DLT from the replay on, by the time index);
 * otherwise it was consumed when the group's committed offset is above it,
 * else the group has not reached it yet (`pending`). Followed through
 * replays of replays.
 */
async function replayFollower(ctx: CheckContext, p: Pipeline, mine: readonly DeadLetterMessage[]): Promise<(letter: DeadLetterMessage) => ReplayOutcome> {
  const dlt = p.topic + DLT_SUFFIX;
  const none = (letter: DeadLetterMessage): ReplayOutcome => ({ state: 'dead', letter, replays: 0 });
  if (!ctx.replays || !ctx.topics || mine.length === 0) return none;
  const key = (partition: number, offset: number) => `${partition}:${offset}`;
  const replayOf = new Map<string, LetterReplay>();
  const first = await ctx.replays.replaysOf(
    dlt,
    mine.map((l) => ({ partition: l.dltPartition, offset: l.dltOffset })),
  );
  if (first.length === 0) return none;
  for (const r of first) replayOf.set(key(r.dltPartition, r.dltOffset), r);
  const skew = ctx.config.clockSkewSeconds * 1000;
  const from = new Date(Math.min(...first.map((r) => r.replayedAt.getTime())) - skew);
  const later = (await ctx.topics.readDeadLetters(dlt, from, new Date(Date.now() + 60_000 + skew))).filter((l) => l.group === p.group && l.topic === p.topic);
  for (const r of await ctx.replays.replaysOf(
    dlt,
    later.map((l) => ({ partition: l.dltPartition, offset: l.dltOffset })),
  ))
    replayOf.set(key(r.dltPartition, r.dltOffset), r);
  const letterOfRecord = new Map(later.map((l) => [key(l.partition, l.offset), l]));
  /** Replayed record position → its replay count. */
  const landedAt = new Map([...replayOf.values()].map((r) => [key(r.replayedPartition, r.replayedOffset), r.replayCount]));
  const offsets = new Map((await ctx.topics.groupOffsets(p.group, p.topic)).map((o) => [o.partition, o.committed]));
  return (letter) => {
    let current = letter;
    for (let replays = 0; replays < 100; replays++) {
      const r = replayOf.get(key(current.dltPartition, current.dltOffset));
      if (!r) return { state: 'dead', letter: current, replays: Math.max(replays, landedAt.get(key(current.partition, current.offset)) ?? 0) };
      const again = letterOfRecord.get(key(r.replayedPartition, r.replayedOffset));
      if (again) {
        current = again;
        continue;
      }
      if ((offsets.get(r.replayedPartition) ?? -1) > r.replayedOffset) return { state: 'consumed', replays: replays + 1 };
      return { state: 'pending', partition: r.replayedPartition, offset: r.replayedOffset, replays: replays + 1 };
    }
    return { state: 'dead', letter: current, replays: 100 };
  };
}
