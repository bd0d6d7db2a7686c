import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['bin/recon.js', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });

// Each call starts the whole command line: about 2 s here, several times that on a loaded machine.
describe('recon exit codes', { timeout: 120_000 }, () => {
  it('exits 2 with one line naming a bad variable', () => {
    const r = run(['migrate'], { RECON_WINDOW_SECONDS: 'soon' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^recon: RECON_WINDOW_SECONDS: /);
  });

  it('exits 2 naming a bad RECON_SUBSCRIPTIONS entry', () => {
    const r = run(['migrate'], { RECON_SUBSCRIPTIONS: 'user.created:point-service:inbox,user.created:point-service:offsets' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^recon: RECON_SUBSCRIPTIONS: entry "user.created:point-service:offsets": group "point-service" is listed twice/);
  });

  it('exits 2 on an unknown command or flag', () => {
    expect(run(['frobnicate']).status).toBe(2);
    const r = run(['migrate', '--frob']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown option '--frob'");
  });

  it('lists every command of DESIGN.md in --help and exits 0', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const c of ['migrate', 'services', 'stream', 'users', 'run', 'worker', 'scheduler', 'serve', 'report', 'dlq', 'doctor', 'demo']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    }
  });

  it('answers --help with an example for subcommands', () => {
    for (const args of [['migrate'], ['services', 'up'], ['run'], ['retry'], ['users', 'create'], ['dlq', 'replay'], ['doctor']]) {
      const r = run([...args, '--help']);
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/Example:\n\s+\$ recon /);
    }
  });
});
