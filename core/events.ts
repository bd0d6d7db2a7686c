/**
 * The two event shapes of DESIGN.md (fixed: other services produce and read
 * them), how we build them and how we decode them. Decoding never throws: it
 * returns a reason, which is what a dead letter carries.
 */
import { z } from 'zod';
import { isUuid } from './ids.js';
import type { PointGrantedEvent, UserCreatedEvent } from './types.js';

const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a UUID');
const isoTime = z.string().refine((v) => /^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(Date.parse(v)), 'must be an ISO-8601 timestamp');

const userCreatedSchema = z.object({
  eventId: uuid,
  type: z.literal('user.created'),
  schemaVersion: z.literal(1),
  occurredAt: isoTime,
  userId: uuid,
  email: z.string().min(3),
});

const pointGrantedSchema = z.object({
  eventId: uuid,
  type: z.literal('point.granted'),
  schemaVersion: z.literal(1),
  occurredAt: isoTime,
  userId: uuid,
  entryId: uuid,
  amount: z.number().int(),
  reason: z.string().min(1),
  userCreatedAt: isoTime,
});

/**
 * A decoded event, or why not. A message that is JSON with a valid `eventId`
 * but fails validation elsewhere still carries that id, so its dead letter can
 * be tied to its outbox event.
 */
export type DecodeResult<T> = { ok: true; event: T } | { ok: false; reason: string; eventId?: string };

function decode<T>(schema: z.ZodType<T>, value: Buffer | string | null | undefined): DecodeResult<T> {
  if (value === null || value === undefined) return { ok: false, reason: 'empty message value' };
  let json: unknown;
  try {
    json = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const reason = `invalid ${issue?.path.join('.') || 'value'}: ${issue?.message ?? 'schema mismatch'}`;
    const eventId = json !== null && typeof json === 'object' ? (json as { eventId?: unknown }).eventId : undefined;
    return isUuid(eventId) ? { ok: false, reason, eventId: eventId.toLowerCase() } : { ok: false, reason };
  }
  return { ok: true, event: parsed.data };
}

export const decodeUserCreated = (value: Buffer | string | null | undefined): DecodeResult<UserCreatedEvent> =>
  decode(userCreatedSchema as z.ZodType<UserCreatedEvent>, value);

export const decodePointGranted = (value: Buffer | string | null | undefined): DecodeResult<PointGrantedEvent> =>
  decode(pointGrantedSchema as z.ZodType<PointGrantedEvent>, value);

export function userCreatedEvent(e: { eventId: string; userId: string; email: string; occurredAt: Date }): UserCreatedEvent {
  return { eventId: e.eventId, type: 'user.created', schemaVersion: 1, occurredAt: e.occurredAt.toISOString(), userId: e.userId, email: e.email };
}

export function pointGrantedEvent(e: {
  eventId: string;
  userId: string;
  entryId: string;
  amount: number;
  reason: string;
  userCreatedAt: Date;
  occurredAt: Date;
}): PointGrantedEvent {
  return {
    eventId: e.eventId,
    type: 'point.granted',
    schemaVersion: 1,
    occurredAt: e.occurredAt.toISOString(),
    userId: e.userId,
    entryId: e.entryId,
    amount: e.amount,
    reason: e.reason,
    userCreatedAt: e.userCreatedAt.toISOString(),
  };
}
