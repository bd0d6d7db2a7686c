/**
 * Regression: a grant keyed at another time than its user (a foreign producer whose `occurredAt` is not the user's `created_at`) was a
 * `missing_grant` in the user's window and an `orphan_grant` in the grant's, on every re-check, for ever (each compensation resolved without
 * an effect, and the next re-check reopened both). Root cause: the classification matched users and ledger entries by user id only within
 * the ranges it compared, never looking the other half up by id.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun, type RunDeps } from '../../batch/index.js';
import { grantEntryId, silentLogger, type DiscrepancyKind } from '../../core/index.js';
import { getDiscrepancies } from '../../db/index.js';
import { compensate, type MessageSender } from '../../reconcile/index.js';
import { createTestEnv, type TestEnv } from '../helpers/env.js';
import { hoursAgo, insertGrants, insertUsers, spread } from '../helpers/drift.js';

const B = 1000;
const noSends: MessageSender = { send: () => Promise.reject(new Error('no message is sent by a ledger compensation')) };

describe('a grant keyed at another time than its user', () => {
  let env: TestEnv;
  let deps: RunDeps;
  const queued: { id: string; kind: DiscrepancyKind }[] = [];
  const userTime = hoursAgo(6);
  const foreignTime = hoursAgo(3);
  const range = { from: hoursAgo(7), to: hoursAgo(1) };

  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true, env: { RECON_WINDOW_SECONDS: '3600', RECON_GRACE_SECONDS: '60', SIGNUP_BONUS_POINTS: String(B) } });
    deps = { config: env.config, dbs: env.app, log: silentLogger, enqueue: async (rows) => void queued.push(...rows) };
  });
  afterAll(async () => env?.cleanup());

  /** A signup entry of `amount` for `user`, keyed at `at` (what the point service writes for an event whose occurredAt is `at`). */
  async function grantAt(user: string, at: Date, amount = B, entryId = grantEntryId(user)) {
    await env.dbs.points.raw(`insert into point_ledger (entry_id, user_id, amount, reason, user_created_at) values (?, ?, ?, 'signup_bonus', ?)`, [
      entryId,
      user,
      amount,
      at,
    ]);
  }

  const rows = async (kind?: DiscrepancyKind) => {
    const q = env.dbs.recon('discrepancies').select('id', 'kind', 'entity_id', 'status', 'generation', 'details');
    return (await (kind ? q.where({ kind }) : q)) as {
      id: string;
      kind: DiscrepancyKind;
      entity_id: string;
      status: string;
      generation: number;
      details: Record<string, unknown>;
    }[];
  };

  it('is reported once as grant_key_mismatch, compensated never, and re-checks record nothing new; real drift beside it is still found', async () => {
    const clean = await insertUsers(env.dbs.users, spread(userTime, 3 * 3600_000, 40));
    await insertGrants(env.dbs.points, clean, B);
    const [foreign] = await insertUsers(env.dbs.users, [new Date(userTime.getTime() + 600_000).toISOString()]);
    await grantAt(foreign!.id, new Date(foreignTime.getTime() + 600_000));
    // Beside it, real drift in the same two windows: a user without a grant, and a grant without a user.
    const [missing] = await insertUsers(env.dbs.users, [new Date(userTime.getTime() + 900_000).toISOString()]);
    const orphan = randomUUID();
    await grantAt(orphan, new Date(foreignTime.getTime() + 900_000));

    const first = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test' });
    expect(first.counts['users-vs-points']).toEqual({ grant_key_mismatch: 1, missing_grant: 1, orphan_grant: 1 });
    const [mismatch] = await rows('grant_key_mismatch');
    expect(mismatch).toMatchObject({ entity_id: foreign!.id, status: 'detected' });
    expect(mismatch!.details).toMatchObject({ net: B, expected: B, ledgerKeys: [new Date(foreignTime.getTime() + 600_000).toISOString()] });
    expect(new Set((await rows('missing_grant')).map((r) => r.entity_id))).toEqual(new Set([missing!.id]));
    expect(new Set((await rows('orphan_grant')).map((r) => r.entity_id))).toEqual(new Set([orphan]));
    // Report only: the mismatch is not queued.
    expect(queued.map((q) => q.kind).sort()).toEqual(['missing_grant', 'orphan_grant']);

    // Re-checks of both windows find the same three: nothing new, nothing reopened, nothing queued.
    const before = await rows();
    for (let i = 0; i < 2; i++) {
      const again = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test', ...range });
      expect(again.counts['users-vs-points']).toEqual({ grant_key_mismatch: 1, missing_grant: 1, orphan_grant: 1 });
      expect(again.queued).toEqual([]);
    }
    expect(await rows()).toEqual(before);
  });

  it('a second grant keyed elsewhere is an excess as well: revoked once, after which only the mismatch is left', async () => {
    const [user] = await insertUsers(env.dbs.users, [new Date(userTime.getTime() + 1_200_000).toISOString()]);
    // The stream's grant at the user's time, and a foreign producer's second one (another event, another entry) hours later.
    await grantAt(user!.id, new Date(user!.createdAt));
    await grantAt(user!.id, new Date(foreignTime.getTime() + 1_200_000), B, randomUUID());

    const run = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test', ...range });
    expect(run.counts['users-vs-points']).toMatchObject({ excess_grant: 1, grant_key_mismatch: 2 });
    const excess = (await rows('excess_grant')).find((r) => r.entity_id === user!.id)!;
    expect(excess.details).toMatchObject({ net: 2 * B, expected: B });
    const outcomes = await compensate({ dbs: env.app, config: env.config, producer: noSends }, await getDiscrepancies(env.dbs.recon, [excess.id]));
    expect(outcomes).toEqual([{ id: excess.id, result: 'resolved', effect: true }]);

    // The revocation lands at the user's time: that window now nets 0 there and B elsewhere, which is B in all, so only the mismatch remains.
    const after = await executeRun(deps, { checks: ['users-vs-points'], trigger: 'test', ...range });
    expect(after.counts['users-vs-points']).toEqual({ grant_key_mismatch: 2, missing_grant: 1, orphan_grant: 1 });
    expect(after.queued).toEqual([]);
  });
});
