/**
 * `npm run bench -- reconcile`: what a clean window of 1,000,000 users costs
 * the users-vs-points check compared with counting it, and how that changes
 * with 10× more history outside the window and with 100 discrepancies in it.
 *
 * Everything runs in the benchmark's own databases (dropped afterwards), as
 * dry runs (nothing recorded, so each repetition sees the same data). Data
 * is loaded with generate_series: user ids derive from the row number, so
 * both databases produce matching rows without talking to each other.
 */
import { performance } from 'node:perf_hooks';
import { createLogger, type Config, type Window } from '../core/index.js';
import { closeDatabases, connectDatabases, dropDatabase, migrateAll, type Databases, type Knex } from '../db/index.js';
import { executeRun } from '../batch/index.js';
import type { BenchContext, BenchResult } from './index.js';
import { isolatedConfig, median } from './index.js';

const USERS = 1_000_000;
/** History outside the window, as a multiple of the window's rows (half before it, half after). */
const HISTORY = 10;
const DISCREPANCIES = 100;
/** Timed repetitions per scenario (after one warm-up), interleaved across the scenarios. */
const REPEAT = 7;
const LOAD_CHUNK = 1_000_000;

type Scenario = 'clean' | 'history' | 'drift';

function benchConfig(base: Config, scenario: Scenario): Config {
  return {
    ...isolatedConfig(base, scenario),
    windowSeconds: 3600,
    graceSeconds: 60,
    start: undefined,
    logLevel: 'warn',
  };
}

/**
 * Users `from .. to-1` (row numbers) spread evenly over `[start, start + spanMs)`, with their grants.
 * Window users get random-looking ids (md5 of the row number, as UUIDv4s would be); history users get
 * ids in row order, which only makes loading 10M rows faster (the primary-key index grows at its end):
 * no query of the check touches that index. created_at has microseconds; the ledger key is truncated
 * to the millisecond, as the stream writes it.
 */
async function load(
  dbs: Databases,
  from: number,
  to: number,
  start: Date,
  spanMs: number,
  B: number,
  log: (l: string) => void,
  { sequentialIds = false } = {},
): Promise<void> {
  const n = to - from;
  const id = (prefix: string) => (sequentialIds ? `lpad(to_hex(i), 31, '0')::text || '${prefix === 'u' ? '1' : '2'}'` : `md5('${prefix}' || i)`);
  for (let lo = from; lo < to; lo += LOAD_CHUNK) {
    const hi = Math.min(to, lo + LOAD_CHUNK);
    const t0 = performance.now();
    const at = `?::timestamptz + ((i - ?) * ?::float8 / ?) * interval '1 millisecond'`;
    await Promise.all([
      dbs.users.raw(
        `insert into users (id, email, created_at)
         select (${id('u')})::uuid, 'u' || i || '@bench.test', ${at} from generate_series(?::int, ?::int) i`,
        [start, from, spanMs, n, lo, hi - 1],
      ),
      dbs.points.raw(
        `insert into point_ledger (entry_id, user_id, amount, reason, user_created_at)
         select (${id('g')})::uuid, (${id('u')})::uuid, ?, 'signup_bonus', date_trunc('milliseconds', ${at}) from generate_series(?::int, ?::int) i`,
        [B, start, from, spanMs, n, lo, hi - 1],
      ),
    ]);
    log(`  loaded users ${lo}..${hi - 1} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
}
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function countWindow(dbs: Databases, w: Window): Promise<number[]> {
  const [[u], [p]] = await Promise.all([
    dbs.users('users').where('created_at', '>=', w.start).andWhere('created_at', '<', w.end).count({ n: '*' }),
    dbs.points('point_ledger').where('user_created_at', '>=', w.start).andWhere('user_created_at', '<', w.end).count({ n: '*' }),
  ]);
  return [Number(u?.n), Number(p?.n)];
}

interface Env {
  scenario: Scenario;
  config: Config;
  dbs: Databases;
}

/** One timing of the check (a dry run of users-vs-points over the window) and one of count(*) on both sides. */
async function timeOnce(env: Env, w: Window): Promise<{ check: number; count: number; found: Record<string, number> }> {
  const deps = { config: env.config, dbs: env.dbs, log: createLogger(env.config) };
  let found: Record<string, number> = {};
  const check = await timed(async () => {
    const s = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test', dryRun: true, from: w.start, to: w.end });
    found = (s.counts['users-vs-points'] ?? {}) as Record<string, number>;
  });
  const count = await timed(() => countWindow(env.dbs, w));
  return { check, count, found };
}

/** Top nodes of EXPLAIN ANALYZE of the two checksum statements at the first level of the window (on the database with history, where the window is a tenth of the table). */
async function explainChecksums(dbs: Databases, w: Window): Promise<string[]> {
  const stride = Math.ceil((w.end.getTime() - w.start.getTime()) / 1024);
  const plan = async (db: Knex, sql: string, bindings: Knex.Value[]) => {
    const rows = await db.transaction(async (trx) => {
      await trx.raw('set local jit = off');
      return (await trx.raw<{ rows: { 'QUERY PLAN': string }[] }>(`explain (analyze, buffers, timing off, summary on) ${sql}`, bindings)).rows;
    });
    return rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN'].trim()).filter((l) => /Scan|Aggregate|Execution Time|Heap Fetches/.test(l));
  };
  const users = await plan(
    dbs.users,
    `select date_bin(? * interval '1 millisecond', created_at, ?::timestamptz) seg, count(*), sum(uuid_hash(id)) from users where created_at >= ? and created_at < ? group by 1`,
    [stride, w.start, w.start, w.end],
  );
  const ledger = await plan(
    dbs.points,
    `select date_bin(? * interval '1 millisecond', user_created_at, ?::timestamptz) seg, count(*), sum(amount), sum(amount::int8 * uuid_hash(user_id)) from point_ledger where user_created_at >= ? and user_created_at < ? and reason = any(?::text[]) group by 1`,
    [stride, w.start, w.start, w.end, ['signup_bonus', 'signup_bonus_revocation']],
  );
  return [`users checksum plan: ${users.join(' | ')}`, `ledger checksum plan: ${ledger.join(' | ')}`];
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const B = ctx.config.signupBonusPoints;
  const notes: string[] = [];
  const envs: Env[] = [];
  try {
    for (const scenario of ['clean', 'drift', 'history'] as const) {
      const config = benchConfig(ctx.config, scenario);
      await migrateAll(config);
      envs.push({ scenario, config, dbs: connectDatabases(config, { max: 4, applicationName: 'recon-bench' }) });
    }
    const [, drift, history] = envs as [Env, Env, Env];
    const hour = 3600_000;
    const now = Date.now();
    const windowStart = new Date(now - (now % hour) - 30 * 24 * hour);
    const w: Window = { start: windowStart, end: new Date(windowStart.getTime() + hour) };
    const vacuum = (env: Env) => Promise.all([env.dbs.users.raw('vacuum (analyze) users'), env.dbs.points.raw('vacuum (analyze) point_ledger')]);

    for (const env of envs) {
      ctx.log(`${env.scenario}: loading ${USERS} users and grants into one window`);
      const t0 = performance.now();
      await load(env.dbs, 0, USERS, w.start, hour, B, ctx.log);
      if (env.scenario === 'clean')
        notes.push(`load of ${USERS} users + grants (generate_series, both databases in parallel): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }

    ctx.log(`history: loading ${HISTORY}× the window's rows outside it`);
    const tHist = performance.now();
    const half = (HISTORY * USERS) / 2;
    const span = (HISTORY / 2) * 24 * hour;
    await load(history.dbs, USERS, USERS + half, new Date(w.start.getTime() - span), span, B, ctx.log, { sequentialIds: true });
    await load(history.dbs, USERS + half, USERS + 2 * half, w.end, span, B, ctx.log, { sequentialIds: true });
    notes.push(
      `(b) history: ${HISTORY * USERS} more users + grants outside the window (half in the 5 days before, half in the 5 days after), loaded in ${((performance.now() - tHist) / 1000).toFixed(0)} s`,
    );

    ctx.log(`drift: injecting ${DISCREPANCIES} discrepancies into the window`);
    // Half missing grants (users with no grant), half orphans (grants with no user), spread over the window.
    const n = DISCREPANCIES / 2;
    const at = `?::timestamptz + (i * ?::float8 / ?) * interval '1 millisecond' + interval '7 microseconds'`;
    await drift.dbs.users.raw(
      `insert into users (id, email, created_at) select md5('m' || i)::uuid, 'm' || i || '@bench.test', ${at} from generate_series(0, ?) i`,
      [w.start, hour, n, n - 1],
    );
    await drift.dbs.points.raw(
      `insert into point_ledger (entry_id, user_id, amount, reason, user_created_at)
       select md5('og' || i)::uuid, md5('o' || i)::uuid, ?, 'signup_bonus', date_trunc('milliseconds', ${at} + interval '11 seconds') from generate_series(0, ?) i`,
      [B, w.start, hour, n, n - 1],
    );
    for (const env of envs) await vacuum(env);
    for (const env of envs) {
      const [cu, cp] = await countWindow(env.dbs, w);
      const extra = env.scenario === 'drift' ? n : 0;
      if (cu !== USERS + extra || cp !== USERS + extra) throw new Error(`${env.scenario}: window holds ${cu} users and ${cp} grants`);
    }

    // Interleaved: every repetition times the three scenarios back to back, so load from
    // other work on the machine weighs on all of them alike. The first round warms up.
    const times: Record<Scenario, { check: number[]; count: number[]; found: Record<string, number> }> = {
      clean: { check: [], count: [], found: {} },
      history: { check: [], count: [], found: {} },
      drift: { check: [], count: [], found: {} },
    };
    for (let rep = 0; rep <= REPEAT; rep++) {
      for (const env of envs) {
        const t = await timeOnce(env, w);
        times[env.scenario].found = t.found;
        if (rep === 0) continue;
        times[env.scenario].check.push(t.check);
        times[env.scenario].count.push(t.count);
      }
      ctx.log(`  round ${rep}: ${envs.map((e) => `${e.scenario} ${times[e.scenario].check.at(-1)?.toFixed(0) ?? '-'} ms`).join(', ')}`);
    }
    const med = (s: Scenario, k: 'check' | 'count') => median(times[s][k]);
    // Ratios are taken within each round (the same minute of machine load), then their median.
    const paired = (s: Scenario) => median(times[s].check.map((t, i) => t / times.clean.check[i]!));
    const pairedToCount = median(times.clean.check.map((t, i) => t / times.clean.count[i]!));
    const foundDrift = Object.values(times.drift.found).reduce((s, v) => s + v, 0);
    if (foundDrift !== DISCREPANCIES) throw new Error(`found ${foundDrift} discrepancies, injected ${DISCREPANCIES}`);
    if (Object.keys(times.clean.found).length || Object.keys(times.history.found).length) throw new Error('clean windows reported discrepancies');

    notes.push(...(await explainChecksums(history.dbs, w)));
    notes.push(
      `${REPEAT} interleaved rounds after a warm-up round; ratios are medians of the per-round ratios; the check is a dry run of users-vs-points over the one-hour window (1024 segment checksums per side, both sides in parallel); count(*) is the two index-only counts, in parallel`,
      `ratios of medians: (a) ${(med('clean', 'check') / med('clean', 'count')).toFixed(2)}, (b) ${(med('history', 'check') / med('clean', 'check')).toFixed(2)}, (c) ${(med('drift', 'check') / med('clean', 'check')).toFixed(2)}; medians (ms): clean check ${med('clean', 'check').toFixed(0)} / count ${med('clean', 'count').toFixed(0)}; history check ${med('history', 'check').toFixed(0)} / count ${med('history', 'count').toFixed(0)}; drift check ${med('drift', 'check').toFixed(0)} / count ${med('drift', 'count').toFixed(0)}; drift found ${JSON.stringify(times.drift.found)}`,
    );
    return {
      name: 'reconcile',
      metrics: [
        { name: '(a) clean 1M-user window: check time / count(*) time', value: pairedToCount, unit: 'ratio', aim: '<= 3' },
        { name: `(b) same window with ${HISTORY}× history outside: time / (a)`, value: paired('history'), unit: 'ratio', aim: '<= 1.2' },
        { name: `(c) same window with ${DISCREPANCIES} discrepancies: time / (a)`, value: paired('drift'), unit: 'ratio', aim: '<= 1.5' },
        { name: '(a) check time, clean 1M-user window', value: med('clean', 'check'), unit: 'ms' },
        { name: '(a) count(*) time, both sides', value: med('clean', 'count'), unit: 'ms' },
      ],
      notes,
    };
  } finally {
    for (const env of envs) {
      await closeDatabases(env.dbs);
      await Promise.all(Object.values(env.config.databases).map((url) => dropDatabase(url)));
    }
  }
}
