/**
 * The codec of discrepancy entity ids: the checks that write a discrepancy
 * encode what it is about with it, and the compensation handlers that act on
 * it decode it (the entity id is authoritative; `details` are for people).
 * The id is part of the deterministic discrepancy id, so its format is fixed:
 *
 * - `user`: the user id (`<uuid>`);
 * - `event`: `<sourceDb>:<eventId>` (unpublished) or
 *   `<sourceDb>:<group>:<eventId>` (about one consumer group);
 * - `dead_letter`: `<consumerDb>:dead_letter:<dead_letters.id>`.
 */
import { isUuid } from './ids.js';
import type { EntityType } from './kinds.js';
import { SOURCE_DATABASES, type SourceDatabase } from './types.js';

export type EntityRef =
  | { type: 'user'; userId: string }
  | { type: 'event'; sourceDb: SourceDatabase; eventId: string; group?: string }
  | { type: 'dead_letter'; consumerDb: SourceDatabase; deadLetterId: number };

export function encodeEntity(ref: EntityRef): { entity_type: EntityType; entity_id: string } {
  switch (ref.type) {
    case 'user':
      return { entity_type: 'user', entity_id: ref.userId };
    case 'event':
      return { entity_type: 'event', entity_id: ref.group === undefined ? `${ref.sourceDb}:${ref.eventId}` : `${ref.sourceDb}:${ref.group}:${ref.eventId}` };
    case 'dead_letter':
      return { entity_type: 'dead_letter', entity_id: `${ref.consumerDb}:dead_letter:${ref.deadLetterId}` };
  }
}

const isSourceDatabase = (value: string | undefined): value is SourceDatabase => (SOURCE_DATABASES as readonly (string | undefined)[]).includes(value);

/** A user discrepancy's user id (lower case), or undefined when the entity id is not one. */
export function decodeUserEntity(entityId: string): Extract<EntityRef, { type: 'user' }> | undefined {
  return isUuid(entityId) ? { type: 'user', userId: entityId.toLowerCase() } : undefined;
}

/** An event discrepancy's source database, event id and (when it names one) consumer group. */
export function decodeEventEntity(entityId: string): Extract<EntityRef, { type: 'event' }> | undefined {
  const parts = entityId.split(':');
  const [sourceDb] = parts;
  const eventId = parts[parts.length - 1];
  if (parts.length < 2 || !isSourceDatabase(sourceDb) || !isUuid(eventId)) return undefined;
  const ref = { type: 'event' as const, sourceDb, eventId: eventId.toLowerCase() };
  return parts.length >= 3 ? { ...ref, group: parts.slice(1, -1).join(':') } : ref;
}

/** A dead-letter discrepancy's consuming database and `dead_letters` row id. */
export function decodeDeadLetterEntity(entityId: string): Extract<EntityRef, { type: 'dead_letter' }> | undefined {
  const m = /^([a-z]+):dead_letter:(\d+)$/.exec(entityId);
  return m && isSourceDatabase(m[1]) ? { type: 'dead_letter', consumerDb: m[1], deadLetterId: Number(m[2]) } : undefined;
}
