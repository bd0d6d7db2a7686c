import type { Knex } from 'knex';

export interface UserRow {
  id: string;
  email: string;
  /** The writing transaction's start (see {@link transactionStart}), never a client clock. */
  created_at: Date;
}

/**
 * `now()` of the transaction: constant within it, and the clock the batch
 * layer's safe upper bound is measured against (a window key must never be
 * earlier than the start of the transaction that wrote it).
 */
export async function transactionStart(trx: Knex.Transaction): Promise<Date> {
  const { rows } = await trx.raw<{ rows: { now: Date }[] }>('select now() as now');
  return rows[0]!.now;
}

/** Insert users in one statement. */
export async function insertUsers(trx: Knex | Knex.Transaction, rows: readonly UserRow[]): Promise<void> {
  if (rows.length === 0) return;
  await trx.raw(
    `insert into users (id, email, created_at)
     select * from unnest(?::uuid[], ?::text[], ?::timestamptz[])`,
    [rows.map((r) => r.id), rows.map((r) => r.email), rows.map((r) => r.created_at)],
  );
}

/** Users by id (tests, the load generator's checks). */
export async function countUsers(db: Knex | Knex.Transaction): Promise<number> {
  const [row] = await db('users').count<{ count: number }[]>({ count: '*' });
  return Number(row?.count ?? 0);
}

/** `created_at` of the users that exist, by id (users DB). Absent ids have no committed user. */
export async function usersCreatedAtById(db: Knex | Knex.Transaction, userIds: readonly string[]): Promise<Map<string, Date>> {
  const out = new Map<string, Date>();
  if (userIds.length === 0) return out;
  const { rows } = await db.raw<{ rows: { id: string; created_at: Date }[] }>('select id, created_at from users where id = any(?::uuid[])', [
    Array.from(userIds),
  ]);
  for (const r of rows) out.set(r.id, r.created_at);
  return out;
}

/** One user row by id (the console's evidence), or `undefined` when no committed user has it. */
export async function userById(db: Knex | Knex.Transaction, id: string): Promise<UserRow | undefined> {
  return (await db('users').select('id', 'email', 'created_at').where({ id }).first()) as UserRow | undefined;
}
