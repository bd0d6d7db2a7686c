import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { catchUpTick, latestTickBetween, scheduleTicks } from '../../../batch/index.js';
import { silentLogger } from '../../../core/index.js';

const at = (iso: string) => new Date(iso);

describe('scheduler timing (node-cron driven by fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ticks at 03:00 UTC every day, not before', async () => {
    vi.setSystemTime(at('2026-03-01T02:59:50Z'));
    const ticks: string[] = [];
    const task = scheduleTicks('0 3 * * *', 'UTC', (t) => void ticks.push(t.toISOString()), silentLogger);
    try {
      await vi.advanceTimersByTimeAsync(9_000);
      expect(ticks).toEqual([]);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(ticks).toEqual(['2026-03-01T03:00:00.000Z']);
      await vi.advanceTimersByTimeAsync(24 * 3_600_000);
      expect(ticks).toEqual(['2026-03-01T03:00:00.000Z', '2026-03-02T03:00:00.000Z']);
    } finally {
      await task.destroy();
    }
  });

  it('follows RECON_TZ: 03:00 in Paris is 02:00 UTC in winter and 01:00 UTC in summer', async () => {
    vi.setSystemTime(at('2026-01-15T01:59:00Z'));
    const ticks: string[] = [];
    const task = scheduleTicks('0 3 * * *', 'Europe/Paris', (t) => void ticks.push(t.toISOString()), silentLogger);
    try {
      await vi.advanceTimersByTimeAsync(61_000);
      expect(ticks).toEqual(['2026-01-15T02:00:00.000Z']);
    } finally {
      await task.destroy();
    }
    vi.setSystemTime(at('2026-07-15T00:59:00Z'));
    const summer: string[] = [];
    const task2 = scheduleTicks('0 3 * * *', 'Europe/Paris', (t) => void summer.push(t.toISOString()), silentLogger);
    try {
      await vi.advanceTimersByTimeAsync(61_000);
      expect(summer).toEqual(['2026-07-15T01:00:00.000Z']);
    } finally {
      await task2.destroy();
    }
  });

  it('keeps ticking when a tick handler fails', async () => {
    vi.setSystemTime(at('2026-03-01T10:00:30Z'));
    const ticks: string[] = [];
    const task = scheduleTicks(
      '*/1 * * * *',
      'UTC',
      (t) => {
        ticks.push(t.toISOString());
        throw new Error('Redis is down');
      },
      silentLogger,
    );
    try {
      await vi.advanceTimersByTimeAsync(3 * 60_000);
      expect(ticks).toEqual(['2026-03-01T10:01:00.000Z', '2026-03-01T10:02:00.000Z', '2026-03-01T10:03:00.000Z']);
    } finally {
      await task.destroy();
    }
  });
});

describe('catch-up on start', () => {
  it('catches up when a tick passed since the last scheduled run started', () => {
    const last = at('2026-03-01T03:00:04Z');
    expect(catchUpTick('0 3 * * *', 'UTC', at('2026-03-02T02:59:00Z'), last)).toBeUndefined();
    expect(catchUpTick('0 3 * * *', 'UTC', at('2026-03-02T03:30:00Z'), last)).toEqual(at('2026-03-02T03:00:00Z'));
    // Down for three days: one catch-up run, for the latest tick (its windows cover the gap).
    expect(catchUpTick('0 3 * * *', 'UTC', at('2026-03-04T12:00:00Z'), last)).toEqual(at('2026-03-04T03:00:00Z'));
  });

  it('knows irregular schedules: nothing is missed over a weekend of a weekday cron', () => {
    const friday = at('2026-03-06T03:00:02Z');
    expect(catchUpTick('0 3 * * 1-5', 'UTC', at('2026-03-08T22:00:00Z'), friday)).toBeUndefined();
    expect(catchUpTick('0 3 * * 1-5', 'UTC', at('2026-03-09T03:01:00Z'), friday)).toEqual(at('2026-03-09T03:00:00Z'));
  });

  it('runs once on the first start (no scheduled run yet), for the previous tick', () => {
    expect(catchUpTick('30 4 * * *', 'Europe/Paris', at('2026-03-02T12:00:00Z'), undefined)).toEqual(at('2026-03-02T03:30:00Z'));
  });

  it('finds ticks of six-field (seconds) expressions', () => {
    expect(latestTickBetween('*/15 * * * * *', 'UTC', at('2026-03-02T11:59:00Z'), at('2026-03-02T12:00:07Z'))).toEqual(at('2026-03-02T12:00:00Z'));
  });
});
