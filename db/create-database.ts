import pg from 'pg';
import { withDefaultUser } from './connections.js';

/** Split a Postgres URL into the server's maintenance URL and the database name. */
export function parseDatabaseUrl(url: string): { adminUrl: string; database: string } {
  const u = new URL(withDefaultUser(url));
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) throw new Error(`no database name in ${url}`);
  u.pathname = '/postgres';
  return { adminUrl: u.toString(), database };
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Create the database of `url` if it does not exist. Returns true when it created it. */
export async function ensureDatabase(url: string): Promise<boolean> {
  const { adminUrl, database } = parseDatabaseUrl(url);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (found.rowCount) return false;
    try {
      await client.query(`create database ${quoteIdent(database)}`);
      return true;
    } catch (err) {
      // Two processes migrating at once: the other one won the race.
      if ((err as { code?: string }).code === '42P04') return false;
      throw err;
    }
  } finally {
    await client.end();
  }
}

/** Drop the database of `url` (tests and `recon demo` clean up with it). */
export async function dropDatabase(url: string): Promise<void> {
  const { adminUrl, database } = parseDatabaseUrl(url);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`drop database if exists ${quoteIdent(database)} with (force)`);
  } finally {
    await client.end();
  }
}
