/**
 * Doctor's judgements, from measured values to pass/warn/fail: the clock
 * arithmetic (a skew cannot be made on real services without faking a
 * clock), the plans of the window queries, topics, groups and Redis, and the
 * runner's prerequisites and time bound.
 */
import { describe, expect, it } from 'vitest';
import {
  bestSkew,
  doctorExitCode,
  judgeCommitTimestamps,
  judgeEviction,
  judgeGroups,
  judgePersistence,
  judgeSkew,
  judgeTopics,
  judgeWindowIndexes,
  redactUrl,
  runDoctor,
  sampleClock,
  skewLimits,
  skewOf,
  type DoctorCheck,
  type DoctorContext,
} from '../../../batch/index.js';
import { BATCH_INDEXES, type FoundIndexes, type WindowQueryPlan } from '../../../db/index.js';

describe('clock skew', () => {
  it('is the server reading against the midpoint of the round trip, give or take half of it (and the host clock resolution)', () => {
    // Sent at 1000, answered at 1010 (ms readings), the server read 1505: 500 ms ahead, ± 5.5 ms.
    expect(skewOf({ sentAt: 1000, receivedAt: 1010, remoteAt: 1505 })).toEqual({ skewMs: 499.5, errorMs: 5.5 });
    expect(skewOf({ sentAt: 1000, receivedAt: 1010, remoteAt: 1005 }, 0)).toEqual({ skewMs: 0, errorMs: 5 });
    expect(skewOf({ sentAt: 2000, receivedAt: 2002, remoteAt: 1000 }, 0)).toEqual({ skewMs: -1001, errorMs: 1 });
  });

  it('takes the exchange with the shortest round trip', () => {
    const samples = [
      { sentAt: 0, receivedAt: 100, remoteAt: 90 },
      { sentAt: 200, receivedAt: 204, remoteAt: 212 },
      { sentAt: 300, receivedAt: 340, remoteAt: 300 },
    ];
    expect(bestSkew(samples)).toEqual(skewOf(samples[1]!));
    expect(() => bestSkew([])).toThrow(/no clock samples/);
  });

  it('samples with the host clock around each read', async () => {
    let t = 0;
    const samples = await sampleClock(
      async () => (t += 3) + 1000,
      2,
      () => (t += 1),
    );
    expect(samples).toEqual([
      { sentAt: 1, remoteAt: 1004, receivedAt: 5 },
      { sentAt: 6, remoteAt: 1009, receivedAt: 10 },
    ]);
  });

  it('limits: a tenth of the grace, at least 1 s, and fails above the grace', () => {
    expect(skewLimits(300)).toEqual({ warnAboveMs: 30_000, failAboveMs: 300_000 });
    expect(skewLimits(3)).toEqual({ warnAboveMs: 1000, failAboveMs: 3000 });
    expect(skewLimits(0)).toEqual({ warnAboveMs: 1000, failAboveMs: 1000 });
    expect(judgeSkew('the users database server', { skewMs: 12, errorMs: 1 }, 300)).toMatchObject({
      status: 'pass',
      measured: { skewMs: 12, errorMs: 1, warnAboveMs: 30_000, failAboveMs: 300_000 },
    });
    expect(judgeSkew('x', { skewMs: -45_000, errorMs: 1 }, 300)).toMatchObject({ status: 'warn', fix: expect.stringMatching(/NTP/) });
    const fail = judgeSkew('the Kafka broker', { skewMs: 301_000, errorMs: 1 }, 300);
    expect(fail.status).toBe('fail');
    expect(fail.detail).toMatch(/the Kafka broker is 301 s ahead of this host.*larger than the grace/);
    // Too slow a round trip to tell: not a pass.
    expect(judgeSkew('x', { skewMs: 10, errorMs: 2_000 }, 10)).toMatchObject({ status: 'warn', detail: expect.stringMatching(/too slow/) });
  });
});

const found = (database: 'users' | 'points', missing: string[] = []): FoundIndexes[] =>
  BATCH_INDEXES[database].map((spec) => ({
    spec,
    found: missing.includes(`${spec.table}(${spec.columns.join(',')})`) ? [] : [`${spec.table}_${spec.columns.join('_')}_idx`],
  }));

const plan = (table: string, scans: WindowQueryPlan['scans'], estimatedRows = 1_000_000): WindowQueryPlan => ({ table, scans, estimatedRows });

describe('window indexes', () => {
  const good = [
    plan('users', [{ node: 'Index Only Scan', relation: 'users', index: 'users_created_at_idx' }]),
    plan('outbox', [
      { node: 'Bitmap Heap Scan', relation: 'outbox' },
      { node: 'Bitmap Index Scan', index: 'outbox_occurred_at_idx' },
    ]),
    plan('consumed_events', [{ node: 'Index Only Scan', relation: 'consumed_events', index: 'consumed_events_consumer_group_event_occurred_at_idx' }]),
  ];

  it('passes when each window query reads its table through its window index', () => {
    const r = judgeWindowIndexes(found('users'), good);
    expect(r.status).toBe('pass');
    expect(r.detail).toMatch(/outbox: Bitmap Index Scan on outbox_occurred_at_idx/);
  });

  it('fails naming the statement when an index is missing', () => {
    const plans = [plan('users', [{ node: 'Seq Scan', relation: 'users' }]), ...good.slice(1)];
    const r = judgeWindowIndexes(found('users', ['users(created_at)']), plans);
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/missing: an index on users \(created_at\)/);
    expect(r.fix).toBe('create index concurrently users_created_at_idx on users (created_at, id);');
  });

  it('fails when the plan uses another index or a sequential scan even with sequential scans disabled', () => {
    const plans = [plan('users', [{ node: 'Index Scan', relation: 'users', index: 'users_pkey' }]), ...good.slice(1)];
    const r = judgeWindowIndexes(found('users'), plans, plans);
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/users: the window query does not use users_created_at_idx \(Index Scan on users_pkey\)/);
  });

  it('passes a small table read whole, warns of a large one (stale statistics)', () => {
    const seq = (rows: number) => [plan('users', [{ node: 'Seq Scan', relation: 'users' }], rows), ...good.slice(1)];
    const forced = [plan('users', [{ node: 'Index Scan', relation: 'users', index: 'users_created_at_idx' }])];
    expect(judgeWindowIndexes(found('users'), seq(500), forced)).toMatchObject({ status: 'pass', detail: expect.stringMatching(/read whole while small/) });
    expect(judgeWindowIndexes(found('users'), seq(-1), forced).status).toBe('pass');
    expect(judgeWindowIndexes(found('users'), seq(5_000_000), forced)).toMatchObject({ status: 'warn', fix: 'analyze users;' });
  });

  it('knows the late-arrival indexes of the points database', () => {
    const r = judgeWindowIndexes(found('points', ['point_ledger(created_at)']), [
      plan('point_ledger', [{ node: 'Index Only Scan', relation: 'point_ledger', index: 'point_ledger_user_created_at_idx' }]),
    ]);
    expect(r).toMatchObject({ status: 'fail', fix: 'create index concurrently point_ledger_created_at_idx on point_ledger (created_at);' });
    expect(r.detail).toMatch(/for the late-arrival scan/);
  });
});

describe('topics, groups, Redis', () => {
  it('topics: each must exist with 6 partitions, the .DLT too', () => {
    expect(judgeTopics(new Map([['a', 6]])).status).toBe('pass');
    const r = judgeTopics(
      new Map<string, number | undefined>([
        ['ns.user.created', 3],
        ['ns.user.created.DLT', 6],
        ['ns.point.granted.DLT', undefined],
      ]),
    );
    expect(r.status).toBe('fail');
    expect(r.detail).toBe('ns.point.granted.DLT is missing; ns.user.created has 3 partitions, recon needs 6');
    expect(r.fix).toMatch(/recon migrate.*recreate ns\.user\.created with 6 partitions/);
  });

  it('groups: unknown or without consumers is a warning naming the command', () => {
    expect(judgeGroups([{ group: 'g', state: 'Stable', members: 2 }])).toMatchObject({ status: 'pass', detail: 'g: Stable, 2 members' });
    const r = judgeGroups([
      { group: 'a', state: undefined, members: 0 },
      { group: 'b', state: 'Empty', members: 0 },
    ]);
    expect(r).toMatchObject({ status: 'warn', fix: expect.stringMatching(/recon stream consume/) });
    expect(r.detail).toMatch(/a is unknown to the broker \(never started\); b is known but no consumer runs/);
  });

  it('Redis: only noeviction keeps the jobs; persistence off is a warning', () => {
    expect(judgeEviction('noeviction').status).toBe('pass');
    expect(judgeEviction('allkeys-lru')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/allkeys-lru.*BullMQ loses jobs/) });
    expect(judgeEviction('volatile-ttl').status).toBe('fail');
    expect(judgePersistence('', 'no').status).toBe('warn');
    expect(judgePersistence('3600 1 300 100', 'no')).toMatchObject({ status: 'pass', detail: 'persistence: RDB snapshots (save 3600 1 300 100)' });
    expect(judgePersistence('', 'yes')).toMatchObject({ status: 'pass', detail: 'persistence: append-only file on' });
  });

  it('redacts passwords from URLs', () => {
    expect(redactUrl('postgres://recon:s3cret@db:5432/recon_users')).toBe('postgres://recon:***@db:5432/recon_users');
    expect(redactUrl('redis://:pw@127.0.0.1:6379')).toBe('redis://:***@127.0.0.1:6379');
    expect(redactUrl('postgres://127.0.0.1:5432/x')).toBe('postgres://127.0.0.1:5432/x');
  });
});

describe('running checks', () => {
  const ctx = { timeoutMs: 200 } as DoctorContext;
  const check = (name: string, run: DoctorCheck['run'], requires?: string[]): DoctorCheck => ({
    name,
    target: `service ${name}`,
    run,
    ...(requires ? { requires } : {}),
  });

  it('keeps list order, skips what requires a failed check, bounds each check in time', async () => {
    const results = await runDoctor(
      [
        check('a.connect', async () => ({ status: 'fail', detail: 'refused', fix: 'start a' })),
        check('a.more', async () => ({ status: 'pass', detail: 'never run', fix: '' }), ['a.connect']),
        check('b.slow', () => new Promise(() => undefined)),
        check('c.throws', async () => Promise.reject(new Error('boom'))),
        check('d.ok', async () => ({ status: 'warn', detail: 'meh', fix: 'x' })),
      ],
      ctx,
    );
    expect(results.map((r) => [r.name, r.status])).toEqual([
      ['a.connect', 'fail'],
      ['a.more', 'fail'],
      ['b.slow', 'fail'],
      ['c.throws', 'fail'],
      ['d.ok', 'warn'],
    ]);
    expect(results[1]).toMatchObject({ detail: 'not checked: a.connect failed', fix: 'fix a.connect first' });
    expect(results[2]!.detail).toBe('service b.slow did not answer within 0.2 s');
    expect(results[3]!.detail).toBe('service c.throws: boom');
    expect(doctorExitCode(results)).toBe(1);
    expect(doctorExitCode(results.slice(4))).toBe(0);
  });

  it('refuses a list whose prerequisites are not listed before', async () => {
    await expect(runDoctor([check('x', async () => ({ status: 'pass', detail: '', fix: '' }), ['y'])], ctx)).rejects.toThrow(/requires y/);
  });
});

describe('commit timestamps', () => {
  it('warn when off and lateness is measured from commit, pass when on', () => {
    expect(judgeCommitTimestamps(true, 'commit')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^track_commit_timestamp is on/) });
    expect(judgeCommitTimestamps(false, 'commit')).toMatchObject({ status: 'warn', fix: expect.stringMatching(/track_commit_timestamp = on/) });
  });

  it('do not matter when RECON_GRACE_FROM=start measures lateness from transaction start', () => {
    for (const on of [true, false]) {
      expect(judgeCommitTimestamps(on, 'start')).toEqual({
        status: 'pass',
        detail: `RECON_GRACE_FROM=start: lateness is measured from transaction start by configuration; track_commit_timestamp (${on ? 'on' : 'off'}) is not used`,
        fix: '',
      });
    }
  });
});
