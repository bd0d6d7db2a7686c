/**
 * `npm run bench -- backfill`: a backfill of 30 days at one-hour windows
 * (720 windows) with 50,000 users a day (1.5 M users and their grants), by
 * the users-vs-points check, compared in-process and by 1, 2 and 3
 * `recon worker` processes; then, with 2 workers, 1, 4 and 12 windows per job.
 *
 * Each scenario is a re-check of the same 30 days (`--from/--to`: the
 * watermark stays, so every scenario walks the same 720 windows), not a dry
 * run (a dry run always compares in-process). The data carries a little
 * drift (one user in 2,000 without a grant): found and recorded by the first
 * scenario, found again by the others. Workers are real `recon worker`
 * processes (`bin/recon.js`), started before the timing begins.
 *
 * Where the time goes: CPU seconds of the Postgres server processes (all of
 * them: the machine is shared, so this includes other people's load) and of
 * the node processes (the coordinator and each worker), from /proc, over the
 * run; and the median window as `run_windows.duration_ms` records it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { configEnv, createLogger, type Config } from '../core/index.js';
import { closeDatabases, connectDatabases, dropDatabase, migrateAll, type Databases } from '../db/index.js';
import { createWindowQueue, executeRun } from '../batch/index.js';
import type { BenchContext, BenchResult, Metric } from './index.js';
import { isolatedConfig, median } from './index.js';

const DAYS = 30;
const USERS_PER_DAY = 50_000;
const LOAD_CHUNK = 250_000;
/** One user in this many has no grant. */
const DRIFT_EVERY = 2000;
const HOUR = 3_600_000;
const TICKS = 100; // USER_HZ on Linux

interface Scenario {
  label: string;
  workers: number;
  windowsPerJob: number;
}

const SCENARIOS: Scenario[] = [
  { label: 'in-process', workers: 0, windowsPerJob: 4 },
  { label: '1 worker', workers: 1, windowsPerJob: 4 },
  { label: '2 workers', workers: 2, windowsPerJob: 4 },
  { label: '3 workers', workers: 3, windowsPerJob: 4 },
  { label: '2 workers, 1 window per job', workers: 2, windowsPerJob: 1 },
  { label: '2 workers, 12 windows per job', workers: 2, windowsPerJob: 12 },
];

function benchConfig(base: Config): Config {
  return {
    ...isolatedConfig(base, 'backfill'),
    windowSeconds: 3600,
    graceSeconds: 60,
    graceFrom: 'start',
    start: undefined,
    logLevel: 'warn',
    runs: { ...base.runs, mode: 'workers', windowDelayMs: 0 },
  };
}

/** 50,000 users a day over `[start, start + 30 days)`, ids from the row number (md5), grants for all but one in DRIFT_EVERY. */
async function load(dbs: Databases, start: Date, B: number, log: (l: string) => void): Promise<void> {
  const n = DAYS * USERS_PER_DAY;
  const spanMs = DAYS * 24 * HOUR;
  const at = `?::timestamptz + (i * ?::float8 / ?) * interval '1 millisecond'`;
  for (let lo = 0; lo < n; lo += LOAD_CHUNK) {
    const hi = Math.min(n, lo + LOAD_CHUNK);
    const t0 = performance.now();
    await Promise.all([
      dbs.users.raw(
        `insert into users (id, email, created_at)
         select md5('u' || i)::uuid, 'u' || i || '@bench.test', ${at} from generate_series(?::int, ?::int) i`,
        [start, spanMs, n, lo, hi - 1],
      ),
      dbs.points.raw(
        `insert into point_ledger (entry_id, user_id, amount, reason, user_created_at)
         select md5('g' || i)::uuid, md5('u' || i)::uuid, ?, 'signup_bonus', date_trunc('milliseconds', ${at})
           from generate_series(?::int, ?::int) i where i % ? <> 0`,
        [B, start, spanMs, n, lo, hi - 1, DRIFT_EVERY],
      ),
    ]);
    log(`  loaded users ${lo}..${hi - 1} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  await Promise.all([dbs.users.raw('analyze users'), dbs.points.raw('analyze point_ledger')]);
}

/** CPU seconds (user + system) of one process, from /proc, with its reaped children's when `children`; 0 when it is gone. */
function cpuSeconds(pid: number, children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)) / TICKS;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of the Postgres server: its live processes, plus what the
 * ones that exited used (the postmaster reaps its backends, so their time
 * is in its children's counters).
 */
function postgresCpuSeconds(): number {
  let total = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() === 'postgres') total += cpuSeconds(Number(name), true);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

function startWorker(config: Config): ChildProcess {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  return spawn(process.execPath, [join(root, 'bin/recon.js'), 'worker', '--progress-interval', '0', '--sweep-interval', '0'], {
    env: { ...process.env, ...configEnv(config), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function stopWorkers(workers: ChildProcess[]): Promise<void> {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.exitCode !== null || w.signalCode !== null) return resolve();
          w.once('exit', () => resolve());
          w.kill('SIGTERM');
        }),
    ),
  );
}

interface Measured {
  label: string;
  seconds: number;
  windows: number;
  medianWindowMs: number;
  pgCpu: number;
  coordinatorCpu: number;
  workersCpu: number;
  found: number;
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const config = benchConfig(ctx.config);
  const log = createLogger(config);
  await migrateAll(config);
  const dbs = connectDatabases(config, { max: 4, applicationName: 'recon-bench' });
  const queue = createWindowQueue(config);
  const start = new Date(Math.floor((Date.now() - (DAYS + 2) * 24 * HOUR) / (24 * HOUR)) * 24 * HOUR);
  const end = new Date(start.getTime() + DAYS * 24 * HOUR);
  const measured: Measured[] = [];
  try {
    ctx.log(`  loading ${DAYS * USERS_PER_DAY} users and their grants`);
    await load(dbs, start, config.signupBonusPoints, ctx.log);
    for (const s of SCENARIOS) {
      const workers = Array.from({ length: s.workers }, () => startWorker(config));
      try {
        const t0w = Date.now();
        while ((await queue.getWorkersCount()) < s.workers) {
          if (Date.now() - t0w > 120_000) throw new Error(`only ${await queue.getWorkersCount()} of ${s.workers} workers came up`);
          await new Promise((r) => setTimeout(r, 250));
        }
        const runId = randomUUID();
        const deps = { config, dbs, log, ...(s.workers ? { windows: { queue, windowsPerJob: s.windowsPerJob } } : {}) };
        const pg0 = postgresCpuSeconds();
        const w0 = workers.map((w) => cpuSeconds(w.pid!));
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const summary = await executeRun(deps, { runId, checks: ['users-vs-points'], trigger: 'test', from: start, to: end });
        const seconds = (performance.now() - t0) / 1000;
        const c1 = process.cpuUsage(c0);
        const workersCpu = workers.reduce((a, w, i) => a + cpuSeconds(w.pid!) - w0[i]!, 0);
        const pgCpu = postgresCpuSeconds() - pg0;
        const durations = ((await dbs.recon('run_windows').where({ run_id: runId }).select('duration_ms')) as { duration_ms: number }[]).map(
          (r) => r.duration_ms,
        );
        const found = Object.values(summary.counts['users-vs-points'] ?? {}).reduce((a, b) => a + (b ?? 0), 0);
        const m: Measured = {
          label: s.label,
          seconds,
          windows: summary.windows,
          medianWindowMs: median(durations),
          pgCpu,
          coordinatorCpu: (c1.user + c1.system) / 1e6,
          workersCpu,
          found,
        };
        measured.push(m);
        ctx.log(
          `  ${s.label}: ${seconds.toFixed(1)} s, ${m.windows} windows, median window ${m.medianWindowMs} ms, pg CPU ${pgCpu.toFixed(1)} s, coordinator CPU ${m.coordinatorCpu.toFixed(1)} s, workers CPU ${workersCpu.toFixed(1)} s, found ${found}`,
        );
      } finally {
        await stopWorkers(workers);
      }
    }
  } finally {
    await queue.close();
    await deleteNamespaceKeys(config);
    await closeDatabases(dbs);
    await Promise.all(Object.values(config.databases).map((url) => dropDatabase(url)));
  }
  const base = measured.find((m) => m.label === 'in-process')!;
  const metrics: Metric[] = [];
  for (const m of measured) {
    metrics.push({ name: `${m.label}: time`, value: m.seconds, unit: 's' });
    metrics.push({ name: `${m.label}: speed-up vs in-process`, value: base.seconds / m.seconds, unit: '×' });
    metrics.push({ name: `${m.label}: median window`, value: m.medianWindowMs, unit: 'ms' });
    metrics.push({ name: `${m.label}: Postgres CPU per wall second`, value: m.pgCpu / m.seconds, unit: 'cores' });
  }
  const table = [
    '| scenario | time (s) | speed-up | windows | median window (ms) | Postgres CPU (s) | coordinator CPU (s) | workers CPU (s) | found |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...measured.map(
      (m) =>
        `| ${m.label} | ${m.seconds.toFixed(1)} | ${(base.seconds / m.seconds).toFixed(2)} | ${m.windows} | ${m.medianWindowMs} | ${m.pgCpu.toFixed(1)} | ${m.coordinatorCpu.toFixed(1)} | ${m.workersCpu.toFixed(1)} | ${m.found} |`,
    ),
  ];
  const notes = [
    `${DAYS} days at 1-hour windows (${DAYS * 24} windows), ${USERS_PER_DAY} users a day (${DAYS * USERS_PER_DAY} users and their grants), check users-vs-points, one user in ${DRIFT_EVERY} without a grant; one timed run per scenario, on a shared 2-core machine (other people's tests and benches ran at the same time): read ratios, not absolute times.`,
    "Postgres CPU counts every postgres process on the machine over the run (other people's load included); node CPU counts the coordinator (this process) and the workers.",
  ];
  writeResultFile(table, notes);
  return { name: 'backfill', metrics, notes: [...notes, ...table] };
}

/** The window queue's keys of the benchmark's namespace (SCAN, never KEYS). */
async function deleteNamespaceKeys(config: Config): Promise<void> {
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.namespace}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** bench/results/backfill.md: the table, beside the timestamped result files. */
function writeResultFile(table: string[], notes: string[]): void {
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'backfill.md');
  const text = [
    '# Backfill: in-process vs workers',
    '',
    `Measured ${new Date().toISOString()} by \`npm run bench -- backfill\`.`,
    '',
    ...table,
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  writeFileSync(file, text);
}
