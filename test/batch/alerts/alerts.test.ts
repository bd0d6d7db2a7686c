import { describe, expect, it } from 'vitest';
import { compensationsFailedAlert, judgeCompensations, runAlerts } from '../../../batch/index.js';

const limits = { limit: 1000, ratio: 0.01, ratioMinCount: 100 };

describe('the guard judges a check of a run', () => {
  it('holds above the count limit, and on the ratio only from its floor on', () => {
    expect(judgeCompensations(limits, 1000, 10_000_000)).toBeUndefined();
    expect(judgeCompensations(limits, 1001, 10_000_000)).toMatchObject({ reason: 'count', compensable: 1001 });
    // One missing grant among 50 rows (2 %) is below the floor: queued.
    expect(judgeCompensations(limits, 1, 50)).toBeUndefined();
    expect(judgeCompensations(limits, 99, 100)).toBeUndefined();
    expect(judgeCompensations(limits, 100, 9_999)).toMatchObject({ reason: 'ratio' });
    expect(judgeCompensations(limits, 100, 10_000)).toBeUndefined();
    expect(judgeCompensations({ ...limits, limit: 0 }, 1, 1_000_000)).toMatchObject({ reason: 'count' });
    expect(judgeCompensations({ ...limits, limit: 0 }, 0, 1_000_000)).toBeUndefined();
  });
});

describe('alerts of a run', () => {
  const runId = '0b6f4c1e-8d1a-4c36-9a51-2f0f3c1d9e7a';

  it('a clean run sends nothing; drift sends run.drift with a console link', () => {
    expect(runAlerts({ runId, status: 'completed', counts: { 'users-vs-points': {} } }, 'https://r.example/')).toEqual([]);
    const [a, ...rest] = runAlerts({ runId, status: 'completed', counts: { 'users-vs-points': { missing_grant: 2 } } }, 'https://r.example/base');
    expect(rest).toEqual([]);
    expect(a).toMatchObject({ event: 'run.drift', counts: { missing_grant: 2 }, link: `https://r.example/base/runs/${runId}` });
    expect(a!.text).toBe(`recon: run 0b6f4c1e found drift: 2 missing_grant <https://r.example/base/runs/${runId}|open run>`);
  });

  it('a failed run and a check skipped too long each send their own alert; no link without RECON_PUBLIC_URL', () => {
    const since = new Date('2026-12-01T00:00:00Z');
    const alerts = runAlerts(
      { runId, status: 'failed', counts: {}, reason: 'RUN_FAILED: boom', skippedTooLong: [{ check: 'outbox-vs-consumed', runningSince: since }] },
      undefined,
    );
    expect(alerts.map((a) => a.event)).toEqual(['run.failed', 'run.skipped']);
    expect(alerts[0]).toMatchObject({ reason: 'RUN_FAILED: boom', link: null, text: 'recon: run 0b6f4c1e failed: RUN_FAILED: boom' });
    expect(alerts[1]!.text).toContain('since 2026-12-01T00:00:00.000Z');
  });

  it('failed compensations carry their counts and last error', () => {
    const a = compensationsFailedAlert({ runId, byKind: { orphan_grant: 3 }, lastError: 'MISSING_PRIVILEGE: insert on point_ledger' }, 'https://r.example/');
    expect(a).toMatchObject({ event: 'compensations.failed', failed: { total: 3, byKind: { orphan_grant: 3 } }, link: `https://r.example/runs/${runId}` });
    expect(a.text).toContain('3 compensations failed (3 orphan_grant): MISSING_PRIVILEGE');
  });
});
