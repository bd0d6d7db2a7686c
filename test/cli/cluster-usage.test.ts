import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['bin/recon.js', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

// Each call starts the whole command line: seconds on a loaded machine. None of them reaches a broker or a database.
describe('usage errors of the cluster and acks options', { timeout: 180_000 }, () => {
  it('services up --brokers 3 names KAFKA_BROKERS when it is not three local addresses, and starts nothing', () => {
    for (const [brokers, why] of [
      ['127.0.0.1:39092', /lists 1 address/],
      ['127.0.0.1:39092,10.1.2.3:39192,127.0.0.1:39292', /names 10\.1\.2\.3, not this machine/],
      ['127.0.0.1:39092,127.0.0.1:39093,127.0.0.1:39292', /two listeners on port 39093/],
    ] as const) {
      const r = run(['services', 'up', '--brokers', '3'], { KAFKA_BROKERS: brokers });
      expect(r.status, brokers).toBe(2);
      expect(r.stderr, brokers).toMatch(/^recon: KAFKA_BROKERS=/);
      expect(r.stderr, brokers).toMatch(why);
    }
  });

  it('refuses --brokers other than 1 or 3, and --acks 1 outside direct mode', () => {
    const b = run(['services', 'up', '--brokers', '2']);
    expect(b.status).toBe(2);
    expect(b.stderr).toContain("option '--brokers <n>' argument '2' is invalid");
    const a = run(['users', 'create', '--count', '1', '--acks', '1']);
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/--acks 1 needs --mode direct/);
    const bad = run(['users', 'create', '--count', '1', '--mode', 'direct', '--acks', '0']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("option '--acks <acks>' argument '0' is invalid. must be all or 1.");
  });

  it('exits 2 naming RECON_DLT_HEADERS when it is neither recon nor spring', () => {
    const r = run(['migrate'], { RECON_DLT_HEADERS: 'connect' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^recon: RECON_DLT_HEADERS: must be recon or spring/);
  });
});
