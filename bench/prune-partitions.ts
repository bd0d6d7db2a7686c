/**
 * The experiment behind retention's design: delete in batches from one
 * outbox table (what `recon prune` does), or partition the outbox by day
 * and drop whole partitions. On a scratch database, two tables of the
 * outbox's shape hold the same `RECON_BENCH_PRUNE_ROWS / 10` rows (1 million
 * by default) over 10 days:
 *
 * - `plain`: the outbox as it is (`event_id` primary key, window index
 *   `(occurred_at, event_id)`);
 * - `parted`: partitioned by range of `occurred_at`, one partition a day;
 *   its primary key must then include the partition key
 *   (`(event_id, occurred_at)`), which DESIGN.md's `event_id uuid primary
 *   key` and Debezium's outbox convention do not have.
 *
 * Measured on each: the stream's inserts (transactions of 50 rows, current
 * time), a window query (count and checksum of one hour, as a check reads
 * it), lookups by event id alone (what a republish, a dead letter's window
 * and the prune's pairing of halves do), and pruning one day: batched
 * deletes of 5,000 rows by primary key vs `detach partition concurrently` +
 * `drop table`. Medians of several repetitions; one machine, shared, noisy.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connect, dropDatabase, ensureDatabase, type Knex } from '../db/index.js';
import { median, type BenchContext, type BenchResult } from './index.js';

const DAYS = 10;
const INSERT_ROWS = 20_000;
const INSERT_BATCH = 50;
const REPS = 3;

const COLUMNS = `event_id uuid not null, topic text not null, message_key text, payload jsonb not null, headers jsonb not null default '{}'::jsonb,
  occurred_at timestamptz not null default now(), published_at timestamptz null, kafka_partition int null, kafka_offset bigint null,
  attempts int not null default 0, last_error text null`;

async function timed<T>(f: () => Promise<T>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

async function setUp(db: Knex, rows: number, day0: Date): Promise<void> {
  await db.raw(`create table plain (${COLUMNS}, primary key (event_id))`);
  await db.raw('create index plain_occurred_at_idx on plain (occurred_at, event_id)');
  await db.raw(`create table parted (${COLUMNS}, primary key (event_id, occurred_at)) partition by range (occurred_at)`);
  await db.raw('create index parted_occurred_at_idx on parted (occurred_at, event_id)');
  // The history's days, and today's partition for the stream (a real set-up creates them ahead, e.g. with pg_partman).
  for (let d = 0; d <= DAYS; d++) {
    const from = new Date(day0.getTime() + d * 86_400_000);
    const to = d === DAYS ? new Date(Date.now() + 86_400_000) : new Date(from.getTime() + 86_400_000);
    await db.raw(`create table parted_d${d} partition of parted for values from ('${from.toISOString()}') to ('${to.toISOString()}')`);
  }
  const fill = (table: string) =>
    db.raw(
      `insert into ${table} (event_id, topic, message_key, payload, headers, occurred_at, published_at)
       select md5('e' || i)::uuid, 'user.created', md5('k' || i), jsonb_build_object('eventId', md5('e' || i)::uuid, 'type', 'user.created', 'email', 'h' || i || '@example.test'),
              jsonb_build_object('id', md5('e' || i)::uuid), ?::timestamptz + (i::float8 / ?) * interval '${DAYS} days', ?::timestamptz + (i::float8 / ?) * interval '${DAYS} days'
         from generate_series(0, ? - 1) i`,
      [day0, rows, day0, rows, rows],
    );
  await fill('plain');
  await fill('parted');
  await db.raw('vacuum analyze plain, parted');
}

/** Stream-like inserts: transactions of INSERT_BATCH rows at the current time; rows/s. */
async function insertRate(db: Knex, table: string): Promise<number> {
  const ms = await timed(async () => {
    for (let i = 0; i < INSERT_ROWS; i += INSERT_BATCH) {
      await db.raw(
        `insert into ${table} (event_id, topic, message_key, payload) select gen_random_uuid(), 'user.created', 'k', '{"type":"user.created"}'::jsonb from generate_series(1, ?)`,
        [INSERT_BATCH],
      );
    }
  });
  return INSERT_ROWS / (ms / 1000);
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const rows = Math.max(100_000, Math.floor(ctx.config.benchPruneRows / 10));
  const u = new URL(ctx.config.databases.users);
  u.pathname = `/recon_b${randomUUID().replaceAll('-', '').slice(0, 10)}_parts`;
  const url = u.toString();
  await ensureDatabase(url);
  const db = connect(url, { max: 2, applicationName: 'recon-bench-parts' });
  const now = Date.now();
  const day0 = new Date(now - (now % 86_400_000) - DAYS * 86_400_000);
  try {
    const tSetup = await timed(() => setUp(db, rows, day0));
    ctx.log(`prune-partitions: ${rows} rows in each table in ${(tSetup / 1000).toFixed(0)} s`);

    const inserts: Record<string, number[]> = { plain: [], parted: [] };
    for (let r = 0; r < REPS; r++) for (const t of ['plain', 'parted']) inserts[t]!.push(await insertRate(db, t));

    // A check's window query: one hour in the middle of day 5.
    const hour = new Date(day0.getTime() + 5.5 * 86_400_000);
    const windowQuery = (t: string) =>
      db.raw(`select count(*), sum(hashtext(event_id::text)::bigint) from ${t} where occurred_at >= ? and occurred_at < ?`, [
        hour,
        new Date(hour.getTime() + 3600_000),
      ]);
    const windows: Record<string, number[]> = { plain: [], parted: [] };
    for (let r = 0; r < 15; r++) for (const t of ['plain', 'parted']) windows[t]!.push(await timed(() => windowQuery(t)));

    // Lookups by event id alone: 1000 ids spread over the history.
    const ids = (
      await db.raw<{ rows: { event_id: string }[] }>(`select md5('e' || i)::uuid as event_id from generate_series(0, ? - 1, ?) i`, [
        rows,
        Math.floor(rows / 1000),
      ])
    ).rows.map((r) => r.event_id);
    const lookups: Record<string, number[]> = { plain: [], parted: [] };
    for (let r = 0; r < 10; r++)
      for (const t of ['plain', 'parted'])
        lookups[t]!.push(await timed(() => db.raw(`select event_id, occurred_at from ${t} where event_id = any(?::uuid[])`, [ids])));
    const plan = (
      await db.raw<{ rows: { 'QUERY PLAN': string }[] }>(`explain select event_id from parted where event_id = any(?::uuid[])`, [ids.slice(0, 10)])
    ).rows.map((r) => r['QUERY PLAN']);
    const partitionsScanned = plan.filter((l) => /Index.*Scan.* on parted_d/.test(l)).length;

    // Prune day 0: batched deletes by primary key vs detach + drop.
    const dayEnd = new Date(day0.getTime() + 86_400_000);
    let longestBatch = 0;
    let batches = 0;
    const deleteMs = await timed(async () => {
      for (;;) {
        const t = performance.now();
        const { rowCount } = await db.raw<{ rowCount: number }>(
          `delete from plain where event_id = any(array(select event_id from plain where occurred_at < ? order by occurred_at, event_id limit 5000))`,
          [dayEnd],
        );
        longestBatch = Math.max(longestBatch, performance.now() - t);
        batches++;
        if ((rowCount ?? 0) < 5000) break;
      }
    });
    const detachMs = await timed(() => db.raw('alter table parted detach partition parted_d0 concurrently'));
    const dropMs = await timed(() => db.raw('drop table parted_d0'));
    const dayRows = Math.round(rows / DAYS);

    const r = (x: number) => x.toFixed(x >= 100 ? 0 : 2);
    const metrics = [
      { name: 'stream inserts, plain outbox', value: median(inserts.plain!), unit: 'rows/s' },
      { name: 'stream inserts, partitioned by day', value: median(inserts.parted!), unit: 'rows/s' },
      { name: 'window query (1 h), plain', value: median(windows.plain!), unit: 'ms' },
      { name: 'window query (1 h), partitioned', value: median(windows.parted!), unit: 'ms' },
      { name: 'lookup of 1000 event ids, plain', value: median(lookups.plain!), unit: 'ms' },
      { name: 'lookup of 1000 event ids, partitioned', value: median(lookups.parted!), unit: 'ms' },
      { name: `prune one day (${dayRows} rows): batched deletes`, value: deleteMs, unit: 'ms' },
      { name: 'prune one day: longest delete batch', value: longestBatch, unit: 'ms' },
      { name: 'prune one day: detach partition concurrently', value: detachMs, unit: 'ms' },
      { name: 'prune one day: drop the detached partition', value: dropMs, unit: 'ms' },
    ];
    const notes = [
      `${rows} rows in each table over ${DAYS} days (${dayRows} a day), generated by SQL; PostgreSQL ${(await db.raw<{ rows: { server_version: string }[] }>('show server_version')).rows[0]?.server_version}`,
      `inserts: ${INSERT_ROWS} rows in transactions of ${INSERT_BATCH}, medians of ${REPS}; plain ${inserts.plain!.map(r).join(', ')}, partitioned ${inserts.parted!.map(r).join(', ')} rows/s`,
      `window query: median of 15; lookups by event id: median of 10 (the partitioned table probes ${partitionsScanned} partition indexes per lookup: no partition key in the condition)`,
      `batched deletes: ${batches} batches of 5000 by primary key, each its own statement; detach concurrently takes SHARE UPDATE EXCLUSIVE on the parent (inserts go on) and waits for transactions that use it; drop takes ACCESS EXCLUSIVE on the detached table only`,
      'one run on a shared two-core machine while other people run tests and benchmarks: treat the figures as ratios',
    ];
    for (const m of metrics) ctx.log(`prune-partitions: ${m.name}: ${r(m.value)} ${m.unit}`);
    return { name: 'prune-partitions', metrics, notes };
  } finally {
    await db.destroy();
    await dropDatabase(url);
  }
}
