/**
 * Root cause: the safe upper bound read `min(xact_start)` from `pg_stat_activity`, which shows a role without the privileges of `pg_read_all_stats` other roles' sessions with `xact_start` NULL; the horizon came back empty, the bound fell back to now − grace, and a window closed over a user still being written: a permanent false negative.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun, type RunDeps } from '../../batch/index.js';
import { ReconError, silentLogger, type Config } from '../../core/index.js';
import { closeDatabases, connect, connectDatabases, roleUrl, type Databases, type Knex } from '../../db/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';
import { hoursAgo, insertGrants, insertUsers, spread } from '../helpers/drift.js';

const GRACE = 2;

async function serverNow(db: Knex): Promise<Date> {
  const { rows } = await db.raw<{ rows: { now: Date }[] }>('select clock_timestamp() as now');
  return rows[0]!.now;
}

describe('a SELECT-only role that cannot see other sessions', () => {
  let env: TestEnv;
  let blindDbs: Databases;
  let blindConfig: Config;
  let service: Knex;

  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true, env: { RECON_WINDOW_SECONDS: '3600', RECON_GRACE_SECONDS: String(GRACE) } });
    // The user service's own role: it writes users.
    const writer = await env.createRole('service');
    await env.dbs.users.raw(`grant select, insert on users, outbox to "${writer}"`);
    service = connect(roleUrl(env.adminConfig.databases.users, writer), { max: 1 });
    // recon's checks as a role with SELECT on everything they read, and no statistics role.
    const blind = await env.createRole('blind');
    await env.dbs.users.raw(`grant select on users, outbox, consumed_events, dead_letters to "${blind}"`);
    await env.dbs.points.raw(`grant select on point_ledger, outbox, consumed_events, dead_letters to "${blind}"`);
    blindConfig = {
      ...env.config,
      databases: { ...env.config.databases, users: roleUrl(env.adminConfig.databases.users, blind), points: roleUrl(env.adminConfig.databases.points, blind) },
    };
    blindDbs = connectDatabases(blindConfig, { max: 2 });
    const history = await insertUsers(env.dbs.users, spread(hoursAgo(2), 3600_000, 10));
    await insertGrants(env.dbs.points, history, env.config.signupBonusPoints);
  });
  afterAll(async () => {
    await service?.destroy();
    if (blindDbs) await closeDatabases(blindDbs);
    await env?.cleanup();
  });

  it('fails the run naming pg_read_all_stats instead of closing a window over an open writer; the reader role holds the bound', async () => {
    const watermark = async () =>
      ((await env.dbs.recon('watermarks').where({ check_name: 'users-vs-points' }).first('watermark')) as { watermark: Date } | undefined)?.watermark;
    const trx = await service.transaction();
    try {
      const user = randomUUID();
      const [{ created_at: createdAt }] = (await trx.raw('insert into users (id, email) values (?, ?) returning created_at', [user, `${user}@example.test`]))
        .rows as [{ created_at: Date }];
      await waitFor(
        'the open transaction to pass the grace',
        async () => (await serverNow(env.dbs.users)).getTime() > createdAt.getTime() + GRACE * 1000 + 1500,
        {
          intervalMs: 200,
        },
      );

      const blindDeps: RunDeps = { config: blindConfig, dbs: blindDbs, log: silentLogger };
      const failed = await executeRun(blindDeps, { checks: ['users-vs-points'], trigger: 'test' }).then(
        () => undefined,
        (err: unknown) => err,
      );
      // Before the fix the run completed and its watermark passed the open user for good.
      expect(await watermark()).toBeUndefined();
      expect(failed).toBeInstanceOf(ReconError);
      expect(failed).toMatchObject({ code: 'MISSING_PRIVILEGE', retryable: false });
      expect((failed as Error).message).toMatch(/cannot see other sessions' transaction starts.*grant pg_read_all_stats \(or pg_monitor\)/);
      const run = (await env.dbs.recon('runs').orderBy('started_at', 'desc').first()) as { status: string; error: string | null } | undefined;
      expect(run?.status).toBe('failed');
      expect(run?.error).toMatch(/pg_read_all_stats/);

      // The documented reader (with pg_read_all_stats) sees the writer and stops before it.
      const held = await executeRun({ config: env.config, dbs: env.app, log: silentLogger }, { checks: ['users-vs-points'], trigger: 'test' });
      expect(held.status).toBe('completed');
      expect((await watermark())!.getTime()).toBeLessThan(createdAt.getTime());

      // It commits with no grant: the next run reports it.
      await trx.commit();
      const after = await executeRun({ config: env.config, dbs: env.app, log: silentLogger }, { checks: ['users-vs-points'], trigger: 'test' });
      expect(after.counts['users-vs-points']).toEqual({ missing_grant: 1 });
      expect(await env.dbs.recon('discrepancies').where({ entity_id: user }).pluck('kind')).toEqual(['missing_grant']);
    } finally {
      if (!trx.isCompleted()) await trx.rollback();
    }
  });
});
