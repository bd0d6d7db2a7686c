import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_REASONS, grantEntryId, revocationEntryId, type DiscrepancyKind } from '../../../core/index.js';
import { appendLedgerEntries, getDiscrepancies, type DiscrepancyRow } from '../../../db/index.js';
import { compensate, type CompensationOutcome, type MessageSender } from '../../../reconcile/index.js';
import { seededRandom } from '../../../streaming/index.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';
import { extraEntry, insertUsers, record, streamGrant } from '../../helpers/compensation-fixtures.js';

const noSends: MessageSender = {
  send: () => Promise.reject(new Error('no message is sent by a ledger compensation')),
};

/**
 * Every kind of ledger compensation (missing, orphan, excess), executed many
 * times at once for the same users, with generations mixed as reopens leave
 * them, beside the stream writing its grants: whatever the interleaving, the
 * invariants hold by SQL afterwards and a second round changes nothing.
 */
describe('ledger compensations racing each other', () => {
  let env: TestEnv;
  const B = 1000;
  const PER_STATE = 8;
  const EXECUTIONS = 12;
  beforeAll(async () => {
    env = await createTestEnv({ topics: false, pool: { max: 16 } });
  });
  afterAll(async () => env?.cleanup());

  const deps = () => ({ dbs: env.dbs, config: env.config, producer: noSends });

  async function revoke(users: readonly string[], createdAt: Date, amount: number) {
    await env.dbs.points.transaction((trx) =>
      appendLedgerEntries(
        trx,
        users.map((u) => ({
          entry_id: revocationEntryId(u, 'setup'),
          user_id: u,
          amount: -amount,
          reason: LEDGER_REASONS.revocation,
          user_created_at: createdAt,
          source: 'compensation',
        })),
        { pointGrantedTopic: env.topics.pointGranted },
      ),
    );
  }

  it('leave every committed user at exactly B and every orphan at 0, with one event per entry', async () => {
    const seed = Number(process.env.RACE_SEED ?? Date.now() % 100_000);
    const rnd = seededRandom(seed); // seeded, so a failure can be replayed
    const topic = env.topics.pointGranted;
    const committed = await insertUsers(env.dbs, PER_STATE * 5);
    const createdAt = committed.createdAt;
    const [none, revoked, doubled, more, fine] = Array.from({ length: 5 }, (_, i) => committed.ids.slice(i * PER_STATE, (i + 1) * PER_STATE)) as string[][];
    const orphans = Array.from({ length: PER_STATE * 3 }, () => randomUUID());
    const [orphanOnce, orphanTwice, orphanRevoked] = Array.from({ length: 3 }, (_, i) => orphans.slice(i * PER_STATE, (i + 1) * PER_STATE)) as string[][];

    // Ledger states: none (missing), granted then revoked (missing, re-grant), B + B and B + B + B/2 (excess), B (fine);
    // orphans with B, B + B, and B revoked already.
    await streamGrant(env.dbs, topic, [...revoked!, ...doubled!, ...more!, ...fine!, ...orphans], createdAt);
    await revoke([...revoked!, ...orphanRevoked!], createdAt, B);
    for (const u of [...doubled!, ...more!, ...orphanTwice!]) await extraEntry(env.dbs, topic, u, createdAt, B);
    for (const u of more!) await extraEntry(env.dbs, topic, u, createdAt, B / 2);

    const everyone = [...committed.ids, ...orphans];
    const kinds: DiscrepancyKind[] = ['missing_grant', 'orphan_grant', 'excess_grant'];
    const found = await record(
      env.dbs,
      everyone.flatMap((u) => kinds.map((kind) => ({ kind, entityId: u }))),
    );
    const rows = await getDiscrepancies(
      env.dbs.recon,
      found.map((f) => f.id),
    );
    // Each execution: every row, in its own order, at a generation between 0 and 3 (jobs of several reopens in flight at once).
    const executions = Array.from({ length: EXECUTIONS }, () =>
      rows
        .map((r): DiscrepancyRow => ({ ...r, generation: Math.floor(rnd() * 4) }))
        .map((r) => ({ r, k: rnd() }))
        .sort((a, b) => a.k - b.k)
        .map(({ r }) => r),
    );
    const entriesBefore = await ledgerCount();
    const [outcomes] = await Promise.all([
      Promise.all(executions.map((rs) => compensate(deps(), rs))),
      // The stream delivering its grants at the same moment (same entry ids as the compensations' grants).
      streamGrant(env.dbs, topic, committed.ids, createdAt),
    ]);
    const all = outcomes.flat();
    expect(
      all.filter((o) => o.result === 'retry'),
      `seed ${seed}`,
    ).toEqual([]);

    await expectInvariants(committed.ids, orphans, seed);
    // Missing users got one grant (stream's or compensation's, one id) or one re-grant; each excess one revocation; each orphan with a net one.
    const grew = (await ledgerCount()) - entriesBefore;
    expect(grew, `seed ${seed}`).toBe(none!.length + revoked!.length + doubled!.length + more!.length + orphanOnce!.length + orphanTwice!.length);
    expect(await grantIdsOf(none!)).toEqual(new Set(none!.map(grantEntryId)));

    // Every failure is a kind that does not fit the user (a missing grant for an orphan, an excess for a user at or below B), never a race.
    for (const o of all.filter((x): x is Extract<CompensationOutcome, { result: 'failed' }> => x.result === 'failed')) {
      expect(o.reason, `seed ${seed}`).toMatch(/has no committed user|below|above/);
    }

    // A second round finds every invariant holding: it writes nothing.
    const again = (await Promise.all(executions.slice(0, 3).map((rs) => compensate(deps(), rs)))).flat();
    expect(again.filter((o) => o.result === 'resolved' && o.effect)).toEqual([]);
    expect(again.filter((o) => o.result === 'retry')).toEqual([]);
    expect(await ledgerCount()).toBe(entriesBefore + grew);
    await expectInvariants(committed.ids, orphans, seed);
  });

  async function ledgerCount(): Promise<number> {
    const [row] = await env.dbs.points('point_ledger').count({ n: '*' });
    return Number(row!.n);
  }

  async function grantIdsOf(users: readonly string[]): Promise<Set<string>> {
    const ids: string[] = await env.dbs.points('point_ledger').whereIn('user_id', users).pluck('entry_id');
    return new Set(ids);
  }

  async function expectInvariants(committed: readonly string[], orphans: readonly string[], seed: number) {
    const { rows: nets } = await env.dbs.points.raw<{ rows: { user_id: string; net: number }[] }>(
      `select user_id, sum(amount)::int as net from point_ledger
        where user_id = any(?::uuid[]) and reason in ('signup_bonus', 'signup_bonus_revocation') group by user_id`,
      [[...committed, ...orphans]],
    );
    const net = new Map(nets.map((n) => [n.user_id, n.net]));
    expect(
      committed.filter((u) => net.get(u) !== B),
      `committed users not at B (seed ${seed})`,
    ).toEqual([]);
    expect(
      orphans.filter((u) => (net.get(u) ?? 0) !== 0),
      `orphans not at 0 (seed ${seed})`,
    ).toEqual([]);
    // Each ledger entry has exactly one point.granted event, and no event announces an entry that is not there.
    const { rows: unmatched } = await env.dbs.points.raw<{ rows: { n: number }[] }>(
      `select count(*)::int as n from point_ledger l full join outbox o on (o.payload->>'entryId')::uuid = l.entry_id
        where l.entry_id is null or o.event_id is null`,
    );
    expect(unmatched[0]!.n, `entries without their event (seed ${seed})`).toBe(0);
    const { rows: dup } = await env.dbs.points.raw<{ rows: { n: number }[] }>(
      `select count(*)::int as n from (select payload->>'entryId' from outbox group by 1 having count(*) > 1) d`,
    );
    expect(dup[0]!.n).toBe(0);
  }
});
