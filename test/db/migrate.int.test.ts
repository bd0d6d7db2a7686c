import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, dropDatabase, migrateAll } from '../../db/index.js';
import { testConfig } from '../helpers/env.js';

describe('recon migrate', () => {
  const config = testConfig();
  afterAll(async () => {
    await Promise.all(Object.values(config.databases).map((url) => dropDatabase(url)));
  });

  it('creates three fresh databases with their tables and window-key indexes, and a second run is a no-op', async () => {
    const first = await migrateAll(config);
    const onDisk = (db: string) =>
      readdirSync(join('db', 'migrations', db))
        .filter((f) => /^\d{4}_.*\.ts$/.test(f))
        .sort()
        .map((f) => f.replace(/\.ts$/, ''));
    expect(first.map((r) => [r.database, r.created, r.applied])).toEqual([
      ['users', true, onDisk('users')],
      ['points', true, onDisk('points')],
      ['recon', true, onDisk('recon')],
    ]);
    expect(onDisk('recon')).toContain('0002_discrepancy_generation');

    const expected = {
      users: {
        tables: ['users', 'outbox', 'user_balances', 'consumed_events', 'dead_letters'],
        indexed: [
          ['users', 'created_at'],
          ['outbox', 'occurred_at'],
        ],
      },
      points: {
        tables: ['point_ledger', 'consumed_events', 'outbox', 'dead_letters'],
        indexed: [
          ['point_ledger', 'user_created_at'],
          ['outbox', 'occurred_at'],
          ['consumed_events', 'consumer_group'],
        ],
      },
      recon: { tables: ['runs', 'run_windows', 'watermarks', 'discrepancies', 'reports'], indexed: [['runs', 'started_at']] },
    } as const;
    for (const [name, want] of Object.entries(expected)) {
      const db = connect(config.databases[name as keyof typeof expected], { max: 1 });
      try {
        const tables = await db('information_schema.tables').where({ table_schema: 'public' }).pluck('table_name');
        expect(tables).toEqual(expect.arrayContaining([...want.tables]));
        for (const [table, column] of want.indexed) {
          // The column must lead some index of the table: that is what makes a window query a range scan.
          const { rows } = await db.raw(
            `select i.relname from pg_index x
               join pg_class t on t.oid = x.indrelid join pg_class i on i.oid = x.indexrelid
               join pg_attribute a on a.attrelid = t.oid and a.attnum = x.indkey[0]
              where t.relname = ? and a.attname = ?`,
            [table, column],
          );
          expect(rows.length, `${name}.${table}(${column}) index`).toBeGreaterThan(0);
        }
      } finally {
        await db.destroy();
      }
    }

    const second = await migrateAll(config);
    expect(second.map((r) => [r.created, r.applied.length])).toEqual([
      [false, 0],
      [false, 0],
      [false, 0],
    ]);
  });

  it('keeps the ledger append-only', async () => {
    const db = connect(config.databases.points, { max: 1 });
    try {
      await db('point_ledger').insert({
        entry_id: '00000000-0000-4000-8000-000000000001',
        user_id: '00000000-0000-4000-8000-000000000002',
        amount: 1,
        reason: 'signup_bonus',
        user_created_at: new Date(),
      });
      await expect(db('point_ledger').update({ amount: 2 })).rejects.toThrow(/append-only/);
      await expect(db('point_ledger').delete()).rejects.toThrow(/append-only/);
    } finally {
      await db.destroy();
    }
  });
});
