/**
 * `recon`: the command line. It only wires things together: parse flags, load
 * configuration, build the db/kafka/queue handles, call into the folders.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError, ReconError, UsageError, describeError, operatorHint } from '../core/index.js';
import * as connect from './commands/connect.js';
import * as decisions from './commands/decisions.js';
import * as demo from './commands/demo.js';
import * as dlq from './commands/dlq.js';
import * as doctor from './commands/doctor.js';
import * as migrate from './commands/migrate.js';
import * as prune from './commands/prune.js';
import * as report from './commands/report.js';
import * as retry from './commands/retry.js';
import * as run from './commands/run.js';
import * as scheduler from './commands/scheduler.js';
import * as serve from './commands/serve.js';
import * as services from './commands/services.js';
import * as stream from './commands/stream.js';
import * as users from './commands/users.js';
import * as worker from './commands/worker.js';

export function buildProgram(): Command {
  const program = new Command('recon')
    .description('Keeps the user and point services honest: streaming path + watermark-bounded reconciliation with compensating jobs.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      '\nExamples:\n  $ recon services up && recon migrate\n  $ recon services up --connect && recon connect register\n  $ recon demo\n  $ recon run --check all --wait\n\nConfiguration is read from the environment; see the README.',
    );
  for (const command of [migrate, services, connect, stream, users, run, retry, decisions, worker, scheduler, prune, serve, report, dlq, doctor, demo]) {
    command.register(program);
  }
  program.commands.forEach(function inherit(c: Command) {
    c.exitOverride();
    c.commands.forEach(inherit);
  });
  return program;
}

/** Exit statuses: 0 done, 1 failed, 2 usage or configuration error. */
export async function main(argv: string[]): Promise<void> {
  // `recon dlq list | head`: a reader that has seen enough is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; every parse error (unknown flag, bad value) is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`recon: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    const hint = operatorHint(err);
    if (err instanceof ReconError || hint) {
      // A known cause: its message and what to do beat a stack trace.
      const { errorClass, message } = describeError(err);
      process.stderr.write(`recon: ${err instanceof ReconError ? message : `${errorClass}: ${message}`}\n`);
      if (hint) process.stderr.write(`recon: hint: ${hint}\n`);
    } else {
      // Unexpected: the stack is what the person on call will need.
      const { errorClass, message } = describeError(err);
      process.stderr.write(`recon: ${errorClass}: ${message}\n${err instanceof Error ? (err.stack ?? '') : ''}\n`);
    }
    process.exitCode = 1;
  }
}
