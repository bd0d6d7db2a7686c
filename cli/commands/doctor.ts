import type { Command } from 'commander';
import { commandContext, intOption, printTable } from '../context.js';

/** batch's DOCTOR_TIMEOUT_MS in seconds, written out so that `--help` loads no batch code (test/cli/lazy-commands.test.ts checks they agree). */
const DEFAULT_TIMEOUT_SECONDS = 8;

export function register(program: Command): void {
  program
    .command('doctor')
    .description('check the estate before trusting recon on it: databases, roles, indexes, topics, consumer groups, Redis, clocks')
    .option('--json', 'print the results as JSON')
    .option('--timeout <seconds>', 'longest one check may wait for a service', intOption(1, 300), DEFAULT_TIMEOUT_SECONDS)
    .addHelpText(
      'after',
      [
        '',
        'Each check prints pass, warn or fail, what it measured and what to do. A service that does not answer',
        'fails its checks after --timeout seconds. Exits 0 when no check failed (warnings allowed), 1 otherwise.',
        'The first thing to run on a new estate, and to attach to a support request.',
        '',
        'Example:',
        '  $ recon doctor',
        '  $ recon doctor --json | jq \'.results[] | select(.status != "pass")\'',
      ].join('\n'),
    )
    .action(async (opts: { json?: boolean; timeout: number }) => {
      const { createDoctorContext, doctorChecks, doctorExitCode, runDoctor } = await import('../../batch/index.js');
      const { config } = commandContext();
      const ctx = createDoctorContext(config, { timeoutMs: opts.timeout * 1000 });
      try {
        const results = await runDoctor(doctorChecks(config), ctx);
        const code = doctorExitCode(results);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ ok: code === 0, results }, null, 2)}\n`);
        } else {
          printTable(results.map((r) => ({ check: r.name, status: r.status, detail: r.detail, 'what to do': r.fix })));
          const count = (s: string) => results.filter((r) => r.status === s).length;
          process.stdout.write(`\n${count('pass')} passed, ${count('warn')} warned, ${count('fail')} failed\n`);
        }
        process.exitCode = code;
      } finally {
        await ctx.close();
      }
    });
}
