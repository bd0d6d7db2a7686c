/**
 * What recon alerts about, and how an alert reads. Each alert is one JSON
 * object: a Slack-compatible `text` line (Slack, Mattermost and Rocket.Chat
 * incoming webhooks show it as is) plus structured fields for anything else
 * (Alertmanager-style receivers, a ticketing bridge).
 */
import type { CheckKindCounts, CheckName, DiscrepancyKind, KindCounts, RunStatus } from '../../core/index.js';
import type { RunHeld } from '../../db/index.js';

export const ALERT_EVENTS = ['run.drift', 'compensations.held', 'compensations.failed', 'run.failed', 'run.skipped'] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];

export interface Alert {
  /** Slack-compatible one-line summary, with the console link when `RECON_PUBLIC_URL` is set. */
  text: string;
  event: AlertEvent;
  runId: string | null;
  /** The run's status, when the alert is about a run. */
  status: RunStatus | null;
  /** Discrepancies found, per kind (all checks), and per check and kind. */
  counts: KindCounts;
  countsByCheck: CheckKindCounts;
  /** Held compensations: how many in all, and per check with the reason. */
  held: { total: number; byCheck: RunHeld };
  /** Compensations that failed for good (`compensations.failed`). */
  failed: { total: number; byKind: KindCounts; lastError: string | null } | null;
  /** Why the run failed or was skipped. */
  reason: string | null;
  /** The run's page in the console (`<RECON_PUBLIC_URL>/runs/<id>`), or null without `RECON_PUBLIC_URL`. */
  link: string | null;
  at: string;
}

/** What an alert about a run is built from (a run summary has it all). */
export interface RunFacts {
  runId: string;
  status: RunStatus;
  counts: CheckKindCounts;
  held?: RunHeld | undefined;
  reason?: string | undefined;
  /** Checks skipped because another run has held them too long. */
  skippedTooLong?: { check: CheckName; runningSince: Date }[];
}

export function runLink(publicUrl: string | undefined, runId: string): string | null {
  return publicUrl ? new URL(`runs/${runId}`, publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`).href : null;
}

function totals(counts: CheckKindCounts): KindCounts {
  const out: KindCounts = {};
  for (const perKind of Object.values(counts)) for (const [k, n] of Object.entries(perKind ?? {}) as [DiscrepancyKind, number][]) out[k] = (out[k] ?? 0) + n;
  return out;
}

const describeCounts = (c: KindCounts) =>
  Object.entries(c)
    .filter(([, n]) => n)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');

/** Slack's link markup: `<url|label>`; plain text without a link. */
const withLink = (text: string, link: string | null) => (link ? `${text} <${link}|open run>` : text);

/**
 * The alerts a finished run calls for: `run.failed`; `run.skipped` when a
 * check waited too long behind another run; `compensations.held` when the
 * guard held some (it carries the drift counts too), else `run.drift` when
 * it found anything. A clean run sends nothing.
 */
export function runAlerts(facts: RunFacts, publicUrl: string | undefined, now = new Date()): Alert[] {
  const link = runLink(publicUrl, facts.runId);
  const counts = totals(facts.counts);
  const heldTotal = Object.values(facts.held ?? {}).reduce((a, h) => a + (h?.compensable ?? 0), 0);
  const base = {
    runId: facts.runId,
    status: facts.status,
    counts,
    countsByCheck: facts.counts,
    held: { total: heldTotal, byCheck: facts.held ?? {} },
    failed: null,
    reason: facts.reason ?? null,
    link,
    at: now.toISOString(),
  };
  const short = facts.runId.slice(0, 8);
  const out: Alert[] = [];
  if (facts.status === 'failed')
    out.push({ ...base, event: 'run.failed', text: withLink(`recon: run ${short} failed: ${facts.reason ?? 'unknown reason'}`, link) });
  for (const s of facts.skippedTooLong ?? []) {
    out.push({
      ...base,
      event: 'run.skipped',
      text: withLink(`recon: run ${short} skipped ${s.check}: another run has held it since ${s.runningSince.toISOString()}`, link),
    });
  }
  const found = describeCounts(counts);
  if (heldTotal > 0) {
    const why = Object.entries(facts.held ?? {})
      .map(([check, h]) => `${check}: ${h?.message}`)
      .join('; ');
    out.push({
      ...base,
      event: 'compensations.held',
      text: withLink(`recon: run ${short} held ${heldTotal} compensations for approval (${why}); found ${found}`, link),
    });
  } else if (found && facts.status !== 'skipped') {
    out.push({ ...base, event: 'run.drift', text: withLink(`recon: run ${short} found drift: ${found}`, link) });
  }
  return out;
}

/** The alert of compensations that failed for good (their job's attempts ran out, or a permanent error). */
export function compensationsFailedAlert(
  f: { runId: string | null; byKind: KindCounts; lastError: string | null },
  publicUrl: string | undefined,
  now = new Date(),
): Alert {
  const total = Object.values(f.byKind).reduce((a, n) => a + (n ?? 0), 0);
  const link = f.runId ? runLink(publicUrl, f.runId) : null;
  return {
    event: 'compensations.failed',
    text: withLink(`recon: ${total} compensations failed (${describeCounts(f.byKind)})${f.lastError ? `: ${f.lastError}` : ''}`, link),
    runId: f.runId,
    status: null,
    counts: {},
    countsByCheck: {},
    held: { total: 0, byCheck: {} },
    failed: { total, byKind: f.byKind, lastError: f.lastError },
    reason: null,
    link,
    at: now.toISOString(),
  };
}
