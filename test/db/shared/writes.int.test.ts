import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discrepancyId, grantEntryId } from '../../../core/index.js';
import {
  appendLedgerEntries,
  getDiscrepancies,
  netSignupAmounts,
  recordDiscrepancies,
  setDiscrepancyStatus,
  type DiscrepancyInput,
} from '../../../db/index.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';

describe('shared write paths converge by idempotency', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ topics: false });
  });
  afterAll(async () => env?.cleanup());

  it('appends a grant and its point.granted event once, however often it is written', async () => {
    const userId = randomUUID();
    const entry = { entry_id: grantEntryId(userId), user_id: userId, amount: 1000, reason: 'signup_bonus', user_created_at: new Date(), source: 'stream' };
    const first = await env.dbs.points.transaction((trx) => appendLedgerEntries(trx, [entry], { pointGrantedTopic: env.topics.pointGranted }));
    const second = await env.dbs.points.transaction((trx) =>
      appendLedgerEntries(trx, [{ ...entry, source: 'compensation' }], { pointGrantedTopic: env.topics.pointGranted }),
    );
    expect(first).toHaveLength(1);
    expect(second).toHaveLength(0);
    expect(await env.dbs.points('point_ledger').where({ user_id: userId }).count({ n: '*' })).toEqual([{ n: 1 }]);
    const outbox = await env.dbs.points('outbox').where({ message_key: userId });
    expect(outbox).toHaveLength(1);
    expect(outbox[0].topic).toBe(env.topics.pointGranted);
    expect(outbox[0].payload).toMatchObject({ type: 'point.granted', userId, entryId: entry.entry_id, amount: 1000 });
    expect(outbox[0].headers).toEqual({ id: outbox[0].event_id });
    expect((await netSignupAmounts(env.dbs.points, [userId])).get(userId)).toBe(1000);
  });

  it('records a discrepancy once, and reopens it only when a resolved or failed one shows up again', async () => {
    const userId = randomUUID();
    const d: DiscrepancyInput = {
      id: discrepancyId('users-vs-points', 'missing_grant', userId),
      check_name: 'users-vs-points',
      kind: 'missing_grant',
      entity_type: 'user',
      entity_id: userId,
      window_start: new Date('2026-01-01T00:00:00Z'),
      window_end: new Date('2026-01-01T01:00:00Z'),
      details: { userId },
    };
    const run1 = randomUUID();
    const run2 = randomUUID();
    expect(await recordDiscrepancies(env.dbs.recon, run1, [d])).toEqual([{ id: d.id, kind: 'missing_grant', generation: 0, inserted: true }]);
    expect(await recordDiscrepancies(env.dbs.recon, run2, [d])).toEqual([]);
    await setDiscrepancyStatus(env.dbs.recon, [d.id], 'queued');
    expect(await recordDiscrepancies(env.dbs.recon, run2, [d])).toEqual([]);
    expect((await getDiscrepancies(env.dbs.recon, [d.id]))[0]).toMatchObject({ status: 'queued', first_run_id: run1, last_run_id: run2 });
    await setDiscrepancyStatus(env.dbs.recon, [d.id], 'resolved');
    expect(await recordDiscrepancies(env.dbs.recon, run2, [d])).toEqual([{ id: d.id, kind: 'missing_grant', generation: 1, inserted: false }]);
    const [row] = await getDiscrepancies(env.dbs.recon, [d.id]);
    expect(row?.status).toBe('detected');
    expect(row?.generation).toBe(1);
    expect(row?.resolved_at).toBeInstanceOf(Date);

    // A compensation that failed (its attempts ran out during an outage) is tried again when a later run still finds it.
    await setDiscrepancyStatus(env.dbs.recon, [d.id], 'failed', { error: 'broker down' });
    expect(await recordDiscrepancies(env.dbs.recon, run2, [d])).toEqual([{ id: d.id, kind: 'missing_grant', generation: 2, inserted: false }]);
    expect((await getDiscrepancies(env.dbs.recon, [d.id]))[0]).toMatchObject({ status: 'detected', generation: 2 });
  });
});
