/** Fixtures of the compensation tests: users, ledger entries, outbox rows and discrepancies written directly by SQL. */
import { randomUUID } from 'node:crypto';
import { CHECK_NAMES, LEDGER_REASONS, discrepancyId, grantEntryId, type CheckName, type DiscrepancyKind } from '../../core/index.js';
import { appendLedgerEntries, recordDiscrepancies, type Databases, type DiscrepancyInput } from '../../db/index.js';

/** Insert `n` committed users; returns their ids and creation time. */
export async function insertUsers(dbs: Databases, n: number): Promise<{ ids: string[]; createdAt: Date }> {
  const ids = Array.from({ length: n }, () => randomUUID());
  const { rows } = await dbs.users.raw<{ rows: { created_at: Date }[] }>(
    `insert into users (id, email) select id, id::text || '@example.test' from unnest(?::uuid[]) as t(id) returning created_at`,
    [ids],
  );
  return { ids, createdAt: rows[0]?.created_at ?? new Date() };
}

/** Write ledger entries the way the stream does (source `stream`), in one transaction. */
export async function streamGrant(dbs: Databases, pointGrantedTopic: string, users: readonly string[], createdAt: Date, amount = 1000): Promise<number> {
  const inserted = await dbs.points.transaction((trx) =>
    appendLedgerEntries(
      trx,
      users.map((u) => ({ entry_id: grantEntryId(u), user_id: u, amount, reason: LEDGER_REASONS.grant, user_created_at: createdAt, source: 'stream' })),
      { pointGrantedTopic },
    ),
  );
  return inserted.length;
}

/** An extra ledger entry (not the deterministic grant): how an excess looks. */
export async function extraEntry(dbs: Databases, pointGrantedTopic: string, user: string, createdAt: Date, amount: number): Promise<void> {
  await dbs.points.transaction((trx) =>
    appendLedgerEntries(trx, [{ entry_id: randomUUID(), user_id: user, amount, reason: LEDGER_REASONS.grant, user_created_at: createdAt, source: 'stream' }], {
      pointGrantedTopic,
    }),
  );
}

export const checkOf = (kind: DiscrepancyKind): CheckName =>
  kind === 'missing_grant' || kind === 'orphan_grant' || kind === 'excess_grant' ? CHECK_NAMES.usersVsPoints : CHECK_NAMES.outboxVsConsumed;

/** Record discrepancies as a run would (status `detected`); returns what `recordDiscrepancies` returns. */
export async function record(dbs: Databases, found: { kind: DiscrepancyKind; entityId: string; details?: Record<string, unknown> }[]) {
  const now = new Date();
  const inputs: DiscrepancyInput[] = found.map((f) => ({
    id: discrepancyId(checkOf(f.kind), f.kind, f.entityId),
    check_name: checkOf(f.kind),
    kind: f.kind,
    entity_type: checkOf(f.kind) === CHECK_NAMES.usersVsPoints ? 'user' : 'event',
    entity_id: f.entityId,
    window_start: new Date(now.getTime() - 3600_000),
    window_end: now,
    details: f.details ?? {},
  }));
  return recordDiscrepancies(dbs.recon, randomUUID(), inputs);
}

/** Ledger rows and point.granted outbox rows of `users` (SQL on the real tables). */
export async function effects(dbs: Databases, users: readonly string[]): Promise<{ entries: number; events: number; nets: Map<string, number> }> {
  const { rows } = await dbs.points.raw<{ rows: { user_id: string; n: number; net: number }[] }>(
    'select user_id, count(*)::int as n, sum(amount)::int as net from point_ledger where user_id = any(?::uuid[]) group by user_id',
    [Array.from(users)],
  );
  const { rows: ev } = await dbs.points.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from outbox where payload->>'userId' = any(?::text[])`, [
    Array.from(users),
  ]);
  return { entries: rows.reduce((s, r) => s + r.n, 0), events: ev[0]?.n ?? 0, nets: new Map(rows.map((r) => [r.user_id, r.net])) };
}

/** An unpublished user.created outbox row in the users DB; returns its event id. */
export async function unpublishedUserEvent(dbs: Databases, topic: string, userId: string): Promise<string> {
  const eventId = randomUUID();
  const payload = { eventId, type: 'user.created', schemaVersion: 1, occurredAt: new Date().toISOString(), userId, email: `${userId}@example.test` };
  await dbs
    .users('outbox')
    .insert({ event_id: eventId, topic, message_key: userId, payload: JSON.stringify(payload), headers: JSON.stringify({ id: eventId }) });
  return eventId;
}

export async function statuses(dbs: Databases, ids: readonly string[]): Promise<Map<string, { status: string; last_error: string | null }>> {
  const rows: { id: string; status: string; last_error: string | null }[] = await dbs
    .recon('discrepancies')
    .select('id', 'status', 'last_error')
    .whereRaw('id = any(?::uuid[])', [Array.from(ids)]);
  return new Map(rows.map((r) => [r.id, { status: r.status, last_error: r.last_error }]));
}
