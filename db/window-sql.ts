/**
 * The SQL of the batch layer's checks: per-segment checksums and leaf rows
 * over windows of window-key values.
 *
 * Every query here reads through an index range scan `key >= start and
 * key < end` on its table's window index (never a full scan). A query can
 * take several disjoint ranges at once (the segments of one bisection level
 * that differ), joined from `unnest` so each range is one index range scan
 * and the whole level is one round trip.
 *
 * Checksums are order-independent: a count and a sum of a 32-bit hash of the
 * id (`uuid_hash`, computed from the uuid's bytes, no text conversion). Sums
 * come back as text and are compared as bigint in JavaScript: they can exceed
 * 2^53.
 */
import type { Knex } from 'knex';
import type { Window } from '../core/index.js';

export type Db = Knex | Knex.Transaction;

/**
 * Rows of `table` whose window key lies in one of `ranges`, as a FROM clause
 * exposing `r(s, e)` (the range of each row) and `alias` (the row, with
 * `columns`). One range: a one-row subquery of constants, which the planner
 * folds into the index condition. Several: each range is a LATERAL subquery
 * fenced by `offset 0`, so it stays a parameterised index range scan per
 * range; as a plain join the planner, blind to how narrow the ranges are, may
 * prefer walking another index of the whole table in group order.
 * `extra` is a further condition on the row (written with `alias`), and its
 * bindings follow the ranges'.
 */
export function inRanges(
  ranges: readonly Window[],
  table: string,
  alias: string,
  key: string,
  columns: readonly string[],
  extra = '',
): { sql: string; bindings: Knex.Value[] } {
  if (ranges.length === 1) {
    const [only] = ranges;
    return {
      sql: `(select ?::timestamptz as s, ?::timestamptz as e) r join ${table} ${alias} on ${alias}.${key} >= r.s and ${alias}.${key} < r.e ${extra}`,
      bindings: [only!.start, only!.end],
    };
  }
  return {
    sql: `unnest(?::timestamptz[], ?::timestamptz[]) r(s, e)
          cross join lateral (select ${columns.join(', ')} from ${table} ${alias}
                              where ${alias}.${key} >= r.s and ${alias}.${key} < r.e ${extra} offset 0) ${alias}`,
    bindings: [ranges.map((w) => w.start.toISOString()), ranges.map((w) => w.end.toISOString())],
  };
}

/**
 * Run a window query with JIT compilation off. The planner cannot see how
 * narrow a window is, so its estimates can pass the JIT thresholds; compiling
 * then costs more (tens to hundreds of milliseconds) than the scan it speeds
 * up. `set local` needs a transaction: a read-only one, three short round trips.
 */
export async function noJit<T>(db: Db, query: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  const run = async (trx: Knex.Transaction) => {
    await trx.raw('set local jit = off');
    return query(trx);
  };
  return db.isTransaction ? run(db as Knex.Transaction) : (db as Knex).transaction(run, { readOnly: true });
}

/** One segment's checksum row: segment start and the end of the range it was cut from. */
export interface SegmentKey {
  seg: Date;
  range_end: Date;
}
