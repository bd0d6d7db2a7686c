import { describe, expect, it } from 'vitest';
import { FaultInjector, keyPartition, NO_FAULT, seededRandom } from '../../streaming/index.js';

describe('fault injection', () => {
  it('is off by default', () => {
    const f = new FaultInjector();
    expect(f.enabled).toBe(false);
    expect(f.decide('direct')).toBe(NO_FAULT);
  });

  it('draws rollback, lose and duplicate exclusively, at about their rates, reproducibly', () => {
    const draw = () => {
      const f = new FaultInjector({ rollback: 0.1, lose: 0.2, duplicate: 0.3, poison: 0.05, seed: 42 });
      return Array.from({ length: 20_000 }, () => f.decide('direct'));
    };
    const decisions = draw();
    expect(decisions.every((d) => Number(d.rollback) + Number(d.lose) + Number(d.duplicate) <= 1)).toBe(true);
    const share = (k: 'rollback' | 'lose' | 'duplicate' | 'poison') => decisions.filter((d) => d[k]).length / decisions.length;
    expect(share('rollback')).toBeCloseTo(0.1, 1);
    expect(share('lose')).toBeCloseTo(0.2, 1);
    expect(share('duplicate')).toBeCloseTo(0.3, 1);
    expect(share('poison')).toBeCloseTo(0.05, 1);
    expect(draw()).toEqual(decisions);
  });

  it('never rolls back in outbox mode (the event rolls back with its user)', () => {
    const f = new FaultInjector({ rollback: 1, seed: 1 });
    expect(Array.from({ length: 100 }, () => f.decide('outbox')).some((d) => d.rollback)).toBe(false);
  });

  it('rejects rates outside [0, 1]', () => {
    expect(() => new FaultInjector({ lose: 1.5 })).toThrow(RangeError);
  });

  it('seededRandom stays in [0, 1)', () => {
    const r = seededRandom(7);
    const xs = Array.from({ length: 1000 }, r);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs).size).toBeGreaterThan(990);
  });
});

describe('keyPartition', () => {
  it('spreads user ids over the 6 partitions and is stable per key', () => {
    const keys = Array.from({ length: 600 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const parts = keys.map((k) => keyPartition(k));
    expect(new Set(parts)).toEqual(new Set([0, 1, 2, 3, 4, 5]));
    expect(keys.map((k) => keyPartition(k))).toEqual(parts);
  });
});
