import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import type { Config } from '../core/index.js';
import { connect, type DatabaseName } from './connections.js';
import { ensureDatabase } from './create-database.js';

const MIGRATIONS_ROOT = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
// `.js` once compiled into dist/; the recorded name has no extension either way.
const MIGRATION_FILE = /^\d{4}_[a-z0-9_-]+\.[jt]s$/;

/** The table knex records each database's applied migrations in (one row per migration, by name). */
export const MIGRATIONS_TABLE = 'recon_migrations';

/**
 * Migrations are numbered files `NNNN_name.ts` in `db/migrations/<database>/`,
 * append-only: a released migration is never edited, a new one is added.
 */
class FolderMigrationSource implements Knex.MigrationSource<string> {
  constructor(private readonly dir: string) {}
  async getMigrations(): Promise<string[]> {
    return (await readdir(this.dir)).filter((f) => MIGRATION_FILE.test(f)).sort();
  }
  getMigrationName(file: string): string {
    return file.replace(/\.[jt]s$/, '');
  }
  async getMigration(file: string): Promise<Knex.Migration> {
    return (await import(pathToFileURL(join(this.dir, file)).href)) as Knex.Migration;
  }
}

/** The names of the migrations the code ships for `name` (as knex records them, without extension), in order. */
export async function shippedMigrations(name: DatabaseName): Promise<string[]> {
  const source = new FolderMigrationSource(join(MIGRATIONS_ROOT, name));
  return (await source.getMigrations()).map((f) => source.getMigrationName(f));
}

export interface MigrationResult {
  database: DatabaseName;
  url: string;
  created: boolean;
  applied: string[];
}

/** Apply the pending migrations of one database through an existing handle. */
export async function migrateDatabase(db: Knex, name: DatabaseName): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({
    migrationSource: new FolderMigrationSource(join(MIGRATIONS_ROOT, name)),
    tableName: MIGRATIONS_TABLE,
  })) as [number, string[]];
  return applied;
}

/**
 * Create any missing database of `config` and migrate all three. Safe to run
 * twice (the second run applies nothing) and from two processes at once
 * (knex's migration lock serialises them).
 */
export async function migrateAll(config: Pick<Config, 'databases'>): Promise<MigrationResult[]> {
  const results: MigrationResult[] = [];
  for (const name of ['users', 'points', 'recon'] as const) {
    const url = config.databases[name];
    const created = await ensureDatabase(url);
    const db = connect(url, { max: 2, applicationName: 'recon-migrate' });
    try {
      results.push({ database: name, url, created, applied: await migrateDatabase(db, name) });
    } finally {
      await db.destroy();
    }
  }
  return results;
}
