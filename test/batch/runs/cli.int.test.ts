import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../../helpers/cli.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';
import { hoursAgo, insertUsers, spread } from '../../helpers/drift.js';

describe('recon run', () => {
  let env: TestEnv;
  let childEnv: NodeJS.ProcessEnv;
  const start = hoursAgo(3);
  const run = (args: string[]) => spawnSync(process.execPath, ['bin/recon.js', 'run', ...args], { env: childEnv, encoding: 'utf8', timeout: 60_000 });

  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true });
    childEnv = cliEnv(env.config, { RECON_WINDOW_SECONDS: '3600', RECON_GRACE_SECONDS: '60' });
    await insertUsers(env.dbs.users, spread(start, 2 * 3600_000, 5));
  });
  afterAll(async () => env?.cleanup());

  it('prints a progress line per window and a table per check and kind; --dry-run records nothing', async () => {
    const r = run(['--check', 'users-vs-points', '--dry-run', '--from', start.toISOString(), '--to', new Date(start.getTime() + 2 * 3600_000).toISOString()]);
    expect(r.status).toBe(0);
    const progress = r.stderr.split('\n').filter((l) => l.startsWith('users-vs-points'));
    expect(progress).toHaveLength(2);
    expect(progress[0]).toMatch(/1\/2 .*found missing_grant=\d/);
    expect(r.stdout).toMatch(/\(dry run\)/);
    expect(r.stdout).toMatch(/users-vs-points\s+missing_grant\s+5/);
    expect(await env.dbs.recon('runs').count({ n: '*' })).toEqual([{ n: 0 }]);
    expect(await env.dbs.recon('discrepancies').count({ n: '*' })).toEqual([{ n: 0 }]);
  });

  it('--json prints the summary, and the run is recorded', async () => {
    const r = run(['--check', 'all', '--json']);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout) as { runId: string; status: string; counts: Record<string, Record<string, number>>; queued: string[] };
    expect(summary.status).toBe('completed');
    expect(summary.counts).toEqual({ 'users-vs-points': { missing_grant: 5 }, 'outbox-vs-consumed': {} });
    expect(summary.queued).toHaveLength(5);
    expect((await env.dbs.recon('runs').where({ id: summary.runId }))[0]).toMatchObject({ trigger: 'cli', status: 'completed' });
    expect(await env.dbs.recon('discrepancies').count({ n: '*' })).toEqual([{ n: 5 }]);
  });

  it('usage errors exit 2', () => {
    expect(run(['--check', 'nope']).status).toBe(2);
    expect(run(['--from', start.toISOString()]).status).toBe(2);
    expect(run(['--from', start.toISOString(), '--to', start.toISOString()]).status).toBe(2);
  });
});
