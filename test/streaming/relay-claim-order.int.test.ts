/**
 * The relay's claim keeps per-key order against other claimers: a claimed
 * row whose topic and key have an earlier unpublished row outside the claim
 * is not returned. The check is made in the statement that reads the claimed
 * rows (the claim's own work-list rows are those this transaction locked),
 * and again against exactly the rows read when some claimed rows could not be
 * read (their outbox row locked by someone else, or deleted).
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimUnpublished, insertOutboxEvents, markPublished, unpublishedInKeyOrder } from '../../db/index.js';
import { createTestEnv, type TestEnv } from '../helpers/env.js';

/** Rows of the given keys, in this order, one millisecond apart (so outbox order is the order given). */
function rowsOf(topic: string, keys: readonly (string | null)[]) {
  const start = Date.now() - 60_000;
  return keys.map((key, i) => {
    const eventId = randomUUID();
    return { event_id: eventId, topic, message_key: key as string, payload: { eventId, key, i }, occurred_at: new Date(start + i) };
  });
}

describe('the relay claim and per-key order', () => {
  let env: TestEnv;
  let db: Knex;
  let topic: string;
  beforeAll(async () => {
    env = await createTestEnv();
    db = env.dbs.points;
    topic = env.topics.pointGranted;
  });
  afterAll(async () => env?.cleanup());
  // Each test claims from an empty work list: what an earlier one left unpublished is published here.
  beforeEach(async () => {
    await db.raw('update outbox set published_at = now() where published_at is null');
  });

  it('holds back a row whose key has an earlier row another claimer holds, and returns it once that one is published', async () => {
    const k = randomUUID();
    const [r0, other, r1, keyless] = rowsOf(topic, [k, randomUUID(), k, null]);
    await insertOutboxEvents(db, [r0!, other!, r1!, keyless!]);

    const first = await db.transaction();
    const second = await db.transaction();
    try {
      expect((await claimUnpublished(first, 1)).map((r) => r.event_id)).toEqual([r0!.event_id]);
      // The second claimer locks the other three but may send only those without an earlier row elsewhere.
      expect((await claimUnpublished(second, 10)).map((r) => r.event_id)).toEqual([other!.event_id, keyless!.event_id]);
      await second.rollback();
      await markPublished(first, [{ event_id: r0!.event_id, partition: 0, offset: 0 }]);
      await first.commit();
    } finally {
      if (!second.isCompleted()) await second.rollback();
      if (!first.isCompleted()) await first.rollback();
    }
    const third = await db.transaction();
    try {
      expect((await claimUnpublished(third, 10)).map((r) => r.event_id)).toEqual([other!.event_id, r1!.event_id, keyless!.event_id]);
    } finally {
      await third.rollback();
    }
  });

  it('returns several rows of one key in one claim, in outbox order', async () => {
    const k = randomUUID();
    const rows = rowsOf(topic, [k, k, k]);
    await insertOutboxEvents(db, rows);
    const trx = await db.transaction();
    try {
      const claimed = await claimUnpublished(trx, 100);
      expect(claimed.filter((r) => r.message_key === k).map((r) => r.event_id)).toEqual(rows.map((r) => r.event_id));
    } finally {
      await trx.rollback();
    }
    // A republishing compensation asked about the later two waits for the first.
    const order = await unpublishedInKeyOrder(db, [rows[1]!.event_id, rows[2]!.event_id]);
    expect(order).toEqual([
      { event_id: rows[1]!.event_id, waits_for: rows[0]!.event_id },
      { event_id: rows[2]!.event_id, waits_for: rows[0]!.event_id },
    ]);
  });

  it('holds back a row whose earlier row of its key it claimed but could not read (its outbox row held elsewhere)', async () => {
    // The claim locks both work-list rows, but the earlier row's outbox row is locked by another transaction (a
    // republishing compensation marking it), so the claim cannot send it: the later row must wait too.
    const k = randomUUID();
    const [r0, r1, other] = rowsOf(topic, [k, k, randomUUID()]);
    await insertOutboxEvents(db, [r0!, r1!, other!]);
    const holder = await db.transaction();
    const claimer = await db.transaction();
    try {
      await holder.raw('select 1 from outbox where event_id = ? for update', [r0!.event_id]);
      expect((await claimUnpublished(claimer, 10)).map((r) => r.event_id)).toEqual([other!.event_id]);
    } finally {
      await claimer.rollback();
      await holder.rollback();
    }
    const trx = await db.transaction();
    try {
      expect((await claimUnpublished(trx, 10)).map((r) => r.event_id)).toEqual([r0!.event_id, r1!.event_id, other!.event_id]);
    } finally {
      await trx.rollback();
    }
  });
});
