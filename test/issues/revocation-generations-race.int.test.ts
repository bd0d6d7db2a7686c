/**
 * Regression: two executions of one revocation (a reopen between a job's read and its write) both revoked, so a committed user netted 0, and
 * that user could never be repaired. Root cause: the revocation read the net in one snapshot and appended in another transaction, with an
 * entry id keyed on the generation read at job start; and `missing_grant` only ever wrote the stream's grant id, which existed already.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_REASONS, grantEntryId, ledgerStateDiscriminator, regrantEntryId, revocationEntryId } from '../../core/index.js';
import { appendLedgerEntries, getDiscrepancies, type DiscrepancyRow } from '../../db/index.js';
import { compensate, type MessageSender } from '../../reconcile/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';
import { effects, extraEntry, insertUsers, record, streamGrant } from '../helpers/compensation-fixtures.js';

/** Ledger compensations never produce: a send here is a bug. */
const noSends: MessageSender = {
  send: () => Promise.reject(new Error('no message is sent by a ledger compensation')),
};

describe('two executions of a revocation with different generations', () => {
  let env: TestEnv;
  const B = 1000;
  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true, pool: { max: 8 } });
  });
  afterAll(async () => env?.cleanup());

  const deps = () => ({ dbs: env.app, config: env.config, producer: noSends });

  async function ledgerOf(user: string) {
    const rows: { entry_id: string; amount: number; reason: string }[] = await env.dbs
      .points('point_ledger')
      .where({ user_id: user })
      .select('entry_id', 'amount', 'reason');
    return rows;
  }

  it('revoke the excess once, even when both read the ledger before either writes', async () => {
    const { ids, createdAt } = await insertUsers(env.dbs, 1);
    const user = ids[0]!;
    await streamGrant(env.dbs, env.topics.pointGranted, [user], createdAt);
    await extraEntry(env.dbs, env.topics.pointGranted, user, createdAt, B);
    const [found] = await record(env.dbs, [{ kind: 'excess_grant', entityId: user }]);
    const [row] = await getDiscrepancies(env.dbs.recon, [found!.id]);
    // The job of generation 0 read its row; the discrepancy was reopened meanwhile, and the job of generation 1 read it too.
    const executions: DiscrepancyRow[] = [row!, { ...row!, generation: row!.generation + 1 }];

    // Hold every ledger insert back until both executions have read what they read and wait to write.
    const gate = await env.dbs.points.transaction();
    await gate.raw('lock table point_ledger in share row exclusive mode');
    const running = Promise.all(executions.map((r) => compensate(deps(), [r])));
    const waiting = async () =>
      (
        await env.dbs.points.raw<{ rows: { n: number }[] }>(
          "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        )
      ).rows[0]!.n;
    await waitFor('both executions to wait on a lock', async () => (await waiting()) >= 2, { timeoutMs: 20_000 });
    await gate.commit();
    const outcomes = (await running).flat();

    expect(outcomes.map((o) => o.result)).toEqual(['resolved', 'resolved']);
    expect(outcomes.filter((o) => o.result === 'resolved' && o.effect)).toHaveLength(1);
    const e = await effects(env.dbs, [user]);
    expect(e.nets.get(user)).toBe(B);
    const revocations = (await ledgerOf(user)).filter((l) => l.reason === LEDGER_REASONS.revocation);
    expect(revocations).toEqual([{ entry_id: revocationEntryId(user, ledgerStateDiscriminator(2)), amount: -B, reason: LEDGER_REASONS.revocation }]);
  });

  it('a committed user whose grant was revoked is granted again, once', async () => {
    const { ids, createdAt } = await insertUsers(env.dbs, 1);
    const user = ids[0]!;
    // What the race above left behind: the stream's grant and a revocation of all of it.
    await streamGrant(env.dbs, env.topics.pointGranted, [user], createdAt);
    await env.dbs.points.transaction((trx) =>
      appendLedgerEntries(
        trx,
        [
          {
            entry_id: revocationEntryId(user, 'earlier'),
            user_id: user,
            amount: -B,
            reason: LEDGER_REASONS.revocation,
            user_created_at: createdAt,
            source: 'compensation',
          },
        ],
        { pointGrantedTopic: env.topics.pointGranted },
      ),
    );
    const [found] = await record(env.dbs, [{ kind: 'missing_grant', entityId: user }]);
    const rows = await getDiscrepancies(env.dbs.recon, [found!.id]);

    const [first, again] = [await compensate(deps(), rows), await compensate(deps(), rows)];
    expect(first).toEqual([{ id: found!.id, result: 'resolved', effect: true }]);
    expect(again).toEqual([{ id: found!.id, result: 'resolved', effect: false }]);
    const e = await effects(env.dbs, [user]);
    expect(e.nets.get(user)).toBe(B);
    // grant, revocation, re-grant: each with its point.granted event.
    expect(e.entries).toBe(3);
    expect(e.events).toBe(3);
    const regrant = (await ledgerOf(user)).find((l) => l.entry_id !== grantEntryId(user) && l.reason === LEDGER_REASONS.grant);
    expect(regrant).toEqual({ entry_id: regrantEntryId(user, ledgerStateDiscriminator(2)), amount: B, reason: LEDGER_REASONS.grant });
  });
});
