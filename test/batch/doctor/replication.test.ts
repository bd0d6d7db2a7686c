/**
 * Doctor's judgements for the Debezium relay, every branch: wal_level under
 * each relay (the shared server runs with logical and must not be restarted,
 * so "not logical" is judged here), slots inactive or lagging, the
 * insert-then-delete pattern, dead rows in the relay's work list, and the
 * connectors' states.
 */
import { describe, expect, it } from 'vitest';
import { judgeConnectors, judgeOutboxRetention, judgeReplicationSlots, judgeWalLevel, judgeWorkListVacuum } from '../../../batch/index.js';
import type { ReplicationSlot } from '../../../db/index.js';
import { walLevelProblem } from '../../../streaming/index.js';

const slot = (over: Partial<ReplicationSlot>): ReplicationSlot => ({
  slot: 'recon_users_outbox',
  plugin: 'pgoutput',
  type: 'logical',
  active: true,
  retainedBytes: 1000,
  lagBytes: 500,
  walStatus: 'reserved',
  ...over,
});

describe('wal_level', () => {
  it('passes when logical, whatever the relay', () => {
    expect(judgeWalLevel('logical', 'debezium').status).toBe('pass');
    expect(judgeWalLevel('logical', 'polling').status).toBe('pass');
  });

  it('fails under RECON_RELAY=debezium when not logical, with the fix', () => {
    const f = judgeWalLevel('replica', 'debezium');
    expect(f.status).toBe('fail');
    expect(f.detail).toContain('wal_level is replica');
    expect(f.fix).toContain("ALTER SYSTEM SET wal_level = 'logical'");
  });

  it('only warns under the polling relay', () => {
    const f = judgeWalLevel('minimal', 'polling');
    expect(f.status).toBe('warn');
    expect(f.fix).toContain('RECON_RELAY=debezium');
  });

  it('makes `recon connect register` refuse plainly', () => {
    expect(walLevelProblem('logical', 'users')).toBeUndefined();
    expect(walLevelProblem('replica', 'points')).toMatch(/points database's server runs with wal_level=replica; Debezium needs wal_level=logical/);
  });
});

describe('replication slots', () => {
  it('pass with no slot, or with active slots under the threshold', () => {
    expect(judgeReplicationSlots([], 1e9).status).toBe('pass');
    const f = judgeReplicationSlots([slot({})], 1e9, 'recon_users_outbox');
    expect(f.status).toBe('pass');
    expect(f.measured).toEqual({ recon_users_outbox: 1000 });
  });

  it('warn about an inactive slot, naming it and the WAL it holds', () => {
    const f = judgeReplicationSlots([slot({ slot: 'forgotten', active: false, retainedBytes: 5 * 1024 * 1024 })], 1e9);
    expect(f.status).toBe('warn');
    expect(f.detail).toBe('slot forgotten is inactive and holds 5242880 bytes (5.0 MiB) of WAL');
    expect(f.fix).toContain('pg_drop_replication_slot');
  });

  it('warn about an active slot past the lag threshold', () => {
    const f = judgeReplicationSlots([slot({ retainedBytes: 3000, lagBytes: 2500 })], 2000);
    expect(f.status).toBe('warn');
    expect(f.detail).toContain('slot recon_users_outbox is 3000 bytes');
    expect(f.detail).toContain('RECON_SLOT_LAG_WARN_BYTES=2000');
  });

  it('warn when the Debezium relay is configured but its slot is missing, and when WAL was lost', () => {
    expect(judgeReplicationSlots([], 1e9, 'recon_users_outbox').detail).toContain('slot recon_users_outbox does not exist');
    expect(judgeReplicationSlots([slot({ walStatus: 'lost' })], 1e9).detail).toContain('wal_status lost');
  });
});

describe('outbox retention (insert then delete)', () => {
  const facts = { inserted: 10_000, deleted: 0, live: 10_000, deletingTriggers: [] as string[], rules: [] as string[] };

  it('passes when rows are kept, and before there are statistics', () => {
    expect(judgeOutboxRetention(facts).status).toBe('pass');
    expect(judgeOutboxRetention(undefined).status).toBe('pass');
  });

  it('fails on a trigger or rule that deletes outbox rows', () => {
    const f = judgeOutboxRetention({ ...facts, deletingTriggers: ['outbox_cleanup'] });
    expect(f.status).toBe('fail');
    expect(f.detail).toContain('trigger outbox_cleanup');
    expect(f.fix).toContain('keep outbox rows until every window holding them is reconciled');
    expect(judgeOutboxRetention({ ...facts, rules: ['outbox_nothing'] }).detail).toContain('rule outbox_nothing');
  });

  it('warns when nearly every inserted row was deleted, only past a minimum of inserts', () => {
    expect(judgeOutboxRetention({ ...facts, deleted: 9_990, live: 10 }).status).toBe('warn');
    expect(judgeOutboxRetention({ ...facts, deleted: 5_000, live: 5_000 }).status).toBe('pass');
    expect(judgeOutboxRetention({ ...facts, inserted: 999, deleted: 999, live: 0 }).status).toBe('pass');
  });
});

describe("the relay's work list and vacuum", () => {
  const facts = { live: 100, dead: 50, autovacuum: true, tableAutovacuum: true, lastVacuum: new Date('2026-12-03T10:00:00Z') };

  it('passes with few dead rows, and before there are statistics, saying when autovacuum is off', () => {
    expect(judgeWorkListVacuum(facts)).toMatchObject({ status: 'pass', measured: { live: 100, dead: 50 } });
    expect(judgeWorkListVacuum(undefined).status).toBe('pass');
    expect(judgeWorkListVacuum({ ...facts, autovacuum: false }).detail).toContain('autovacuum is off on this server: vacuum it on a schedule');
  });

  it('warns from 10,000 dead rows and ten per live row, naming what turned autovacuum off and the fix', () => {
    expect(judgeWorkListVacuum({ ...facts, dead: 9_999 }).status).toBe('pass');
    expect(judgeWorkListVacuum({ ...facts, live: 2_000, dead: 19_999 }).status).toBe('pass');
    const server = judgeWorkListVacuum({ ...facts, dead: 10_000, autovacuum: false });
    expect(server.status).toBe('warn');
    expect(server.detail).toMatch(/holds 10000 dead row versions for 100 rows \(last vacuumed 2026-12-03T10:00:00.000Z; autovacuum is off on this server\)/);
    expect(server.fix).toContain('ALTER SYSTEM SET autovacuum = on');
    const table = judgeWorkListVacuum({ ...facts, dead: 20_000, tableAutovacuum: false, lastVacuum: null });
    expect(table.detail).toContain('never vacuumed since the statistics were reset; autovacuum is off for unpublished_events');
    expect(table.fix).toContain('ALTER TABLE unpublished_events RESET (autovacuum_enabled)');
    expect(judgeWorkListVacuum({ ...facts, dead: 50_000 }).fix).toContain('a long transaction holding back the xmin horizon');
  });
});

describe('connectors', () => {
  const running = (state = 'RUNNING', tasks = ['RUNNING']) =>
    ({ name: 'x', connector: { state, worker_id: 'w' }, tasks: tasks.map((s, id) => ({ id, state: s, worker_id: 'w' })) }) as never;

  it('pass when both and their tasks run', () => {
    expect(
      judgeConnectors([
        { connector: 'users-outbox', status: running() },
        { connector: 'points-outbox', status: running() },
      ]).status,
    ).toBe('pass');
  });

  it('fail naming a missing, paused or failed one', () => {
    const f = judgeConnectors([
      { connector: 'users-outbox', status: undefined },
      { connector: 'points-outbox', status: running('PAUSED', ['FAILED']) },
    ]);
    expect(f.status).toBe('fail');
    expect(f.detail).toBe('users-outbox is not registered; points-outbox is PAUSED; points-outbox task 0 is FAILED');
    expect(judgeConnectors([{ connector: 'u', status: running('RUNNING', []) }]).detail).toBe('u has no task');
  });
});
