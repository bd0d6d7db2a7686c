import type { Knex } from 'knex';

/**
 * Add amounts to users' balances in one statement. Amounts of the same user
 * are summed first (one upsert may not touch a row twice).
 */
export async function addToBalances(trx: Knex | Knex.Transaction, amounts: readonly { user_id: string; amount: number }[]): Promise<void> {
  if (amounts.length === 0) return;
  const perUser = new Map<string, number>();
  for (const a of amounts) perUser.set(a.user_id, (perUser.get(a.user_id) ?? 0) + a.amount);
  await trx.raw(
    `insert into user_balances as b (user_id, balance, updated_at)
     select u, a, now() from unnest(?::uuid[], ?::bigint[]) as x(u, a)
     on conflict (user_id) do update set balance = b.balance + excluded.balance, updated_at = excluded.updated_at`,
    [Array.from(perUser.keys()), Array.from(perUser.values())],
  );
}

/** Balances of the given users (absent users are absent from the map). */
export async function balancesOf(db: Knex | Knex.Transaction, userIds: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (userIds.length === 0) return out;
  const rows: { user_id: string; balance: number }[] = await db('user_balances')
    .select('user_id', 'balance')
    .whereRaw('user_id = any(?::uuid[])', [Array.from(userIds)]);
  for (const r of rows) out.set(r.user_id, Number(r.balance));
  return out;
}
