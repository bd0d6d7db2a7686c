import { describe, expect, it } from 'vitest';
import { discrepancyEvent, discrepancyUserId, planCompensationBatches } from '../../../reconcile/index.js';
import type { DiscrepancyKind } from '../../../core/index.js';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('compensation planning', () => {
  it('cuts compensable discrepancies into batches of one kind, in id order, skipping reported kinds', () => {
    const found: { id: string; kind: DiscrepancyKind; generation?: number }[] = [
      ...[5, 3, 1, 4, 2].map((n) => ({ id: id(n), kind: 'missing_grant' as const })),
      { id: id(9), kind: 'orphan_grant', generation: 2 },
      { id: id(8), kind: 'phantom_event' },
      { id: id(7), kind: 'dead_lettered_event' },
    ];
    const batches = planCompensationBatches(found, 2);
    expect(batches).toEqual([
      {
        kind: 'missing_grant',
        items: [
          { id: id(1), generation: 0 },
          { id: id(2), generation: 0 },
        ],
      },
      {
        kind: 'missing_grant',
        items: [
          { id: id(3), generation: 0 },
          { id: id(4), generation: 0 },
        ],
      },
      { kind: 'missing_grant', items: [{ id: id(5), generation: 0 }] },
      { kind: 'orphan_grant', items: [{ id: id(9), generation: 2 }] },
    ]);
    // The same set in another order makes the same batches (and so the same job ids).
    expect(planCompensationBatches([...found].reverse(), 2)).toEqual(batches);
  });

  it('reads the entity of a discrepancy from its entity id, not from its details', () => {
    expect(discrepancyUserId({ entity_id: id(1) })).toBe(id(1));
    expect(discrepancyUserId({ entity_id: 'users:x' })).toBeUndefined();
    expect(discrepancyEvent({ entity_id: `users:${id(2)}`, details: { eventId: id(3) } })).toEqual({ eventId: id(2), sourceDb: 'users', group: undefined });
    expect(discrepancyEvent({ entity_id: `points:ns.user-service-balances:${id(2)}`, details: {} })).toEqual({
      eventId: id(2),
      sourceDb: 'points',
      group: 'ns.user-service-balances',
    });
    expect(discrepancyEvent({ entity_id: `users:${id(2)}`, details: { group: 'point-service' } })?.group).toBe('point-service');
    expect(discrepancyEvent({ entity_id: `kafka:${id(2)}`, details: {} })).toBeUndefined();
  });
});
