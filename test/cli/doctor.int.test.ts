/**
 * `recon doctor` end to end, as an operator runs it: a table and exit 0 on a
 * correct set-up (warnings allowed), `--json` that parses, exit 1 once a
 * check fails, exit 2 on a usage error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestEnv, type TestEnv } from '../helpers/env.js';

describe('recon doctor', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => env?.cleanup());

  it('prints a table of check, status, detail and what to do, and exits 0 when nothing fails', async () => {
    const { code, stdout, stderr } = await runCli(env.config, ['doctor']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^check\s+status\s+detail\s+what to do$/);
    expect(lines.find((l) => l.startsWith('users.window-indexes '))).toMatch(/^users\.window-indexes\s+pass\s+users: /);
    // No consumer ran in this namespace: a warning that names the command, not a failure.
    expect(lines.find((l) => l.startsWith('kafka.groups '))).toMatch(/^kafka\.groups\s+warn\s+.*start `recon stream consume`/);
    expect(stdout).toMatch(/\n\d+ passed, \d+ warned, 0 failed\n$/);
  });

  it('--json prints every result; a failing check makes it exit 1', async () => {
    const ok = await runCli(env.config, ['doctor', '--json']);
    expect(ok.code).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report.ok).toBe(true);
    expect(report.results.map((r: { name: string }) => r.name)).toContain('kafka.clock');
    for (const r of report.results) expect(Object.keys(r)).toEqual(expect.arrayContaining(['name', 'status', 'detail', 'fix', 'ms']));

    await env.dbs.points.raw('drop index point_ledger_window_idx');
    const broken = await runCli(env.config, ['doctor', '--json']);
    expect(broken.code).toBe(1);
    const failed = JSON.parse(broken.stdout).results.filter((r: { status: string }) => r.status === 'fail');
    expect(failed).toEqual([
      expect.objectContaining({ name: 'points.window-indexes', fix: expect.stringContaining('create index concurrently point_ledger_window_idx') }),
    ]);
  });

  it('exits 2 on a usage error', async () => {
    const { code, stderr } = await runCli(env.config, ['doctor', '--timeout', '0']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--timeout/);
  });
});
