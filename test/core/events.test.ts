import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodePointGranted, decodeUserCreated, userCreatedEvent } from '../../core/index.js';

describe('decoding events', () => {
  it('decodes a valid user.created event', () => {
    const e = userCreatedEvent({ eventId: randomUUID(), userId: randomUUID(), email: 'a@example.test', occurredAt: new Date() });
    expect(decodeUserCreated(JSON.stringify(e))).toEqual({ ok: true, event: e });
  });

  it('keeps a valid eventId when another field fails validation', () => {
    const eventId = randomUUID();
    const bad = { ...userCreatedEvent({ eventId, userId: randomUUID(), email: 'a@example.test', occurredAt: new Date() }), userId: 'user-42' };
    expect(decodeUserCreated(JSON.stringify(bad))).toEqual({ ok: false, reason: 'invalid userId: must be a UUID', eventId });
    expect(decodePointGranted(JSON.stringify({ eventId: eventId.toUpperCase(), type: 'point.granted' }))).toMatchObject({ ok: false, eventId });
  });

  it('carries no event id when there is no valid one', () => {
    expect(decodeUserCreated('{not json')).not.toHaveProperty('eventId');
    expect(decodeUserCreated('{"eventId": "nope"}')).not.toHaveProperty('eventId');
    expect(decodeUserCreated('[1, 2]')).not.toHaveProperty('eventId');
    expect(decodeUserCreated('null')).not.toHaveProperty('eventId');
    expect(decodeUserCreated(null)).toEqual({ ok: false, reason: 'empty message value' });
  });
});
