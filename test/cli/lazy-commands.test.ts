/**
 * `recon --help` answers in a fraction of a second because the command
 * modules import the database, Kafka, queue and HTTP code only when a command
 * runs. Four of them therefore write out values of another folder: the
 * compiler checks the consumer groups and the user-service modes (complete
 * Records), the tests below the retry limit and doctor's time bound.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DOCTOR_TIMEOUT_MS, RETRY_DEFAULT_LIMIT } from '../../batch/index.js';
import { buildProgram } from '../../cli/main.js';

/** Packages none of which building the command line may load. */
const HEAVY = ['kafkajs', 'knex', 'pg', 'bullmq', 'ioredis', 'fastify', '@bull-board/api', 'nodemailer', 'prom-client'];

describe('the command line loads its dependencies when a command runs', () => {
  it('defines every command without loading a driver, a queue or a server', () => {
    // A fresh process: this one has loaded them all already. These packages are CommonJS, so require.cache lists them.
    const script = `
      import { createRequire } from 'node:module';
      import { register } from 'tsx/esm/api';
      register();
      const { buildProgram } = await import('./cli/main.ts');
      buildProgram().helpInformation();
      const loaded = Object.keys(createRequire(process.cwd() + '/').cache).map((f) => f.match(/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//)?.[1]);
      process.stdout.write(JSON.stringify([...new Set(loaded)].filter(Boolean)));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const loaded = JSON.parse(r.stdout) as string[];
    expect(loaded).toContain('commander');
    expect(loaded.filter((p) => HEAVY.includes(p))).toEqual([]);
  });

  it('offers the retry limit batch applies by default', () => {
    const retry = buildProgram().commands.find((c) => c.name() === 'retry')!;
    expect(retry.options.find((o) => o.long === '--limit')?.defaultValue).toBe(RETRY_DEFAULT_LIMIT);
  });

  it("offers doctor's default time bound", () => {
    const doctor = buildProgram().commands.find((c) => c.name() === 'doctor')!;
    expect(doctor.options.find((o) => o.long === '--timeout')?.defaultValue).toBe(DOCTOR_TIMEOUT_MS / 1000);
  });
});
