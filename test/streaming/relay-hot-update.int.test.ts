/**
 * The relay's write-back is a HOT update (migration 0009): no index of
 * `outbox` involves `published_at`, the work list of unpublished rows is
 * `unpublished_events`, kept by the outbox's triggers whoever writes it, and
 * pages keep room for a second version of their rows.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimUnpublished, countUnpublished, insertOutboxEvents, markPublished, markRepublished } from '../../db/index.js';
import { createProducer, relayOnce, type Producer } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

/** The outbox's update counters (the cumulative statistics reach the view within a second or so of a commit). */
async function updateCounts(db: Knex): Promise<{ upd: number; hot: number }> {
  const { rows } = await db.raw<{ rows: { upd: number; hot: number }[] }>(
    "select n_tup_upd::int as upd, n_tup_hot_upd::int as hot from pg_stat_user_tables where schemaname = 'public' and relname = 'outbox'",
  );
  return rows[0] ?? { upd: 0, hot: 0 };
}

/** Sequential and index scans of the outbox and its work list, from the cumulative statistics. */
async function scanCounts(db: Knex): Promise<Record<string, { seq: number; idx: number }>> {
  const { rows } = await db.raw<{ rows: { relname: string; seq: number; idx: number }[] }>(
    `select relname, seq_scan::int as seq, coalesce(idx_scan, 0)::int as idx from pg_stat_user_tables
      where schemaname = 'public' and relname in ('outbox', 'unpublished_events')`,
  );
  return Object.fromEntries(rows.map((r) => [r.relname, { seq: r.seq, idx: r.idx }]));
}

async function workList(db: Knex): Promise<string[]> {
  return (await db('unpublished_events').pluck('event_id')).sort() as string[];
}

function userCreatedRows(topic: string, n: number) {
  return Array.from({ length: n }, () => {
    const eventId = randomUUID();
    const userId = randomUUID();
    return {
      event_id: eventId,
      topic,
      message_key: userId,
      payload: { eventId, type: 'user.created', schemaVersion: 1, occurredAt: new Date().toISOString(), userId, email: `${userId}@example.test` },
    };
  });
}

describe('the HOT publication update', () => {
  let env: TestEnv;
  let producer: Producer;
  beforeAll(async () => {
    env = await createTestEnv();
    producer = createProducer(env.kafka);
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('keeps published_at out of every index of the outbox', async () => {
    for (const db of [env.dbs.users, env.dbs.points]) {
      const { rows } = await db.raw<{ rows: { name: string }[] }>(
        `select i.relname as name
           from pg_index x join pg_class i on i.oid = x.indexrelid
          where x.indrelid = 'public.outbox'::regclass
            and (pg_get_indexdef(x.indexrelid) ~ 'published_at' or coalesce(pg_get_expr(x.indpred, x.indrelid), '') ~ 'published_at')`,
      );
      expect(rows).toEqual([]);
      const { rows: options } = await db.raw<{ rows: { reloptions: string[] | null }[] }>(
        "select reloptions from pg_class where oid = 'public.outbox'::regclass",
      );
      expect(options[0]?.reloptions).toContain('fillfactor=50');
    }
  });

  it('publishes a backlog with HOT updates only, and empties the work list', async () => {
    const n = 1200;
    const rows = userCreatedRows(env.topics.userCreated, n);
    await insertOutboxEvents(env.dbs.users, rows);
    expect(await countUnpublished(env.dbs.users)).toBe(n);
    const before = await updateCounts(env.dbs.users);

    let published = 0;
    for (let round = 0; round < 20 && published < n; round++) published += await relayOnce(env.dbs.users, producer, 500);
    expect(published).toBe(n);
    expect(await workList(env.dbs.users)).toEqual([]);
    const marked = await env.dbs.users('outbox').whereNotNull('published_at').whereNotNull('kafka_offset').count<{ n: number }[]>({ n: '*' });
    expect(Number(marked[0]!.n)).toBe(n);

    await waitFor('the update counters', async () => (await updateCounts(env.dbs.users)).upd - before.upd >= n, { timeoutMs: 30_000 });
    const after = await updateCounts(env.dbs.users);
    // Each round updates whole pages in one transaction: a page holds room for the second version of each of its rows.
    expect(after.upd - before.upd).toBe(n);
    expect(after.hot - before.hot).toBeGreaterThanOrEqual(Math.floor(n * 0.95));
  });

  it('keeps the work list equal to the unpublished outbox rows, whoever writes them', async () => {
    const db = env.dbs.points;
    const [a, b, c, d] = userCreatedRows(env.topics.pointGranted, 4);
    await insertOutboxEvents(db, [a!, b!, c!]);
    // Inserted already published (a relay of another team, a fixture): never on the work list.
    await db.raw(
      `insert into outbox (event_id, topic, message_key, payload, published_at, kafka_partition, kafka_offset)
       values (?, ?, ?, '{}'::jsonb, now(), 0, 0)`,
      [d!.event_id, d!.topic, d!.message_key],
    );
    expect(await workList(db)).toEqual([a!.event_id, b!.event_id, c!.event_id].sort());

    await markPublished(db, [{ event_id: a!.event_id, partition: 1, offset: 7 }]);
    expect(await workList(db)).toEqual([b!.event_id, c!.event_id].sort());

    // A failure counted on a row changes nothing; a row set back to unpublished joins again.
    await db('outbox').where({ event_id: b!.event_id }).update({ attempts: 3 });
    await db('outbox').where({ event_id: a!.event_id }).update({ published_at: null, kafka_partition: null, kafka_offset: null });
    expect(await workList(db)).toEqual([a!.event_id, b!.event_id, c!.event_id].sort());

    // A republish marks it published; the work-list row of a deleted unpublished outbox row (a prune) is dropped
    // by the next claim, which returns only the row that still exists.
    expect(await markRepublished(db, [{ event_id: b!.event_id, partition: 0, offset: 1 }])).toEqual([b!.event_id]);
    await db('outbox').where({ event_id: c!.event_id }).delete();
    const claimed = await db.transaction((trx) => claimUnpublished(trx, 10));
    expect(claimed.map((r) => r.event_id)).toEqual([a!.event_id]);
    expect(await workList(db)).toEqual([a!.event_id]);
    expect(await countUnpublished(db)).toBe(1);
    const unpublished = await db('outbox').whereNull('published_at').pluck('event_id');
    expect(unpublished).toEqual([a!.event_id]);
  });

  it('reads the outbox and the work list by key in a round, even with statistics taken while they were empty', async () => {
    // Autovacuum analyzes the work list when the relay has just emptied it (it always does, between bursts), so
    // the planner takes it for a handful of rows when the next burst comes. It then scanned the work list whole in
    // the mark's statements, testing every row against the round's ids: seconds per round under a backlog. The
    // round keeps to the indexes instead.
    const fresh = await createTestEnv();
    try {
      const db = fresh.dbs.users;
      await db.raw('alter table outbox set (autovacuum_enabled = false); alter table unpublished_events set (autovacuum_enabled = false)');
      await insertOutboxEvents(db, userCreatedRows(fresh.topics.userCreated, 10));
      expect(await relayOnce(db, producer, 100)).toBe(10);
      await db.raw('vacuum analyze outbox');
      await db.raw('vacuum analyze unpublished_events');
      const n = 3000;
      await insertOutboxEvents(db, userCreatedRows(fresh.topics.userCreated, n));
      // Wait for the inserts' statistics to settle, so that what follows is the round's alone.
      let settled = await scanCounts(db);
      await waitFor(
        'the statistics to settle',
        async () => {
          await new Promise((r) => setTimeout(r, 1200));
          const now = await scanCounts(db);
          const same = JSON.stringify(now) === JSON.stringify(settled);
          settled = now;
          return same;
        },
        { timeoutMs: 30_000 },
      );
      const before = settled;
      expect(await relayOnce(db, producer, n)).toBe(n);
      // The round's lookups reach the statistics within a second or so of its commit.
      await waitFor('the round in the statistics', async () => (await scanCounts(db)).outbox!.idx > before.outbox!.idx, { timeoutMs: 30_000 });
      await new Promise((r) => setTimeout(r, 1200));
      const after = await scanCounts(db);
      expect(after.outbox!.seq - before.outbox!.seq).toBe(0);
      expect(after.unpublished_events!.seq - before.unpublished_events!.seq).toBe(0);
      expect(await workList(db)).toEqual([]);
    } finally {
      await fresh.cleanup();
    }
  });
});
