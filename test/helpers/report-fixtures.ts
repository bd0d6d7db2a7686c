/**
 * Rows a finished run leaves behind (runs, run_windows, watermarks,
 * discrepancies), inserted by SQL so report, API and dashboard tests do not
 * depend on the run orchestration.
 */
import { randomUUID } from 'node:crypto';
import { discrepancyId, type CheckKindCounts, type CheckName, type DiscrepancyKind, type DiscrepancyStatus } from '../../core/index.js';
import type { Databases } from '../../db/index.js';

export interface FixtureDiscrepancy {
  check: CheckName;
  kind: DiscrepancyKind;
  status: DiscrepancyStatus;
}

export interface FixtureRun {
  id: string;
  counts: CheckKindCounts;
  startedAt: Date;
}

/** Insert `history` older completed runs (drift 0, 1, 2, ...) and one run with `discrepancies`; returns the latter. */
export async function insertRunFixture(
  dbs: Databases,
  { history = 13, discrepancies, trigger = 'cron' }: { history?: number; discrepancies: FixtureDiscrepancy[]; trigger?: string },
): Promise<{ run: FixtureRun; history: FixtureRun[] }> {
  const now = Date.now();
  const day = 86_400_000;
  const past: FixtureRun[] = [];
  for (let i = 0; i < history; i++) {
    const startedAt = new Date(now - (history - i) * day);
    past.push({ id: randomUUID(), startedAt, counts: i === 0 ? {} : { 'users-vs-points': { missing_grant: i } } });
  }
  const counts: FixtureRun['counts'] = {};
  for (const d of discrepancies) {
    const byKind = (counts[d.check] ??= {});
    byKind[d.kind] = (byKind[d.kind] ?? 0) + 1;
  }
  const run: FixtureRun = { id: randomUUID(), startedAt: new Date(now - 60_000), counts };
  const checks: CheckName[] = ['users-vs-points', 'outbox-vs-consumed'];
  await dbs.recon('runs').insert(
    [...past, run].map((r) => ({
      id: r.id,
      trigger,
      checks,
      status: 'completed',
      started_at: r.startedAt,
      finished_at: new Date(r.startedAt.getTime() + 12_000),
      windows: 2,
      counts: JSON.stringify(r.counts),
    })),
  );
  const windowStart = new Date(Math.floor((now - 3 * 3_600_000) / 3_600_000) * 3_600_000);
  await dbs.recon('run_windows').insert(
    checks.flatMap((check) =>
      [0, 1].map((i) => ({
        run_id: run.id,
        check_name: check,
        window_start: new Date(windowStart.getTime() + i * 3_600_000),
        window_end: new Date(windowStart.getTime() + (i + 1) * 3_600_000),
      })),
    ),
  );
  await dbs
    .recon('watermarks')
    .insert(checks.map((check) => ({ check_name: check, watermark: new Date(windowStart.getTime() + 2 * 3_600_000), last_run_id: run.id })))
    .onConflict('check_name')
    .merge();
  if (discrepancies.length) {
    await dbs.recon('discrepancies').insert(
      discrepancies.map((d, i) => {
        const entity = randomUUID();
        return {
          id: discrepancyId(d.check, d.kind, entity),
          check_name: d.check,
          kind: d.kind,
          entity_type: d.kind.endsWith('_event') ? 'event' : 'user',
          entity_id: entity,
          window_start: windowStart,
          window_end: new Date(windowStart.getTime() + 3_600_000),
          details: JSON.stringify({ userId: entity, n: i }),
          status: d.status,
          first_run_id: run.id,
          last_run_id: run.id,
          detected_at: new Date(now - 50_000 + i),
        };
      }),
    );
  }
  return { run, history: past };
}

/** The discrepancies of the report tests: 6 found, of which 2 resolved, 1 failed, 3 pending. */
export const SIX_DISCREPANCIES: FixtureDiscrepancy[] = [
  { check: 'users-vs-points', kind: 'missing_grant', status: 'resolved' },
  { check: 'users-vs-points', kind: 'missing_grant', status: 'resolved' },
  { check: 'users-vs-points', kind: 'missing_grant', status: 'failed' },
  { check: 'users-vs-points', kind: 'orphan_grant', status: 'queued' },
  { check: 'outbox-vs-consumed', kind: 'unpublished_event', status: 'detected' },
  { check: 'outbox-vs-consumed', kind: 'unpublished_event', status: 'queued' },
];

/** Decode the parts of a simple MIME message (quoted-printable or base64 bodies) by content type. */
export function mimeParts(raw: string): Record<string, string> {
  const parts: Record<string, string> = {};
  const boundaries = [...raw.matchAll(/boundary="?([^";\r\n]+)"?/gi)].map((m) => m[1]!);
  let chunks = [raw];
  for (const b of boundaries) chunks = chunks.flatMap((c) => c.split(`--${b}`));
  for (const chunk of chunks) {
    const sep = chunk.search(/\r?\n\r?\n/);
    if (sep < 0) continue;
    const head = chunk.slice(0, sep);
    const body = chunk.slice(sep).trim();
    const type = /content-type:\s*([^;\r\n]+)/i.exec(head)?.[1]?.trim().toLowerCase();
    if (!type || type.startsWith('multipart/')) continue;
    const encoding = /content-transfer-encoding:\s*(\S+)/i.exec(head)?.[1]?.toLowerCase();
    parts[type] =
      encoding === 'base64'
        ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
        : encoding === 'quoted-printable'
          ? Buffer.from(
              body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
              'latin1',
            ).toString('utf8')
          : body;
  }
  return parts;
}

/** A header of a raw message (first occurrence, unfolded). */
export function mimeHeader(raw: string, name: string): string | undefined {
  const head = raw.slice(0, raw.search(/\r?\n\r?\n/));
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  return new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(unfolded)?.[1]?.trim();
}
