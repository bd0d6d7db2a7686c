/**
 * Parsing of what operators and clients type: ISO-8601 instants, UUIDs, and
 * a re-check range (`from`/`to`). The command line and the API both use these,
 * so a value is accepted or refused the same way, with the same words.
 */
import { isUuid } from './ids.js';

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * An ISO-8601 date or date-time (`2026-11-21`, `2026-11-21T03:00:00Z`,
 * `…+01:00`; without an offset: UTC), or undefined. Impossible dates
 * (`2026-02-30`, hour 25) are refused rather than rolled over.
 */
export function parseIsoInstant(value: string): Date | undefined {
  const m = ISO_INSTANT.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > days || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  const normalized = zone ? value.trim() : `${value.trim().replace(' ', 'T')}${m[4] ? '' : 'T00:00'}Z`;
  const t = Date.parse(normalized);
  return Number.isNaN(t) ? undefined : new Date(t);
}

export const ISO_INSTANT_HINT = 'must be an ISO-8601 timestamp such as 2026-11-21T00:00:00Z';

/** A UUID in lower case, or undefined. */
export function parseUuid(value: string): string | undefined {
  return isUuid(value) ? value.toLowerCase() : undefined;
}

/** Most windows one re-check range may span: a guard against `from: 0001-01-01` typos, not a limit of the design. */
export const MAX_RECHECK_WINDOWS = 100_000;

/** What is wrong with a re-check range, naming the field: the CLI prefixes it with `--`, the API answers 400 with it. */
export interface RangeProblem {
  field: 'from' | 'to';
  message: string;
}

/**
 * Check a re-check range: both or neither, `from` before `to`, and at most
 * {@link MAX_RECHECK_WINDOWS} windows of `windowSeconds`.
 */
export function rangeProblem(range: { from?: Date | undefined; to?: Date | undefined }, windowSeconds: number): RangeProblem | undefined {
  const { from, to } = range;
  if ((from === undefined) !== (to === undefined))
    return { field: from === undefined ? 'from' : 'to', message: 'from and to go together: give both or neither' };
  if (!from || !to) return undefined;
  if (from.getTime() >= to.getTime()) return { field: 'to', message: 'must be after from' };
  const windows = Math.ceil((to.getTime() - from.getTime()) / (windowSeconds * 1000));
  if (windows > MAX_RECHECK_WINDOWS) {
    return {
      field: 'from',
      message: `the range spans ${windows} windows of ${windowSeconds} s; at most ${MAX_RECHECK_WINDOWS} per run (split the range or raise RECON_WINDOW_SECONDS)`,
    };
  }
  return undefined;
}

const DURATION = /^(\d+)(s|m|h|d|w)$/;
const DURATION_UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

/** Longest duration {@link parseDuration} accepts: a guard against typos (`3000d`), not a limit of the design. */
export const MAX_DURATION_MS = 100 * 365 * 86_400_000;

/**
 * A positive duration written as a whole number and one unit (`45s`, `90m`,
 * `12h`, `30d`, `2w`), in milliseconds, or undefined. Nothing fractional,
 * negative or combined (`1d12h`): a retention is written in one unit.
 */
export function parseDuration(value: string): number | undefined {
  const m = DURATION.exec(value.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * DURATION_UNIT_MS[m[2] as keyof typeof DURATION_UNIT_MS];
  return ms > 0 && ms <= MAX_DURATION_MS ? ms : undefined;
}

export const DURATION_HINT = 'must be a positive duration such as 30d, 12h, 90m or 2w (a whole number and one of s, m, h, d, w)';
