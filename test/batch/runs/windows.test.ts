import { describe, expect, it } from 'vitest';
import { planWindows, safeUpperBound, validateRunOptions, walkRange } from '../../../batch/index.js';
import { MAX_RECHECK_WINDOWS } from '../../../core/index.js';
import { pairSegments, segmentClean, strideFor } from '../../../reconcile/index.js';

const t = (iso: string) => new Date(iso);

describe('windows', () => {
  it('cuts a range into half-open windows, the last one shorter', () => {
    const w = planWindows(t('2026-01-01T00:00:00Z'), t('2026-01-01T02:30:00Z'), 3600_000);
    expect(w.map((x) => [x.start.toISOString(), x.end.toISOString()])).toEqual([
      ['2026-01-01T00:00:00.000Z', '2026-01-01T01:00:00.000Z'],
      ['2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z'],
      ['2026-01-01T02:00:00.000Z', '2026-01-01T02:30:00.000Z'],
    ]);
    expect(planWindows(t('2026-01-01T01:00:00Z'), t('2026-01-01T01:00:00Z'), 1000)).toEqual([]);
  });

  it('bounds windows by now − grace and the oldest writing transaction, less a second', () => {
    const now = t('2026-01-01T12:00:00Z');
    expect(safeUpperBound([{ now, oldestWriterStart: null }], 300)).toEqual(t('2026-01-01T11:54:59Z'));
    expect(
      safeUpperBound(
        [
          { now, oldestWriterStart: null },
          { now: t('2026-01-01T12:00:00.500Z'), oldestWriterStart: t('2026-01-01T11:50:00.250Z') },
        ],
        300,
      ),
    ).toEqual(t('2026-01-01T11:49:59.250Z'));
  });

  it('starts from the watermark, else RECON_START, else the earliest row; nothing past the bound', () => {
    const bound = t('2026-01-02T00:00:00Z');
    const wm = t('2026-01-01T05:00:00Z');
    expect(walkRange(wm, t('2025-01-01T00:00:00Z'), t('2025-06-01T00:00:00Z'), bound)).toEqual({ start: wm, end: bound });
    expect(walkRange(null, t('2025-01-01T00:00:00Z'), t('2025-06-01T00:00:00Z'), bound)?.start).toEqual(t('2025-01-01T00:00:00Z'));
    expect(walkRange(null, undefined, t('2025-06-01T00:00:00Z'), bound)?.start).toEqual(t('2025-06-01T00:00:00Z'));
    expect(walkRange(null, undefined, null, bound)).toBeNull();
    expect(walkRange(t('2026-01-03T00:00:00Z'), undefined, null, bound)).toBeNull();
  });
});

describe('checksums', () => {
  it('a segment is clean only when Σamount = B·n and Σamount·h = B·Σh', () => {
    const k = { seg: t('2026-01-01T00:00:00Z'), range_end: t('2026-01-01T01:00:00Z') };
    const users = { ...k, n: 2, h: '300' };
    expect(segmentClean(1000n, users, { ...k, n: 2, a: '2000', ah: '300000' })).toBe(true);
    // Same total, grants on the wrong users (a missing grant and an orphan).
    expect(segmentClean(1000n, users, { ...k, n: 2, a: '2000', ah: '410000' })).toBe(false);
    expect(segmentClean(1000n, users, undefined)).toBe(false);
    expect(segmentClean(1000n, undefined, undefined)).toBe(true);
  });

  it('pairs segments of both sides and clips the last to its range', () => {
    const r = t('2026-01-01T00:00:10Z');
    const level = pairSegments(
      [
        { seg: t('2026-01-01T00:00:00Z'), range_end: r, v: 1 },
        { seg: t('2026-01-01T00:00:08Z'), range_end: r, v: 1 },
      ],
      [{ seg: t('2026-01-01T00:00:00Z'), range_end: r, v: 1 }],
      4000,
      (a, b) => ({ same: a?.v === b?.v, rows: 1, covered: (a ? 1 : 0) + (b ? 1 : 0) }),
    );
    expect(level.segments).toBe(2);
    expect(level.rows).toBe(3);
    expect(level.differing).toEqual([{ start: t('2026-01-01T00:00:08Z'), end: r, rows: 1 }]);
    expect(strideFor(3600_000, 1024)).toBe(3516);
    expect(strideFor(5, 1024)).toBe(1);
  });
});

describe('validateRunOptions', () => {
  it('refuses a re-check range of more windows than one run may walk, naming the flags', () => {
    const from = new Date('1970-01-01T00:00:00Z');
    const to = new Date('2026-01-01T00:00:00Z');
    expect(() => validateRunOptions({ checks: ['users-vs-points'], trigger: 'cli', from, to }, 3600)).toThrow(
      /--from: the range spans \d+ windows of 3600 s; at most 100000/,
    );
    const ok = new Date(from.getTime() + MAX_RECHECK_WINDOWS * 3600_000);
    expect(() => validateRunOptions({ checks: ['users-vs-points'], trigger: 'cli', from, to: ok }, 3600)).not.toThrow();
  });
});
