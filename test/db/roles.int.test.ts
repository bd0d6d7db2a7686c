import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRoles, connect, inspectRole, inspectRoles, roleUrl, type Knex, type RoleInspection } from '../../db/index.js';
import { createTestEnv, unusedPort, type TestEnv } from '../helpers/env.js';

describe('least-privilege roles: one definition for --roles, --print-grants and the inspection doctor uses', () => {
  let env: TestEnv;
  const opened: Knex[] = [];
  /** A pool connected as `role` to one of the test's databases. */
  const as = (role: string, database: 'users' | 'points' | 'recon') => {
    const db = connect(roleUrl(env.adminConfig.databases[database], role), { max: 1 });
    opened.push(db);
    return db;
  };
  const privileges = (found: RoleInspection['missing']) => found.map((f) => f.privilege);

  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true });
  });
  afterAll(async () => {
    await Promise.all(opened.map((db) => db.destroy()));
    await env?.cleanup();
  });

  it('each role has exactly what its purpose needs, and the reader sees other sessions', async () => {
    const roles = env.roles!;
    const inspections = await Promise.all([
      inspectRole(as(roles.reader, 'users'), 'users', 'reader'),
      inspectRole(as(roles.reader, 'points'), 'points', 'reader'),
      inspectRole(as(roles.writer, 'users'), 'users', 'writer'),
      inspectRole(as(roles.writer, 'points'), 'points', 'writer'),
      inspectRole(as(roles.owner, 'recon'), 'recon', 'owner'),
    ]);
    for (const i of inspections) {
      expect({ role: i.role, missing: i.missing, excess: i.excess, superuser: i.superuser }).toEqual({
        role: roles[i.purpose],
        missing: [],
        excess: [],
        superuser: false,
      });
    }
    expect(inspections.filter((i) => i.purpose === 'reader').every((i) => i.seesOtherSessions)).toBe(true);
  });

  it('the writer cannot UPDATE or DELETE the ledger (permission, not only the trigger), nor write users', async () => {
    const writer = as(env.roles!.writer, 'points');
    await expect(writer.raw('update point_ledger set amount = 0')).rejects.toMatchObject({ code: '42501' });
    await expect(writer.raw('delete from point_ledger')).rejects.toMatchObject({ code: '42501' });
    await expect(writer.raw("update outbox set topic = 'x'")).rejects.toMatchObject({ code: '42501' });
    await expect(as(env.roles!.writer, 'users').raw("insert into users (id, email) values (gen_random_uuid(), 'x@example.test')")).rejects.toMatchObject({
      code: '42501',
    });
    await expect(
      as(env.roles!.reader, 'points').raw(
        'insert into consumed_events (event_id, consumer_group, topic, kafka_partition, kafka_offset) values (gen_random_uuid(), $$g$$, $$t$$, 0, 0)',
      ),
    ).rejects.toMatchObject({ code: '42501' });
  });

  it('reports more than needed (UPDATE and DELETE on the ledger, every column of the outbox, createdb) and --roles takes it back', async () => {
    const writer = env.roles!.writer;
    await env.dbs.points.raw(`grant update, delete on point_ledger to "${writer}"`);
    await env.dbs.points.raw(`grant update on outbox to "${writer}"`);
    await env.dbs.points.raw(`alter role "${writer}" createdb`);
    const db = as(writer, 'points');
    const found = await inspectRole(db, 'points', 'writer');
    expect(found.missing).toEqual([]);
    expect(privileges(found.excess)).toEqual(expect.arrayContaining(['createdb', 'UPDATE, DELETE on point_ledger', 'UPDATE on outbox']));
    expect(found.excess.find((e) => e.privilege === 'UPDATE, DELETE on point_ledger')!.fix).toBe(`revoke update, delete on "point_ledger" from "${writer}"`);
    // The fix, applied by hand, converges; and so does --roles (it revokes table privileges before granting).
    await env.dbs.points.raw(found.excess.find((e) => e.privilege === 'UPDATE on outbox')!.fix);
    await env.dbs.points.raw(`alter role "${writer}" nocreatedb`);
    await applyRoles(env.adminConfig);
    expect(await inspectRole(db, 'points', 'writer')).toMatchObject({ missing: [], excess: [] });
  });

  it('reports what is missing: a SELECT-only role as reader lacks pg_read_all_stats and the migrations table; as writer, INSERT and the publication columns', async () => {
    const blind = await env.createRole('blind');
    await env.dbs.points.raw(`grant select on point_ledger, outbox, consumed_events, dead_letters to "${blind}"`);
    const db = as(blind, 'points');
    const asReader = await inspectRole(db, 'points', 'reader');
    expect(asReader.seesOtherSessions).toBe(false);
    expect(asReader.missing).toEqual([
      { privilege: 'membership of pg_read_all_stats (or pg_monitor)', fix: `grant pg_read_all_stats to "${blind}"` },
      { privilege: 'SELECT on recon_migrations', fix: `grant select on "recon_migrations" to "${blind}"` },
    ]);
    const asWriter = await inspectRole(db, 'points', 'writer');
    expect(privileges(asWriter.missing)).toEqual([
      'INSERT on point_ledger',
      'INSERT on outbox',
      'UPDATE of published_at, kafka_partition, kafka_offset on outbox',
      'SELECT on unpublished_events',
    ]);
    expect(asWriter.excess).toEqual([]);
    // pg_monitor includes pg_read_all_stats.
    await env.dbs.points.raw(`grant select on recon_migrations to "${blind}"; grant pg_monitor to "${blind}"`);
    expect(await inspectRole(db, 'points', 'reader')).toMatchObject({ seesOtherSessions: true, missing: [] });
  });

  it('an owner that does not own the recon database, and a superuser, are told so', async () => {
    const stranger = await env.createRole('stranger');
    const asOwner = await inspectRole(as(stranger, 'recon'), 'recon', 'owner');
    expect(privileges(asOwner.missing)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^ownership of the database /), 'SELECT, INSERT, UPDATE, DELETE on runs']),
    );
    const superuser = await inspectRole(env.dbs.points, 'points', 'writer');
    expect(superuser).toMatchObject({ superuser: true, seesOtherSessions: true, missing: [] });
    expect(privileges(superuser.excess)).toEqual(['superuser (every privilege, the ledger included)']);
  });

  it('inspectRoles judges every configured URL for its purpose, and names the URL that does not connect', async () => {
    const checks = await inspectRoles(env.config);
    expect(checks.map((c) => `${c.purpose}@${c.database}`)).toEqual(['reader@users', 'reader@points', 'writer@users', 'writer@points', 'owner@recon']);
    for (const c of checks) expect('inspection' in c && c.inspection.missing.length + c.inspection.excess.length).toBe(0);
    const port = await unusedPort();
    const down = { ...env.config.writerDatabases, points: env.config.writerDatabases.points!.replace(/:\d+\//, `:${port}/`) };
    const broken = await inspectRoles({ ...env.config, writerDatabases: down });
    expect(broken.find((c) => c.purpose === 'writer' && c.database === 'points')).toMatchObject({ error: expect.objectContaining({ code: 'ECONNREFUSED' }) });
  });
});
