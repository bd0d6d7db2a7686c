/**
 * Clock skew between this host and a server, measured the way NTP does it
 * with one exchange: read this host's clock before sending (t0) and after the
 * answer (t1); the server read its clock (s) somewhere in between, so its
 * offset is s − (t0 + t1) / 2, off by at most half the round trip,
 * (t1 − t0) / 2. Of several exchanges the one with the shortest round trip
 * gives the tightest bound.
 *
 * Why it matters: window keys come from the database servers' clocks (a
 * user's `created_at` on the users server, the events' `occurredAt` from the
 * server that wrote the outbox row), and each source's own clock sets the
 * safe upper bound and the late-arrival scan. Clocks apart by more than the
 * grace make rows look missing that are only "in the future". Each server is
 * measured against this host, which bounds every pair (by the sum). The limit
 * is a tenth of the grace (at least 1 s), so skew never eats much of it.
 */
import type { DoctorFinding } from './types.js';

export interface ClockSample {
  /** This host's clock when the request left, ms since the epoch. */
  sentAt: number;
  /** This host's clock when the answer arrived. */
  receivedAt: number;
  /** The server's clock reading carried by the answer. */
  remoteAt: number;
}

export interface Skew {
  /** Server clock minus this host's clock, ms (positive: the server is ahead). */
  skewMs: number;
  /** Half the round trip: the true skew lies within `skewMs ± errorMs`. */
  errorMs: number;
}

/**
 * Skew of one exchange: the server's reading against the midpoint of the
 * round trip. This host's readings are truncated to `resolutionMs` (1 for
 * `Date.now()`): the request left in `[sentAt, sentAt + r)` and the answer
 * came in `[receivedAt, receivedAt + r)`, so the server read its clock within
 * `[sentAt, receivedAt + r)`, whose midpoint and half-width these are.
 */
export function skewOf(sample: ClockSample, resolutionMs = 1): Skew {
  return {
    skewMs: sample.remoteAt - (sample.sentAt + sample.receivedAt + resolutionMs) / 2,
    errorMs: (sample.receivedAt + resolutionMs - sample.sentAt) / 2,
  };
}

/** The skew of the exchange with the shortest round trip (the tightest bound). */
export function bestSkew(samples: readonly ClockSample[]): Skew {
  if (samples.length === 0) throw new Error('no clock samples');
  const best = samples.reduce((a, b) => (b.receivedAt - b.sentAt < a.receivedAt - a.sentAt ? b : a));
  return skewOf(best);
}

/** Take `count` exchanges with `read` (which returns the server's clock, ms), timed by `now`. */
export async function sampleClock(read: () => Promise<number>, count = 5, now: () => number = Date.now): Promise<ClockSample[]> {
  const samples: ClockSample[] = [];
  for (let i = 0; i < count; i++) {
    const sentAt = now();
    const remoteAt = await read();
    samples.push({ sentAt, remoteAt, receivedAt: now() });
  }
  return samples;
}

/** Limits of the skew for a grace of `graceSeconds`: warn above a tenth of it (at least 1 s), fail above the grace itself. */
export function skewLimits(graceSeconds: number): { warnAboveMs: number; failAboveMs: number } {
  const warnAboveMs = Math.max(1000, graceSeconds * 100);
  return { warnAboveMs, failAboveMs: Math.max(warnAboveMs, graceSeconds * 1000) };
}

const fmt = (ms: number) => (Math.abs(ms) >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 2)} s` : `${ms.toFixed(1)} ms`);

/** Judge a measured skew of `what` (e.g. `the users database server`) against the limits of the grace. */
export function judgeSkew(what: string, skew: Skew, graceSeconds: number): DoctorFinding {
  const { warnAboveMs, failAboveMs } = skewLimits(graceSeconds);
  const size = Math.abs(skew.skewMs);
  const direction = skew.skewMs >= 0 ? 'ahead of' : 'behind';
  const detail = `${what} is ${fmt(size)} ${direction} this host (± ${fmt(skew.errorMs)}); limit ${fmt(warnAboveMs)}, fails above ${fmt(failAboveMs)}`;
  const measured = { skewMs: round(skew.skewMs), errorMs: round(skew.errorMs), warnAboveMs, failAboveMs };
  const sync = 'synchronise the clocks (NTP, e.g. chrony) of the database servers, the Kafka brokers and the hosts running recon';
  if (size > failAboveMs) return { status: 'fail', detail: `${detail}: larger than the grace, so runs report false discrepancies`, fix: sync, measured };
  if (size > warnAboveMs) return { status: 'warn', detail, fix: sync, measured };
  if (skew.errorMs > warnAboveMs) {
    return {
      status: 'warn',
      detail: `${detail}: the round trip is too slow to show the skew is under the limit`,
      fix: 'run recon doctor closer to the service, or again when it is less loaded',
      measured,
    };
  }
  return { status: 'pass', detail, fix: '', measured };
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
