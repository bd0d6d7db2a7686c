/**
 * Root cause: `isRetryable` did not know `25006` (read-only transaction, as during a failover) nor `57014` (statement
 * timeout), so the consumer took them for poison and dead-lettered good messages; and a connection opened while the
 * database refused writes stayed read-only after it accepted them again, so even a retry on it could never succeed.
 * (The last case guards that a transient condition outlasting every retry of a batch still never stops the consumer
 * for good, now that a permanent failure does.)
 */
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDefaultUser } from '../../db/index.js';
import { createUsersOutbox, startConsumers, startRelay, type ConsumersProcess, type RelayProcess } from '../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';

describe('a transient Postgres condition on the consumer database', () => {
  let env: TestEnv;
  let relay: RelayProcess;
  let consumers: ConsumersProcess;
  let pointsDb: string;
  const lines: string[] = [];
  const count = async (table: string) => Number((await env.dbs.points(table).count({ n: '*' }))[0]!.n);
  /** Sessions opened from now on get `setting`; the open ones are terminated (the server restarts them, as in a failover). */
  const setAndTerminate = async (setting: string) => {
    await env.dbs.recon.raw(`alter database "${pointsDb}" set ${setting}`);
    await env.dbs.recon.raw('select pg_terminate_backend(pid) from pg_stat_activity where datname = ?', [pointsDb]);
  };
  const dltMessages = async () => (await env.admin.fetchTopicOffsets(env.topics.userCreatedDlt)).reduce((n, p) => n + Number(p.high), 0);

  beforeAll(async () => {
    env = await createTestEnv();
    pointsDb = new URL(env.config.databases.points).pathname.slice(1);
    relay = await startRelay(env.config);
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    consumers = await startConsumers(env.config, { groups: ['point-service'], log });
    await createUsersOutbox({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, 5);
    await waitFor('the first grants', async () => (await count('point_ledger')) === 5, { timeoutMs: 60_000 });
  });
  afterAll(async () => {
    await consumers?.stop();
    await relay?.stop();
    await env?.cleanup();
  });

  it('read-only for a while (a failover): good messages wait and are applied, none is dead-lettered', async () => {
    await setAndTerminate('default_transaction_read_only = on');
    try {
      await createUsersOutbox({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, 5);
      await waitFor('the consumer to meet the read-only database', () => lines.some((l) => l.includes('read-only transaction')), { timeoutMs: 60_000 });
    } finally {
      // Writable again; the sessions opened meanwhile are left open, still read-only: the consumer must not reuse them.
      await env.dbs.recon.raw(`alter database "${pointsDb}" set default_transaction_read_only = off`);
    }
    await waitFor('each message granted or dead-lettered', async () => (await count('point_ledger')) + (await count('dead_letters')) >= 10, {
      timeoutMs: 90_000,
    });
    expect(await count('dead_letters')).toBe(0);
    expect(await count('point_ledger')).toBe(10);
    expect(await dltMessages()).toBe(0);
  });

  it('statement timeouts behind a lock: good messages wait and are applied, none is dead-lettered', async () => {
    lines.length = 0;
    await setAndTerminate("statement_timeout = '300ms'");
    const holder = new pg.Client({ connectionString: withDefaultUser(env.config.databases.points) });
    await holder.connect();
    try {
      // Blocks the ledger inserts: each one is cancelled by the statement timeout.
      await holder.query('begin');
      await holder.query('lock table point_ledger in share mode');
      await createUsersOutbox({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, 5);
      await waitFor('the consumer to time out', () => lines.some((l) => l.includes('statement timeout')), { timeoutMs: 60_000 });
    } finally {
      await holder.end();
      await env.dbs.recon.raw(`alter database "${pointsDb}" reset statement_timeout`);
    }
    await waitFor('each message granted or dead-lettered', async () => (await count('point_ledger')) + (await count('dead_letters')) >= 15, {
      timeoutMs: 90_000,
    });
    expect(await count('dead_letters')).toBe(0);
    expect(await count('point_ledger')).toBe(15);
    expect(await dltMessages()).toBe(0);
  });
  it('longer than every retry of the batch: kafkajs restarts the consumer (not stopped for good), and the messages are applied', async () => {
    lines.length = 0;
    await setAndTerminate("statement_timeout = '300ms'");
    const holder = new pg.Client({ connectionString: withDefaultUser(env.config.databases.points) });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('lock table point_ledger in share mode');
      await createUsersOutbox({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, 5);
      await waitFor('kafkajs to restart the consumer', () => lines.some((l) => l.includes('kafkajs restarts it')), { timeoutMs: 90_000 });
    } finally {
      await holder.end();
      await env.dbs.recon.raw(`alter database "${pointsDb}" reset statement_timeout`);
    }
    await waitFor('each message granted or dead-lettered', async () => (await count('point_ledger')) + (await count('dead_letters')) >= 20, {
      timeoutMs: 90_000,
    });
    expect(await count('dead_letters')).toBe(0);
    expect(await count('point_ledger')).toBe(20);
    expect(lines.some((l) => l.includes('stopped for good'))).toBe(false);
    expect(consumers.health()[0]).toMatchObject({ state: 'running' });
  });
});
