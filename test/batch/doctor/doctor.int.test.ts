/**
 * `recon doctor` against the real services: a correct set-up passes (with at
 * most warnings), and each broken one fails the check that names it, with
 * the fix: a database URL that does not connect or does not answer, a role
 * that cannot see other sessions, a missing later migration, a dropped
 * window index, a topic with the
 * wrong partition count and a missing dead-letter topic, a broker that does
 * not answer. Redis has its own file (it needs a server of its own).
 */
import { createServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDoctorContext, doctorChecks, doctorExitCode, runDoctor, type DoctorResult } from '../../../batch/index.js';
import { namespaced, TOPIC_PARTITIONS, type Config } from '../../../core/index.js';
import { connect, shippedMigrations } from '../../../db/index.js';
import { ensureTopics, startConsumers, type ConsumersProcess } from '../../../streaming/index.js';
import { createTestEnv, testConfig, unusedPort, waitFor, type TestEnv } from '../../helpers/env.js';

async function doctor(config: Config, timeoutMs = 8000): Promise<Map<string, DoctorResult>> {
  const ctx = createDoctorContext(config, { timeoutMs });
  try {
    return new Map((await runDoctor(doctorChecks(config), ctx)).map((r) => [r.name, r]));
  } finally {
    await ctx.close();
  }
}

const withDatabase = (config: Config, name: 'users' | 'points' | 'recon', url: string): Config => ({
  ...config,
  databases: { ...config.databases, [name]: url },
});

describe('recon doctor on a correct set-up', () => {
  let env: TestEnv;
  let consumers: ConsumersProcess;

  beforeAll(async () => {
    // recon's own URLs name the least-privilege roles; the consumers are the point service and use its credentials.
    env = await createTestEnv({ roles: true });
    consumers = await startConsumers(env.adminConfig);
    const groups = env.config.subscriptions.map((s) => namespaced(env.config, s.group));
    await waitFor('both consumer groups to be stable', async () => {
      const { groups: described } = await env.admin.describeGroups(groups);
      return described.every((g) => g.state === 'Stable' && g.members.length > 0);
    });
  });
  afterAll(async () => {
    await consumers?.stop();
    await env?.cleanup();
  });

  it('passes every check but persistence (the shared Redis keeps nothing on disk), and measures small clock skews', async () => {
    // A consumer that missed a heartbeat on a busy machine makes its group rebalance for a moment: the group
    // check still passes then, but names the passing state; wait for a run that finds the group settled.
    const results = await waitFor(
      'a doctor run with the point-service group stable',
      async () => {
        const r = await doctor(env.config);
        return r.get('kafka.groups')?.detail.includes(`${namespaced(env.config, 'point-service')}: Stable`) ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    const statuses = Object.fromEntries([...results].map(([name, r]) => [name, r.status]));
    expect(statuses).toEqual({
      'users.connect': 'pass',
      'users.session-visibility': 'pass',
      'users.commit-timestamps': 'pass',
      'users.window-indexes': 'pass',
      'users.clock': 'pass',
      'users.wal-level': 'pass',
      'users.replication-slots': 'pass',
      'users.outbox-retention': 'pass',
      'users.work-list-vacuum': 'pass',
      'points.connect': 'pass',
      'points.session-visibility': 'pass',
      'points.commit-timestamps': 'pass',
      'points.window-indexes': 'pass',
      'points.clock': 'pass',
      'points.wal-level': 'pass',
      'points.replication-slots': 'pass',
      'points.outbox-retention': 'pass',
      'points.work-list-vacuum': 'pass',
      'recon.connect': 'pass',
      'recon.clock': 'pass',
      'users.reader-privileges': 'pass',
      'points.reader-privileges': 'pass',
      'users.writer-privileges': 'pass',
      'points.writer-privileges': 'pass',
      'recon.owner-privileges': 'pass',
      'kafka.connect': 'pass',
      'kafka.topics': 'pass',
      'kafka.groups': 'pass',
      'kafka.clock': 'pass',
      'redis.connect': 'pass',
      'redis.eviction': 'pass',
      'redis.persistence': results.get('redis.persistence')!.status === 'pass' ? 'pass' : 'warn',
    });
    expect(doctorExitCode([...results.values()])).toBe(0);
    // The window queries read through the window indexes (an empty table is planned as a bitmap or index scan of them).
    expect(results.get('users.window-indexes')!.detail).toMatch(/users: .*users_created_at_idx/);
    expect(results.get('points.window-indexes')!.detail).toMatch(/point_ledger: .*point_ledger_window_idx/);
    expect(results.get('kafka.groups')!.detail).toContain(`${namespaced(env.config, 'point-service')}: Stable`);
    // Every server here runs on this host's clock: the measured skews are tiny, and so are their bounds.
    for (const name of ['users.clock', 'points.clock', 'recon.clock', 'kafka.clock']) {
      const { skewMs, errorMs } = results.get(name)!.measured!;
      expect(Math.abs(skewMs!), name).toBeLessThan(1000);
      expect(errorMs, name).toBeLessThan(1000);
    }
  });

  it('fails the window-index check of the database whose window index was dropped, with the statement that recreates it', async () => {
    await env.dbs.users.raw('drop index users_created_at_idx');
    try {
      const results = await doctor(env.config);
      const users = results.get('users.window-indexes')!;
      expect(users.status).toBe('fail');
      expect(users.detail).toMatch(/missing: an index on users \(created_at\)/);
      expect(users.detail).toMatch(/users: Seq Scan/);
      expect(users.fix).toBe('create index concurrently users_created_at_idx on users (created_at, id);');
      expect(results.get('points.window-indexes')!.status).toBe('pass');
      expect(doctorExitCode([...results.values()])).toBe(1);
    } finally {
      await env.dbs.users.raw('create index users_created_at_idx on users (created_at, id)');
    }
  });

  it('fails the window-index check when the dead letters lose their index on the dead-lettering time', async () => {
    await env.dbs.points.raw('drop index dead_letters_at_idx');
    try {
      const points = (await doctor(env.config)).get('points.window-indexes')!;
      expect(points.status).toBe('fail');
      expect(points.detail).toMatch(/missing: an index on dead_letters \(dead_lettered_at\)/);
      expect(points.fix).toBe('create index concurrently dead_letters_at_idx on dead_letters (dead_lettered_at);');
    } finally {
      await env.dbs.points.raw('create index dead_letters_at_idx on dead_letters (dead_lettered_at)');
    }
  });

  it('fails the connect check of a database that lacks a later migration, naming it, although every table is there', async () => {
    const last = await env.dbs.points('recon_migrations').orderBy('id', 'desc').first();
    // The newest migration the code ships for the points database (whichever it is today).
    expect(last.name).toBe((await shippedMigrations('points')).at(-1));
    await env.dbs.points('recon_migrations').where({ id: last.id }).delete();
    try {
      const results = await doctor(env.config);
      const points = results.get('points.connect')!;
      expect(points.status).toBe('fail');
      expect(points.detail.endsWith(`lacks the migrations ${last.name}`)).toBe(true);
      expect(points.fix).toBe('run `recon migrate`');
      expect(results.get('users.connect')!.status).toBe('pass');
    } finally {
      await env.dbs.points('recon_migrations').insert(last);
    }
  });
});

describe('recon doctor on broken set-ups', () => {
  const envs: TestEnv[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    for (const e of envs.splice(0)) await e.cleanup();
  });

  it('fails each database that does not connect, naming the URL without its password and the fix, within the time bound', async () => {
    const env = await createTestEnv({ topics: false });
    envs.push(env);
    // A server that accepts connections and never answers: a hung database.
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      sockets.forEach((s) => s.destroy());
      await new Promise((resolve) => silent.close(resolve));
    });
    const missingDb = new URL(env.config.databases.users);
    missingDb.pathname = `/${missingDb.pathname.slice(1)}_missing`;
    let config = withDatabase(env.config, 'users', missingDb.toString());
    config = withDatabase(config, 'points', `postgres://recon:s3cret@127.0.0.1:${await unusedPort()}/recon_points`);
    config = withDatabase(config, 'recon', `postgres://recon@127.0.0.1:${(silent.address() as { port: number }).port}/recon_batch`);

    const started = Date.now();
    const results = await doctor(config, 2000);
    expect(Date.now() - started).toBeLessThan(15_000);

    const users = results.get('users.connect')!;
    expect(users.status).toBe('fail');
    expect(users.detail).toContain(`database "${missingDb.pathname.slice(1)}" does not exist`);
    expect(users.fix).toMatch(/run `recon migrate`.*USERS_DATABASE_URL/);
    const points = results.get('points.connect')!;
    expect(points.status).toBe('fail');
    expect(points.detail).toContain('postgres://recon:***@127.0.0.1:');
    expect(points.detail).not.toContain('s3cret');
    expect(points.fix).toMatch(/start Postgres, or correct host and port in POINTS_DATABASE_URL/);
    const recon = results.get('recon.connect')!;
    expect(recon.status).toBe('fail');
    expect(recon.detail).toMatch(/^Postgres at postgres:\/\/recon@127\.0\.0\.1:\d+\/recon_batch \(RECON_DATABASE_URL\) did not answer within 2 s$/);
    for (const name of ['users.session-visibility', 'users.window-indexes', 'users.clock', 'points.clock', 'recon.clock']) {
      expect(results.get(name)).toMatchObject({ status: 'fail', detail: `not checked: ${name.split('.')[0]}.connect failed` });
    }
    // The services that do answer are still checked.
    expect(results.get('kafka.connect')!.status).toBe('pass');
    expect(results.get('redis.eviction')!.status).toBe('pass');
  });

  it("fails session visibility for a role that cannot see other sessions' transaction starts, naming the grant", async () => {
    const env = await createTestEnv({ topics: false });
    envs.push(env);
    const role = `recon_doctor_${env.config.namespace!.replace(/\W/g, '_')}`;
    await env.dbs.users.raw(`create role ${role} login`);
    cleanups.push(async () => {
      await env.dbs.users.raw(`drop role if exists ${role}`);
    });
    const url = new URL(env.config.databases.users);
    url.username = role;
    const config = withDatabase(env.config, 'users', url.toString());

    const before = (await doctor(config)).get('users.session-visibility')!;
    expect(before.status).toBe('fail');
    expect(before.detail).toContain(`${role} sees only its own sessions in pg_stat_activity`);
    expect(before.fix).toBe(`grant pg_read_all_stats to ${role};  (or pg_monitor)`);

    // What the check promises: with the grant, the role sees the start of another role's open transaction.
    await env.dbs.users.raw(`grant pg_read_all_stats to ${role}`);
    expect((await doctor(config)).get('users.session-visibility')!).toMatchObject({
      status: 'pass',
      detail: `${role} has pg_read_all_stats: sees every session's transaction start`,
    });
    const asRole = connect(url.toString(), { max: 1 });
    try {
      await env.dbs.users.transaction(async (trx) => {
        await trx.raw('select 1');
        const { rows } = await asRole.raw<{ rows: { n: number }[] }>(
          'select count(*)::int as n from pg_stat_activity where datname = current_database() and xact_start is not null and pid <> pg_backend_pid() and usename <> current_user',
        );
        expect(rows[0]!.n).toBeGreaterThan(0);
      });
    } finally {
      await asRole.destroy();
    }
  });

  it("judges each URL's role against its purpose: too few privileges fail, more than needed warn, superuser warns", async () => {
    const env = await createTestEnv({ topics: false, roles: true });
    envs.push(env);
    const { reader, writer } = env.roles!;
    // The points reader cannot read the ledger (the check would fail), the points writer may rewrite it.
    await env.dbs.points.raw(`revoke select on point_ledger from "${reader}"`);
    await env.dbs.points.raw(`grant update, delete on point_ledger to "${writer}"`);
    const results = await doctor(env.config);
    expect(results.get('points.reader-privileges')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('lacks SELECT on point_ledger'),
      fix: expect.stringContaining(`grant select on "point_ledger" to "${reader}"`),
    });
    expect(results.get('points.writer-privileges')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('UPDATE, DELETE on point_ledger'),
      fix: expect.stringContaining(`revoke update, delete on "point_ledger" from "${writer}"`),
    });
    expect(results.get('users.reader-privileges')!.status).toBe('pass');
    expect(doctorExitCode([...results.values()])).toBe(1);
    // Recon's code connecting as a superuser works, but is not least privilege.
    expect((await doctor(env.adminConfig)).get('recon.owner-privileges')).toMatchObject({ status: 'warn', detail: expect.stringContaining('superuser') });
  });

  it('fails the topic check on a wrong partition count and a missing dead-letter topic, and warns of groups never started', async () => {
    const env = await createTestEnv({ topics: false });
    envs.push(env);
    await ensureTopics(env.admin, [env.topics.userCreated], 3);
    await ensureTopics(env.admin, [env.topics.pointGranted, env.topics.userCreatedDlt], TOPIC_PARTITIONS);

    const results = await doctor(env.config);
    const topics = results.get('kafka.topics')!;
    expect(topics.status).toBe('fail');
    expect(topics.detail).toBe(`${env.topics.pointGrantedDlt} is missing; ${env.topics.userCreated} has 3 partitions, recon needs 6`);
    expect(topics.fix).toMatch(/^run `recon migrate`.*recreate .*user\.created with 6 partitions/);
    const groups = results.get('kafka.groups')!;
    expect(groups.status).toBe('warn');
    expect(groups.detail).toContain(`${namespaced(env.config, 'point-service')} is unknown to the broker (never started)`);
    expect(groups.fix).toMatch(/recon stream consume/);
  });

  it('fails Kafka within the time bound when no broker answers, and does not run the checks that need it', async () => {
    const config = testConfig({ KAFKA_BROKERS: `127.0.0.1:${await unusedPort()}` });
    const started = Date.now();
    const results = await doctor(config, 3000);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(results.get('kafka.connect')).toMatchObject({ status: 'fail', fix: expect.stringMatching(/recon services up.*KAFKA_BROKERS/) });
    expect(results.get('kafka.connect')!.detail).toMatch(/^Kafka at 127\.0\.0\.1:\d+ \(KAFKA_BROKERS\)/);
    for (const name of ['kafka.topics', 'kafka.groups', 'kafka.clock']) {
      expect(results.get(name)).toMatchObject({ status: 'fail', detail: 'not checked: kafka.connect failed' });
    }
  });
});
