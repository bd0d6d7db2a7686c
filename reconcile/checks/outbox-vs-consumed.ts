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
 */
import {
  CHECK_NAMES,
  SUBSCRIPTIONS,
  discrepancyId,
  namespaced,
  type DiscrepancyKind,
  type Window,
  encodeEntity,
  type SourceDatabase,
} from '../../core/index.js';
import {
  consumedInRanges,
  consumedSegmentSums,
  deadLettersForEvents,
  deadLettersIn,
  outboxEventIdsAmong,
  earliestWindowKey,
  outboxInRanges,
  outboxSegmentSums,
  unpublishedSegmentCounts,
  type DeadLetterFinding,
  type DiscrepancyInput,
  type Knex,
  type Supersession,
} from '../../db/index.js';
import { bisect, dedupe, pairSegments, type BisectionTarget } from './bisection.js';
import type { Check, CheckContext } from './check.js';
import { earliestOf } from './users-vs-points.js';

const NAME = CHECK_NAMES.outboxVsConsumed;

/** One pipeline as this check sees it: full topic and group names, and where each side lives. */
export interface Pipeline {
  topic: string;
  group: string;
  outboxDb: SourceDatabase;
  consumedDb: SourceDatabase;
}

export function pipelines(config: CheckContext['config']): Pipeline[] {
  return SUBSCRIPTIONS.map((s) => ({ topic: namespaced(config, s.topic), group: namespaced(config, s.group), outboxDb: s.outboxDb, consumedDb: s.consumedDb }));
}

export const outboxVsConsumed: Check = {
  name: NAME,
  sources: ['users', 'points'],
  // Events consumed late (a phantom, say) keep the event's old time; an event dead-lettered late (its consumer was
  // down past the grace, then found it poison) belongs to its event's window, which may hold an unconsumed_event.
  lateSources: [
    { db: 'points', source: { table: 'consumed_events', insertedAt: 'consumed_at', key: 'event_occurred_at' } },
    { db: 'users', source: { table: 'consumed_events', insertedAt: 'consumed_at', key: 'event_occurred_at' } },
    ...SUBSCRIPTIONS.map((s) => ({ db: s.consumedDb, source: { table: 'dead_letters', insertedAt: 'dead_lettered_at', outboxDb: s.outboxDb } as const })),
  ],

  async earliest(ctx) {
    const found = await Promise.all(
      pipelines(ctx.config).flatMap((p) => [earliestWindowKey(ctx.dbs[p.outboxDb], 'outbox'), earliestWindowKey(ctx.dbs[p.consumedDb], 'consumed', p.group)]),
    );
    return earliestOf(found);
  },

  async compare(ctx, window) {
    const results = await Promise.all(
      pipelines(ctx.config).map(async (p) => {
        const [bisected, deadLetters] = await Promise.all([
          bisect(pipelineTarget(ctx, p, window), window, ctx.bisection),
          eventlessDeadLettersIn(ctx, p, window),
        ]);
        return { ...bisected, found: [...bisected.found, ...deadLetters.map((dl) => deadLetterDiscrepancy(p, window, dl))] };
      }),
    );
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

function pipelineTarget({ dbs }: CheckContext, p: Pipeline, window: Window): BisectionTarget {
  const outboxDb: Knex = dbs[p.outboxDb];
  const consumedDb: Knex = dbs[p.consumedDb];
  return {
    async compareSegments(ranges, strideMs) {
      const [outbox, unpublished, consumed] = await Promise.all([
        outboxSegmentSums(outboxDb, ranges, strideMs),
        unpublishedSegmentCounts(outboxDb, ranges, strideMs),
        consumedSegmentSums(consumedDb, p.group, ranges, strideMs),
      ]);
      const unpublishedAt = new Set(unpublished.filter((u) => u.n > 0).map((u) => u.seg.getTime()));
      const level = pairSegments(outbox, consumed, strideMs, (o, c) => ({
        same: (o?.n ?? 0) === (c?.n ?? 0) && BigInt(o?.h ?? '0') === BigInt(c?.h ?? '0') && !unpublishedAt.has((o ?? c)!.seg.getTime()),
        rows: Math.max(o?.n ?? 0, c?.n ?? 0),
        covered: (o?.n ?? 0) + (c?.n ?? 0),
      }));
      return level;
    },
    async compareRows(ranges) {
      const [outbox, consumed] = await Promise.all([outboxInRanges(outboxDb, ranges), consumedInRanges(consumedDb, p.group, ranges)]);
      const consumedIds = new Set(consumed.map((c) => c.event_id));
      const unconsumed = outbox.filter((o) => o.published && !consumedIds.has(o.event_id));
      const deadLetters = await deadLettersForEvents(consumedDb, p.group, unconsumed);
      return {
        found: classifyEvents(p, window, outbox, consumed, deadLetters),
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
