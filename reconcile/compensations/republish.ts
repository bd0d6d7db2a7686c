/**
 * `unpublished_event` and `unconsumed_event`: produce the outbox row again,
 * exactly as the relay would (same topic, key, value and headers, so the same
 * event id in header `id`). Consumers deduplicate by event id, so a duplicate
 * send is harmless; marking the row published is conditional, so the relay
 * publishing it at the same moment never gets its position overwritten.
 *
 * Per-key order (`unpublished_event`): a key's messages must reach its
 * partition in outbox order, as the relay keeps it (`claimUnpublished`), or a
 * revocation could overtake its grant. A job sends its rows in outbox order,
 * one after another per topic and key (keys concurrently), and does not send a
 * row while an earlier unpublished row of its key is outside the job: that
 * row is a `retry`, sent once the earlier one is published (by the relay or by
 * its own compensation).
 *
 * Verifying an unconsumed event: its invariant ("consumed by the group")
 * becomes true only when the group's consumer processes the re-sent message.
 * A job re-sends each event once, then waits up to `consumeWaitMs` for the
 * consumed row; what is not consumed by then is a `retry`, and later attempts
 * (exponential backoff) only check again. When the attempts run out the
 * discrepancy is `failed` with the reason (consumer down, or the message
 * dead-lettered): the next run finds it again if it still is.
 *
 * An unconsumed event its group has dead-lettered meanwhile (the consumer
 * came back and found it poison) is not sent again: it fails with the dead
 * letter named, and the run that records its `dead_lettered_event` closes it.
 */
import { DEFAULT_SUBSCRIPTIONS, ReconError, decodeEventEntity, sleep, type SourceDatabase } from '../../core/index.js';
import {
  consumedEventIds,
  deadLettersForEvents,
  markRelocated,
  markRepublished,
  outboxRowsById,
  type DeadLetterFinding,
  type DiscrepancyRow,
  type StoredOutboxRow,
  unpublishedInKeyOrder,
} from '../../db/index.js';
import type { CompensationDeps, CompensationHandler, CompensationOutcome, MessageSender } from './types.js';

interface EventRef {
  row: DiscrepancyRow;
  eventId: string;
  sourceDb: SourceDatabase;
  group: string | undefined;
}

/**
 * Which event a discrepancy is about. The entity id is authoritative (see
 * `decodeEventEntity`); details fill in the group when the entity id does not
 * carry it.
 */
export function discrepancyEvent(
  row: Pick<DiscrepancyRow, 'entity_id' | 'details'>,
): { eventId: string; sourceDb: SourceDatabase; group: string | undefined } | undefined {
  const ref = decodeEventEntity(row.entity_id);
  if (!ref) return undefined;
  const fromDetails = typeof row.details?.group === 'string' ? row.details.group : undefined;
  return { eventId: ref.eventId, sourceDb: ref.sourceDb, group: ref.group ?? fromDetails };
}

function parse(rows: readonly DiscrepancyRow[], outcomes: CompensationOutcome[]): EventRef[] {
  const refs: EventRef[] = [];
  for (const row of rows) {
    const ev = discrepancyEvent(row);
    if (ev) refs.push({ row, ...ev });
    else outcomes.push({ id: row.id, result: 'failed', reason: `entity id ${JSON.stringify(row.entity_id)} does not name an outbox event` });
  }
  return refs;
}

/**
 * Send rows one message per request, so each row's partition and offset are known. Rows of one topic and key go one after
 * another, in the order given (a key's messages must reach its partition in outbox order); keys go concurrently. Returns
 * event id → position.
 */
async function send(producer: MessageSender, rows: readonly StoredOutboxRow[]): Promise<Map<string, { partition: number; offset: number | null }>> {
  const positions = new Map<string, { partition: number; offset: number | null }>();
  const byKey = new Map<string, StoredOutboxRow[]>();
  for (const r of rows) {
    // A row without a key has no order to keep: a lane of its own.
    const lane = r.message_key === null ? `\u0001${r.event_id}` : `${r.topic}\u0000${r.message_key}`;
    const list = byKey.get(lane);
    if (list) list.push(r);
    else byKey.set(lane, [r]);
  }
  await Promise.all(
    [...byKey.values()].map(async (lane) => {
      for (const r of lane) {
        const [meta] = await producer.send({ topic: r.topic, messages: [{ key: r.message_key, value: r.payload, headers: { ...r.headers, id: r.event_id } }] });
        // No answer for the partition: not sent (see sendLocated in streaming/publish.ts); the job is retried.
        if (!meta)
          throw new ReconError('SEND_UNCONFIRMED', `the broker confirmed no offset for event ${r.event_id} on ${r.topic}: treated as not sent`, {
            retryable: true,
          });
        const offset = meta.baseOffset ?? meta.offset;
        positions.set(r.event_id, { partition: meta?.partition ?? -1, offset: offset === undefined ? null : Number(offset) });
      }
    }),
  );
  return positions;
}

/** Publish the rows not yet published, and record their positions (only where nobody did meanwhile). */
async function publish(deps: CompensationDeps, sourceDb: SourceDatabase, rows: readonly StoredOutboxRow[]): Promise<void> {
  if (rows.length === 0) return;
  const positions = await send(deps.producer, rows);
  await markRepublished(
    deps.dbs[sourceDb],
    [...positions].map(([event_id, p]) => ({ event_id, partition: p.partition < 0 ? null : p.partition, offset: p.offset })),
  );
}

/** Outbox rows of `refs` by source database; refs whose row is gone become permanent failures. */
async function loadRows(
  deps: CompensationDeps,
  refs: readonly EventRef[],
  outcomes: CompensationOutcome[],
): Promise<{ ref: EventRef; outbox: StoredOutboxRow }[]> {
  const found: { ref: EventRef; outbox: StoredOutboxRow }[] = [];
  for (const sourceDb of ['users', 'points'] as const) {
    const mine = refs.filter((r) => r.sourceDb === sourceDb);
    if (mine.length === 0) continue;
    const byId = new Map(
      (
        await outboxRowsById(
          deps.dbs[sourceDb],
          mine.map((r) => r.eventId),
        )
      ).map((o) => [o.event_id, o]),
    );
    for (const ref of mine) {
      const outbox = byId.get(ref.eventId);
      if (outbox) found.push({ ref, outbox });
      else outcomes.push({ id: ref.row.id, result: 'failed', reason: `outbox row ${ref.eventId} no longer exists in the ${sourceDb} database` });
    }
  }
  return found;
}

/**
 * A row the relay marked published whose message the check did not find on
 * the topic (`details.lostFromTopic`): sent again, and its new position
 * replaces the old one. Its row's `published_at` cannot tell whether it is
 * fixed, so the detection's flag decides; a second send is deduplicated by
 * the consumers.
 */
function lostFromTopic(row: DiscrepancyRow): boolean {
  return row.details?.lostFromTopic === true;
}

export const compensateUnpublished: CompensationHandler = async (deps, rows) => {
  const outcomes: CompensationOutcome[] = [];
  const found = await loadRows(deps, parse(rows, outcomes), outcomes);
  const lost = found.filter((f) => f.outbox.published_at !== null && lostFromTopic(f.ref.row));
  for (const sourceDb of ['users', 'points'] as const) {
    const mine = lost.filter((f) => f.ref.sourceDb === sourceDb);
    if (mine.length === 0) continue;
    const positions = await send(
      deps.producer,
      mine.map((m) => m.outbox),
    );
    await markRelocated(
      deps.dbs[sourceDb],
      [...positions].map(([event_id, p]) => ({ event_id, partition: p.partition < 0 ? null : p.partition, offset: p.offset })),
    );
    for (const m of mine) outcomes.push({ id: m.ref.row.id, result: 'resolved', effect: true });
  }
  const pending = found.filter((f) => f.outbox.published_at === null);
  // Published meanwhile (the relay caught up): the invariant holds, nothing to send.
  for (const f of found)
    if (f.outbox.published_at !== null && !lostFromTopic(f.ref.row)) outcomes.push({ id: f.ref.row.id, result: 'resolved', effect: false });
  // Debezium never marks a row published, so "an earlier unpublished row of the key" says nothing there: Debezium sends
  // in commit order itself, and what it lost is sent here in outbox order.
  const keepKeyOrder = deps.config.relay !== 'debezium';
  for (const sourceDb of ['users', 'points'] as const) {
    const mine = pending.filter((p) => p.ref.sourceDb === sourceDb);
    if (mine.length === 0) continue;
    // Per-key order, as the relay keeps it: this job's rows in outbox order, and none sent before an earlier unpublished
    // row of its key that this job does not send (the relay, or that row's own compensation, publishes it first).
    const order = await unpublishedInKeyOrder(
      deps.dbs[sourceDb],
      mine.map((m) => m.ref.eventId),
    );
    const byId = new Map(mine.map((m) => [m.ref.eventId, m.outbox]));
    const waiting = new Map(order.filter((o) => keepKeyOrder && o.waits_for !== null).map((o) => [o.event_id, o.waits_for!]));
    const sending = order.filter((o) => !waiting.has(o.event_id)).map((o) => byId.get(o.event_id)!);
    await publish(deps, sourceDb, sending);
    const sent = new Set(sending.map((r) => r.event_id));
    const after = new Map(
      (
        await outboxRowsById(
          deps.dbs[sourceDb],
          mine.map((m) => m.ref.eventId),
        )
      ).map((o) => [o.event_id, o]),
    );
    for (const { ref } of mine) {
      const earlier = waiting.get(ref.eventId);
      outcomes.push(
        after.get(ref.eventId)?.published_at
          ? { id: ref.row.id, result: 'resolved', effect: sent.has(ref.eventId) }
          : earlier !== undefined
            ? {
                id: ref.row.id,
                result: 'retry',
                reason: `outbox row ${ref.eventId} waits for the earlier unpublished row ${earlier} of its key (per-key order)`,
              }
            : { id: ref.row.id, result: 'retry', reason: `outbox row ${ref.eventId} is still unpublished after the send` },
      );
    }
  }
  return outcomes;
};

/** Consumed-events side of an event published from `sourceDb`. */
function consumingDb(sourceDb: SourceDatabase): SourceDatabase {
  return DEFAULT_SUBSCRIPTIONS.find((s) => s.outboxDb === sourceDb)?.consumedDb ?? (sourceDb === 'users' ? 'points' : 'users');
}

async function consumedNow(deps: CompensationDeps, refs: readonly EventRef[]): Promise<Set<string>> {
  const done = new Set<string>();
  const byPlace = new Map<string, EventRef[]>();
  for (const r of refs) {
    const key = `${consumingDb(r.sourceDb)}\u0000${r.group}`;
    const list = byPlace.get(key);
    if (list) list.push(r);
    else byPlace.set(key, [r]);
  }
  for (const [key, mine] of byPlace) {
    const [db, group] = key.split('\u0000') as [SourceDatabase, string];
    const ids = await consumedEventIds(
      deps.dbs[db],
      group,
      mine.map((m) => m.eventId),
    );
    for (const m of mine) if (ids.has(m.eventId)) done.add(m.row.id);
  }
  return done;
}

/** Dead letters of each event's group, by discrepancy id (matched by event id in the consuming database). */
async function deadLetteredNow(deps: CompensationDeps, found: readonly { ref: EventRef; outbox: StoredOutboxRow }[]): Promise<Map<string, DeadLetterFinding>> {
  const out = new Map<string, DeadLetterFinding>();
  const byPlace = new Map<string, { ref: EventRef; outbox: StoredOutboxRow }[]>();
  for (const f of found) {
    const key = `${consumingDb(f.ref.sourceDb)}\u0000${f.ref.group}`;
    byPlace.set(key, [...(byPlace.get(key) ?? []), f]);
  }
  for (const [key, mine] of byPlace) {
    const [db, group] = key.split('\u0000') as [SourceDatabase, string];
    const letters = await deadLettersForEvents(
      deps.dbs[db],
      group,
      mine.map((m) => ({ event_id: m.ref.eventId, topic: m.outbox.topic, kafka_partition: null, kafka_offset: null })),
    );
    const byEvent = new Map(letters.map((l) => [l.event_id, l]));
    for (const m of mine) {
      const dl = byEvent.get(m.ref.eventId);
      if (dl) out.set(m.ref.row.id, dl);
    }
  }
  return out;
}

export const compensateUnconsumed: CompensationHandler = async (deps, rows, state) => {
  const outcomes: CompensationOutcome[] = [];
  const refs: EventRef[] = [];
  for (const ref of parse(rows, outcomes)) {
    if (!ref.group) outcomes.push({ id: ref.row.id, result: 'failed', reason: `no consumer group named for event ${ref.eventId}` });
    else if (ref.row.details?.evidence === 'offsets') outcomes.push(await offsetsOutcome(deps, ref));
    else refs.push(ref);
  }
  const already = await consumedNow(deps, refs);
  for (const r of refs) if (already.has(r.row.id)) outcomes.push({ id: r.row.id, result: 'resolved', effect: false });
  const open = refs.filter((r) => !already.has(r.row.id));
  const loaded = await loadRows(deps, open, outcomes);
  // A dead-lettered event is reported, never republished: sending poison again only dead-letters it again.
  const deadLettered = await deadLetteredNow(deps, loaded);
  for (const { ref } of loaded) {
    const dl = deadLettered.get(ref.row.id);
    if (dl)
      outcomes.push({
        id: ref.row.id,
        result: 'failed',
        reason: `event ${ref.eventId} was dead-lettered by group ${ref.group} (dead letter ${dl.id}, ${dl.error_class}): not republished; a run reports it as dead_lettered_event; fix the cause, then \`recon dlq replay\``,
      });
  }
  const found = loaded.filter((f) => !deadLettered.has(f.ref.row.id));

  const toSend = found.filter((f) => !state.resent.has(f.ref.eventId));
  for (const sourceDb of ['users', 'points'] as const) {
    const mine = toSend.filter((f) => f.ref.sourceDb === sourceDb);
    if (mine.length === 0) continue;
    const unpublished = mine.filter((m) => m.outbox.published_at === null).map((m) => m.outbox);
    const published = mine.filter((m) => m.outbox.published_at !== null).map((m) => m.outbox);
    await publish(deps, sourceDb, unpublished);
    await send(deps.producer, published);
    for (const m of mine) state.resent.add(m.ref.eventId);
  }

  const waiting = found.map((f) => f.ref);
  const deadline = Date.now() + (deps.consumeWaitMs ?? 5000);
  let consumed = await consumedNow(deps, waiting);
  while (consumed.size < waiting.length && Date.now() < deadline) {
    await sleep(200);
    consumed = await consumedNow(deps, waiting);
  }
  for (const r of waiting) {
    outcomes.push(
      consumed.has(r.row.id)
        ? { id: r.row.id, result: 'resolved', effect: true }
        : { id: r.row.id, result: 'retry', reason: `event ${r.eventId} re-sent, not yet consumed by group ${r.group}` },
    );
  }
  return outcomes;
};

/**
 * An `unconsumed_event` of a group with `offsets` evidence: its message is on
 * the topic (what is not is an `unpublished_event`, republished by its own
 * handler), so nothing is sent: a foreign consumer need not deduplicate, and
 * the group will reach it. Resolved once the group's committed offset passes
 * the event; until then a retry that says so.
 */
async function offsetsOutcome(deps: CompensationDeps, ref: EventRef): Promise<CompensationOutcome> {
  const { topic, partition, offset } = ref.row.details as { topic?: unknown; partition?: unknown; offset?: unknown };
  if (typeof topic !== 'string' || typeof partition !== 'number' || typeof offset !== 'number') {
    return { id: ref.row.id, result: 'failed', reason: `event ${ref.eventId}: the discrepancy does not say where the event is on the topic` };
  }
  const committed = deps.groupOffsets ? ((await deps.groupOffsets(ref.group!, topic)).get(partition) ?? -1) : undefined;
  if (committed !== undefined && committed > offset) return { id: ref.row.id, result: 'resolved', effect: false };
  return {
    id: ref.row.id,
    result: 'retry',
    reason: `report only: event ${ref.eventId} is on ${topic} at ${partition}:${offset}; group ${ref.group} has ${committed === undefined ? 'an unknown committed offset' : `committed ${committed}`} there and will reach it; not republished`,
  };
}
