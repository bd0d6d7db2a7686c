import { describe, expect, it } from 'vitest';
import { topicReadRange } from '../../../reconcile/index.js';

describe('topicReadRange', () => {
  it('reads from t0 − skew to t1 + grace + skew', () => {
    const w = { start: new Date('2026-12-01T10:00:00Z'), end: new Date('2026-12-01T11:00:00Z') };
    expect(topicReadRange({ graceSeconds: 300, clockSkewSeconds: 60 }, w)).toEqual({
      start: new Date('2026-12-01T09:59:00Z'),
      end: new Date('2026-12-01T11:06:00Z'),
    });
    expect(topicReadRange({ graceSeconds: 0, clockSkewSeconds: 0 }, w)).toEqual(w);
  });
});
