/** Keyset (cursor) pagination of the read side: pages, opaque cursors that keep Postgres microseconds. */
import type { Knex } from 'knex';

/** A page of a keyset-paginated listing; `nextCursor` is absent on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/**
 * Opaque cursor: the sort key of the last row of a page. The timestamp keeps
 * Postgres' microseconds (a JS Date would cut them to milliseconds and skip
 * rows stamped within the same millisecond).
 */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`, 'utf8').toString('base64url');
}

/** Decodes a cursor made by {@link encodeCursor}; `undefined` when it is not one. */
export function decodeCursor(cursor: string): { at: string; id: string } | undefined {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!at || !id || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(at) || !/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  return { at, id };
}

/** The full-precision UTC text of a timestamp column, for cursors. */
export function cursorColumn(db: Knex, column: string) {
  return db.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at`);
}

export type WithCursor<T> = T & { cursor_at?: string };

/** One more row than `limit` was fetched: its presence says whether a next page exists. */
export function page<T extends { id: string }>(rows: WithCursor<T>[], limit: number): Page<T> {
  const items = rows.slice(0, limit).map(({ cursor_at: _, ...row }) => row as unknown as T);
  if (rows.length <= limit) return { items };
  return { items, nextCursor: encodeCursor(rows[limit - 1]!.cursor_at!, rows[limit - 1]!.id) };
}
