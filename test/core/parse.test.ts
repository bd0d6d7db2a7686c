import { describe, expect, it } from 'vitest';
import { MAX_RECHECK_WINDOWS, parseIsoInstant, parseUuid, rangeProblem } from '../../core/index.js';

describe('parseIsoInstant', () => {
  it('reads dates and date-times with or without an offset (UTC without)', () => {
    expect(parseIsoInstant('2026-11-21')?.toISOString()).toBe('2026-11-21T00:00:00.000Z');
    expect(parseIsoInstant('2026-11-21T03:04:05Z')?.toISOString()).toBe('2026-11-21T03:04:05.000Z');
    expect(parseIsoInstant('2026-11-21T03:04:05.123456Z')?.toISOString()).toBe('2026-11-21T03:04:05.123Z');
    expect(parseIsoInstant('2026-11-21T03:04')?.toISOString()).toBe('2026-11-21T03:04:00.000Z');
    expect(parseIsoInstant('2026-11-21T03:00:00+01:00')?.toISOString()).toBe('2026-11-21T02:00:00.000Z');
  });

  it('refuses impossible dates and times instead of rolling them over', () => {
    for (const bad of ['2026-02-30', '2026-13-01', '2026-00-10', '2026-11-21T24:00:00Z', '2026-11-21T10:60Z', '0000-01-01']) {
      expect(parseIsoInstant(bad), bad).toBeUndefined();
    }
  });

  it('refuses what is not an ISO-8601 instant', () => {
    for (const bad of ['', 'yesterday', '21/11/2026', '2026-11-21T03:00:00Zjunk', '1732147200', 'Nov 21 2026']) {
      expect(parseIsoInstant(bad), bad).toBeUndefined();
    }
  });
});

describe('parseUuid', () => {
  it('lower-cases a UUID and refuses anything else', () => {
    expect(parseUuid('6F1D3A52-8C4E-4B8E-9D1A-2F6C0B7E5A91')).toBe('6f1d3a52-8c4e-4b8e-9d1a-2f6c0b7e5a91');
    expect(parseUuid('-'.repeat(36))).toBeUndefined();
    expect(parseUuid('6f1d3a52')).toBeUndefined();
  });
});

describe('rangeProblem', () => {
  const at = (iso: string) => new Date(iso);
  it('accepts neither or a forward range within the window limit', () => {
    expect(rangeProblem({}, 3600)).toBeUndefined();
    expect(rangeProblem({ from: at('2026-11-20T00:00:00Z'), to: at('2026-11-21T00:00:00Z') }, 3600)).toBeUndefined();
  });

  it('names the field that is wrong', () => {
    expect(rangeProblem({ from: at('2026-11-20T00:00:00Z') }, 3600)).toEqual({ field: 'to', message: expect.stringMatching(/go together/) });
    expect(rangeProblem({ to: at('2026-11-20T00:00:00Z') }, 3600)?.field).toBe('from');
    expect(rangeProblem({ from: at('2026-11-21T00:00:00Z'), to: at('2026-11-20T00:00:00Z') }, 3600)).toEqual({ field: 'to', message: 'must be after from' });
  });

  it(`refuses a range of more than ${MAX_RECHECK_WINDOWS} windows`, () => {
    const p = rangeProblem({ from: at('0001-01-01T00:00:00Z'), to: at('9999-12-31T00:00:00Z') }, 3600);
    expect(p?.field).toBe('from');
    expect(p?.message).toMatch(/spans \d+ windows of 3600 s; at most 100000/);
  });
});
