/**
 * Never a full scan: with ten times more history outside a window than in
 * it, a run over the window reads only the window's rows (statistics
 * counters) and every query it sends to a source database is planned as an
 * index scan on the window key, or a bitmap of one (EXPLAIN of the very
 * statements it ran).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/index.js';
import { executeRun } from '../../../batch/index.js';
import type { Knex } from '../../../db/index.js';
import { pipelines } from '../../../reconcile/index.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';
import { hoursAgo, insertConsumed, insertGrants, insertOutbox, insertUsers, spread } from '../../helpers/drift.js';

const TABLES = ['users', 'point_ledger', 'outbox', 'consumed_events'];
const IN_WINDOW = 1000;

interface TableStats {
  relname: string;
  seq_scan: number;
  idx_tup_fetch: number;
  idx_tup_read: number;
}

/** Counters of our big tables, after flushing this backend's pending statistics. */
async function tableStats(db: Knex): Promise<Map<string, TableStats>> {
  await db.raw('select pg_stat_force_next_flush()');
  const { rows } = await db.raw<{ rows: TableStats[] }>(
    `select t.relname, t.seq_scan, coalesce(t.idx_tup_fetch, 0) as idx_tup_fetch,
            (select coalesce(sum(i.idx_tup_read), 0) from pg_stat_user_indexes i where i.relid = t.relid) as idx_tup_read
     from pg_stat_user_tables t where t.relname = any(?)`,
    [TABLES],
  );
  return new Map(
    rows.map((r) => [r.relname, { ...r, seq_scan: Number(r.seq_scan), idx_tup_fetch: Number(r.idx_tup_fetch), idx_tup_read: Number(r.idx_tup_read) }]),
  );
}

function planNodes(plan: Record<string, unknown>): Record<string, unknown>[] {
  const children = (plan.Plans as Record<string, unknown>[] | undefined) ?? [];
  return [plan, ...children.flatMap(planNodes)];
}

describe('a run never scans more than its windows', () => {
  let env: TestEnv;
  const windowStart = hoursAgo(6);
  const window = { start: windowStart, end: new Date(windowStart.getTime() + 3600_000) };
  const captured: { db: 'users' | 'points'; sql: string; bindings: unknown[] }[] = [];

  beforeAll(async () => {
    // One connection per source pool: the statistics of what the run did are then this connection's, and it flushes them on demand.
    env = await createTestEnv({ topics: false, roles: true, pool: { max: 1 }, env: { RECON_WINDOW_SECONDS: '3600', RECON_GRACE_SECONDS: '60' } });
    const B = env.config.signupBonusPoints;
    const load = async (from: Date, spanMs: number, n: number) => {
      const users = await insertUsers(env.dbs.users, spread(from, spanMs, n));
      await insertGrants(env.dbs.points, users, B);
      for (const p of pipelines(env.config)) {
        const events = await insertOutbox(env.dbs[p.outboxDb], p.topic, spread(from, spanMs, n), { published: true });
        await insertConsumed(env.dbs[p.consumedDb], p.group, p.topic, events);
      }
    };
    // Five hours of history before the window, five after: ten times the window's rows outside it.
    await load(new Date(windowStart.getTime() - 5 * 3600_000), 5 * 3600_000, 5 * IN_WINDOW);
    await load(windowStart, 3600_000, IN_WINDOW);
    await load(window.end, 5 * 3600_000, 5 * IN_WINDOW);
    // A little drift in the window, so the run descends and compares rows too.
    await insertUsers(env.dbs.users, spread(new Date(windowStart.getTime() + 1234), 3000_000, 3));
    // And a grant without its user: both halves of an unbalanced leaf are looked up by id (primary key, user index).
    await insertGrants(env.dbs.points, [{ id: randomUUID(), createdAt: new Date(windowStart.getTime() + 2345).toISOString() }], B);
    // Index-only scans need the visibility map, and the planner needs statistics.
    await env.dbs.users.raw('vacuum (analyze) users, outbox, consumed_events');
    await env.dbs.points.raw('vacuum (analyze) point_ledger, outbox, consumed_events');
  });
  afterAll(async () => env?.cleanup());

  it('reads only rows of the window, through the window indexes, never a sequential scan', async () => {
    const before = { users: await tableStats(env.app.users), points: await tableStats(env.app.points) };
    const listen = (name: 'users' | 'points') => (q: { sql: string; bindings?: unknown[] }) =>
      captured.push({ db: name, sql: q.sql, bindings: q.bindings ?? [] });
    const onUsers = listen('users');
    const onPoints = listen('points');
    env.app.users.on('query', onUsers);
    env.app.points.on('query', onPoints);
    const summary = await executeRun(
      { config: env.config, dbs: env.app, log: createLogger(env.config) },
      { checks: ['users-vs-points', 'outbox-vs-consumed'], trigger: 'test', from: window.start, to: window.end },
    );
    env.app.users.off('query', onUsers);
    env.app.points.off('query', onPoints);
    expect(summary.counts).toEqual({ 'users-vs-points': { missing_grant: 3, orphan_grant: 1 }, 'outbox-vs-consumed': {} });

    const after = { users: await tableStats(env.app.users), points: await tableStats(env.app.points) };
    const checked: string[] = [];
    for (const side of ['users', 'points'] as const) {
      for (const [table, b] of before[side]) {
        const a = after[side].get(table)!;
        expect(a.seq_scan - b.seq_scan, `${side}.${table} seq scans`).toBe(0);
        const read = a.idx_tup_read - b.idx_tup_read;
        // Every table holds 11 × IN_WINDOW rows; the run may read the window's rows a few times (checksums, then a descent), never the history.
        expect(read, `${side}.${table} index tuples read`).toBeLessThanOrEqual(3 * IN_WINDOW + 100);
        if (read > 0) checked.push(`${side}.${table}`);
      }
    }
    expect(checked.sort()).toEqual(['points.consumed_events', 'points.outbox', 'points.point_ledger', 'users.consumed_events', 'users.outbox', 'users.users']);

    // The same statements, explained: index scans only on the big tables.
    const statements = captured.filter((c) => /\b(users|point_ledger|outbox|consumed_events)\b/.test(c.sql) && !/pg_stat_activity/.test(c.sql));
    expect(statements.length).toBeGreaterThan(4);
    // The descent into the differing segments fetches several ranges at once: those statements are explained too.
    expect(statements.some((st) => /unnest/.test(st.sql))).toBe(true);
    for (const s of statements) {
      const db = env.dbs[s.db];
      const sql = s.sql.replace(/\$\d+/g, '?');
      const { rows } = await db.raw<{ rows: { 'QUERY PLAN': { Plan: Record<string, unknown> }[] }[] }>(
        `explain (format json) ${sql}`,
        s.bindings as Knex.Value[],
      );
      const nodes = planNodes(rows[0]!['QUERY PLAN'][0]!.Plan);
      const scans = nodes.filter((n) => TABLES.includes(String(n['Relation Name'])));
      expect(scans.length, s.sql).toBeGreaterThan(0);
      for (const n of scans) {
        // An index scan, or a bitmap of one (the planner's choice for a whole window's rows, as topic evidence reads them).
        const viaBitmap = n['Node Type'] === 'Bitmap Heap Scan' && planNodes(n).some((c) => c['Node Type'] === 'Bitmap Index Scan');
        if (!viaBitmap) expect(n['Node Type'], `${s.sql}\n${JSON.stringify(n)}`).toMatch(/^Index (Only )?Scan$/);
      }
    }
  });
});
