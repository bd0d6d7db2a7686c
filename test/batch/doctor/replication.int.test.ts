/**
 * `recon doctor`'s replication checks on the real server: a logical slot
 * nobody reads is a warning naming it and its bytes; outbox rows deleted
 * right after insert (by the application, or by a trigger) are found, and so
 * are dead rows piling up in the relay's work list; under
 * RECON_RELAY=debezium a connector slot that does not exist is named. The
 * server's wal_level is not changed here (other tests share it): the "not
 * logical" branch is in replication.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDoctorContext, doctorChecks, runDoctor, type DoctorResult } from '../../../batch/index.js';
import type { Config } from '../../../core/index.js';
import { insertOutboxEvents, markPublished } from '../../../db/index.js';
import { createTestEnv, unusedPort, waitFor, type TestEnv } from '../../helpers/env.js';

async function doctor(config: Config): Promise<Map<string, DoctorResult>> {
  const ctx = createDoctorContext(config, { timeoutMs: 8000 });
  try {
    return new Map((await runDoctor(doctorChecks(config), ctx)).map((r) => [r.name, r]));
  } finally {
    await ctx.close();
  }
}

const rows = (n: number) =>
  Array.from({ length: n }, () => {
    const id = randomUUID();
    return { event_id: randomUUID(), topic: 't', message_key: id, payload: { userId: id } };
  });

describe('recon doctor: replication slots and outbox retention', () => {
  let env: TestEnv;
  let slot: string;

  beforeAll(async () => {
    env = await createTestEnv({ topics: false });
    slot = `${env.config.rolePrefix}forgotten`;
  });
  afterAll(async () => {
    // A database with a slot cannot be dropped.
    await env?.dbs.users.raw(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = ?`, [slot]).catch(() => undefined);
    await env?.cleanup();
  });

  it('passes on a fresh estate and warns about a slot nobody reads, naming it and its bytes', async () => {
    let results = await doctor(env.config);
    expect(results.get('users.wal-level')?.status).toBe('pass');
    expect(results.get('users.replication-slots')).toMatchObject({ status: 'pass', detail: 'no replication slots on this database' });

    await env.dbs.users.raw(`select pg_create_logical_replication_slot(?, 'pgoutput')`, [slot]);
    results = await doctor(env.config);
    const finding = results.get('users.replication-slots')!;
    expect(finding.status).toBe('warn');
    expect(finding.detail).toMatch(new RegExp(`^slot ${slot} is inactive and holds \\d+ bytes`));
    expect(finding.measured?.[slot]).toBeGreaterThanOrEqual(0);
    // The points database has no slot: each database judges its own.
    expect(results.get('points.replication-slots')?.status).toBe('pass');
  });

  it('names the connector slot that RECON_RELAY=debezium expects and does not find', async () => {
    const results = await doctor({ ...env.config, relay: 'debezium', connect: { ...env.config.connect, url: `http://127.0.0.1:${await unusedPort()}` } });
    expect(results.get('points.replication-slots')?.detail).toContain(
      `RECON_RELAY=debezium, but the connector's slot recon_${env.config.namespace!.replaceAll('-', '_')}_points_outbox does not exist`,
    );
    // The worker is not running here: the connectors check fails naming KAFKA_CONNECT_URL.
    expect(results.get('connect.connectors')?.status).toBe('fail');
  });

  it('warns when outbox rows are deleted right after insert', async () => {
    for (let i = 0; i < 3; i++) {
      const batch = rows(500);
      await insertOutboxEvents(env.dbs.points, batch);
      await env.dbs
        .points('outbox')
        .whereIn(
          'event_id',
          batch.map((r) => r.event_id),
        )
        .delete();
    }
    // The statistics collector publishes counters a moment after the transactions end.
    const finding = await waitFor(
      'the outbox deletes to show in pg_stat_user_tables',
      async () => {
        const f = (await doctor(env.config)).get('points.outbox-retention')!;
        return f.status === 'warn' ? f : undefined;
      },
      { intervalMs: 1000 },
    );
    expect(finding.detail).toMatch(/^1500 of 1500 outbox rows inserted were deleted/);
    expect(finding.fix).toContain('keep outbox rows until every window holding them is reconciled');
  });

  it("warns when dead rows pile up in the relay's work list, naming autovacuum turned off for it", async () => {
    const db = env.dbs.points;
    await db.raw('alter table unpublished_events set (autovacuum_enabled = false)');
    // Work-list rows an earlier test left (it deleted their outbox rows) would count as live rows.
    await db.raw('delete from unpublished_events');
    try {
      // Every row published leaves a dead version in the work list.
      const batch = rows(12_000);
      await insertOutboxEvents(db, batch);
      await markPublished(
        db,
        batch.map((r, i) => ({ event_id: r.event_id, partition: 0, offset: i })),
      );
      const finding = await waitFor(
        'the dead work-list rows to show in pg_stat_user_tables',
        async () => {
          const f = (await doctor(env.config)).get('points.work-list-vacuum')!;
          return f.status === 'warn' ? f : undefined;
        },
        { intervalMs: 1000 },
      );
      expect(finding.detail).toMatch(/the relay's work list unpublished_events holds \d+ dead row versions for \d+ rows/);
      expect(finding.measured!.dead).toBeGreaterThanOrEqual(10_000);
      expect(finding.detail).toMatch(/autovacuum is off (on this server|for unpublished_events)/);
      await db.raw('vacuum unpublished_events');
      await waitFor('the vacuum to show', async () => (await doctor(env.config)).get('points.work-list-vacuum')!.status === 'pass', { intervalMs: 1000 });
    } finally {
      await db.raw('alter table unpublished_events reset (autovacuum_enabled)');
    }
  });

  it('fails on a trigger that deletes outbox rows', async () => {
    await env.dbs.users.raw(`
      create function outbox_forget() returns trigger language plpgsql as $$ begin delete from outbox where event_id = new.event_id; return null; end $$;
      create trigger outbox_forget after insert on outbox for each row execute function outbox_forget();`);
    const finding = (await doctor(env.config)).get('users.outbox-retention')!;
    expect(finding.status).toBe('fail');
    expect(finding.detail).toContain('trigger outbox_forget');
  });
});
