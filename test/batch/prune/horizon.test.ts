import { describe, expect, it } from 'vitest';
import { checkHorizon, clipToHorizon, retentionCutoff, tableHorizon } from '../../../batch/index.js';
import { ConfigError, loadConfig, parseDuration } from '../../../core/index.js';

const at = (iso: string) => new Date(iso);
const cutoff = at('2026-11-20T00:00:00Z');

describe('the pruned horizon', () => {
  it('is the earliest of the retention cutoff, the watermark and the oldest open window', () => {
    const facts = { check: 'outbox-vs-consumed' as const, watermark: at('2026-11-25T00:00:00Z'), oldestOpenWindowStart: null };
    expect(checkHorizon(cutoff, facts)).toEqual(cutoff);
    expect(checkHorizon(cutoff, { ...facts, watermark: at('2026-11-10T00:00:00Z') })).toEqual(at('2026-11-10T00:00:00Z'));
    expect(checkHorizon(cutoff, { ...facts, oldestOpenWindowStart: at('2026-11-12T00:00:00Z') })).toEqual(at('2026-11-12T00:00:00Z'));
    // An open discrepancy after the cutoff changes nothing.
    expect(checkHorizon(cutoff, { ...facts, oldestOpenWindowStart: at('2026-11-22T00:00:00Z') })).toEqual(cutoff);
  });

  it('is nothing while a check has no watermark, and a table read by several checks waits for the slowest', () => {
    const a = { check: 'outbox-vs-consumed' as const, watermark: at('2026-11-25T00:00:00Z'), oldestOpenWindowStart: at('2026-11-15T00:00:00Z') };
    const b = { check: 'users-vs-points' as const, watermark: at('2026-11-18T00:00:00Z'), oldestOpenWindowStart: null };
    expect(checkHorizon(cutoff, { ...a, watermark: null })).toBeNull();
    expect(tableHorizon(cutoff, [a, b])).toEqual(at('2026-11-15T00:00:00Z'));
    expect(tableHorizon(cutoff, [{ ...a, oldestOpenWindowStart: null }, b])).toEqual(at('2026-11-18T00:00:00Z'));
    expect(tableHorizon(cutoff, [a, { ...b, watermark: null }])).toBeNull();
    expect(tableHorizon(cutoff, [])).toEqual(cutoff);
  });

  it('clips windows: behind it dropped, across it started at it, after it untouched', () => {
    const h = at('2026-11-15T12:00:00Z');
    const w = (s: string, e: string) => ({ start: at(s), end: at(e) });
    expect(clipToHorizon(w('2026-11-14T00:00:00Z', '2026-11-15T00:00:00Z'), h)).toBeNull();
    expect(clipToHorizon(w('2026-11-15T00:00:00Z', '2026-11-15T12:00:00Z'), h)).toBeNull();
    expect(clipToHorizon(w('2026-11-15T00:00:00Z', '2026-11-16T00:00:00Z'), h)).toEqual(w('2026-11-15T12:00:00Z', '2026-11-16T00:00:00Z'));
    expect(clipToHorizon(w('2026-11-16T00:00:00Z', '2026-11-17T00:00:00Z'), h)).toEqual(w('2026-11-16T00:00:00Z', '2026-11-17T00:00:00Z'));
    expect(clipToHorizon(w('2026-11-14T00:00:00Z', '2026-11-15T00:00:00Z'), null)).toEqual(w('2026-11-14T00:00:00Z', '2026-11-15T00:00:00Z'));
  });

  it('counts the retention back from now', () => {
    expect(retentionCutoff(at('2026-12-01T00:00:00Z'), 30 * 86_400_000)).toEqual(at('2026-11-01T00:00:00Z'));
  });
});

describe('durations and retention settings', () => {
  it('parses one whole number and one unit', () => {
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('12h')).toBe(12 * 3_600_000);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(parseDuration('45s')).toBe(45_000);
    expect(parseDuration('2w')).toBe(14 * 86_400_000);
    for (const bad of ['', '0d', '-1d', '1.5d', '1d12h', '30', 'd', '30 days', '30D', '99999999w']) expect(parseDuration(bad), bad).toBeUndefined();
  });

  it('RECON_RETENTION_DAYS and RECON_PRUNE_CRON are validated, naming the variable', () => {
    expect(loadConfig({}).prune).toEqual({ retentionDays: 30, cron: undefined, databases: {} });
    expect(loadConfig({ RECON_RETENTION_DAYS: '7', RECON_PRUNE_CRON: '30 4 * * 0' }).prune).toMatchObject({ retentionDays: 7, cron: '30 4 * * 0' });
    for (const [name, value] of [
      ['RECON_RETENTION_DAYS', '0'],
      ['RECON_RETENTION_DAYS', '30d'],
      ['RECON_PRUNE_CRON', 'every sunday'],
      ['USERS_PRUNE_DATABASE_URL', 'mysql://x/y'],
    ] as const) {
      expect(() => loadConfig({ [name]: value }), `${name}=${value}`).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}: `));
    }
  });
});
