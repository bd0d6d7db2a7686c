import { InvalidArgumentError, type Command } from 'commander';
import { CONSUMER_GROUPS, POLLING_RELAY_REFUSED, ReconError, UsageError, describeError, sleep } from '../../core/index.js';
import type { StreamGroup } from '../../streaming/index.js';
import { commandContext, intOption, untilSignal } from '../context.js';

/** Print `line()` every `ms` (the periodic progress line), as counts per second since the last one. */
function every(ms: number, line: (secs: number) => string): () => void {
  let last = Date.now();
  const t = setInterval(() => {
    const now = Date.now();
    process.stderr.write(`${new Date(now).toISOString()} ${line((now - last) / 1000)}\n`);
    last = now;
  }, ms);
  t.unref();
  return () => clearInterval(t);
}

/** streaming's STREAM_GROUPS, written out so that `--help` loads no streaming code; the Record makes the compiler name a group added or removed there. */
const GROUPS = Object.keys({ [CONSUMER_GROUPS.pointService]: true, [CONSUMER_GROUPS.userServiceBalances]: true } satisfies Record<
  StreamGroup,
  true
>) as StreamGroup[];

function groupOption(value: string): StreamGroup {
  if (!(GROUPS as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${GROUPS.join(', ')}.`);
  return value as StreamGroup;
}

/** How long /healthz answers 503 with the crashed group before the consumers stop and the process exits. */
const CRASH_REPORT_MS = 2000;

export function register(program: Command): void {
  const stream = program.command('stream').description('the streaming path: outbox relay and consumers');

  stream
    .command('relay')
    .description('publish unpublished outbox rows of both databases (users → user.created, points → point.granted) until SIGTERM/SIGINT')
    .option('--batch-size <n>', 'rows claimed and sent per round', intOption(1, 10_000), 4000)
    .option('--poll-interval <ms>', 'wait after a round that found nothing', intOption(1, 60_000), 20)
    .option('--concurrency <n>', 'relay loops per database (each with its own producer and connection)', intOption(1, 16), 2)
    .option('--progress-interval <s>', 'seconds between progress lines (0: none)', intOption(0, 3600), 5)
    .addHelpText(
      'after',
      '\nSeveral relays may run at once (rows are claimed with FOR UPDATE SKIP LOCKED). Under RECON_RELAY=debezium it refuses to run (exit 2).\n\nExample:\n  $ recon stream relay\n  $ RECON_NAMESPACE=staging recon stream relay --batch-size 2000',
    )
    .action(async (opts: { batchSize: number; pollInterval: number; concurrency: number; progressInterval: number }) => {
      const { config, log } = commandContext();
      if (config.relay === 'debezium') {
        // Before loading or connecting anything: the refusal is a usage error (exit 2).
        throw new UsageError(POLLING_RELAY_REFUSED);
      }
      const { startRelay } = await import('../../streaming/index.js');
      const relay = await startRelay(config, { batchSize: opts.batchSize, pollIntervalMs: opts.pollInterval, concurrency: opts.concurrency, log });
      log.info({ namespace: config.namespace ?? null }, 'relay started');
      let previous = relay.stats();
      const stop = opts.progressInterval
        ? every(opts.progressInterval * 1000, (secs) => {
            const now = relay.stats();
            const parts = Object.keys(now.published).map(
              (s) =>
                `${s} ${((now.published[s]! - (previous.published[s] ?? 0)) / secs).toFixed(0)}/s (total ${now.published[s]}, failed rounds ${now.failures[s]})`,
            );
            previous = now;
            return `relay: ${parts.join('; ')}`;
          })
        : () => undefined;
      const signal = await untilSignal();
      log.info({ signal }, 'relay stopping: finishing the round in hand');
      stop();
      await relay.stop();
      process.exitCode = 0;
    });

  stream
    .command('consume')
    .description('run the point-service (user.created → ledger) and user-service-balances (point.granted → balances) consumers until SIGTERM/SIGINT')
    .option('--group <name>', `run only this group (${GROUPS.join(' or ')})`, groupOption)
    .option('--concurrency <n>', 'partitions consumed concurrently per group (about this many database connections)', intOption(1, 64), 2)
    .option('--progress-interval <s>', 'seconds between progress lines (0: none)', intOption(0, 3600), 5)
    .option('--fault-commit-before-effect', "test only: commit each batch's offsets, then drop its effect (the auto-commit bug, on purpose)")
    .addHelpText(
      'after',
      `\nOffsets are committed only after the database transaction of a batch commits; an undecodable message goes to <topic>.DLT.\nA consumer that stops for good (kafkajs will not restart it) makes the command exit 1, for its supervisor to restart it;\nRECON_CONSUME_HEALTH_PORT serves /healthz and /metrics.\n\nExample:\n  $ recon stream consume\n  $ recon stream consume --group ${CONSUMER_GROUPS.pointService} --concurrency 6`,
    )
    .action(async (opts: { group?: StreamGroup; concurrency: number; progressInterval: number; faultCommitBeforeEffect?: boolean }) => {
      const { startConsumers, STREAM_GROUPS } = await import('../../streaming/index.js');
      const { config, log } = commandContext();
      const consumers = await startConsumers(config, {
        groups: opts.group ? [opts.group] : STREAM_GROUPS,
        concurrency: opts.concurrency,
        healthPort: config.consumeHealthPort,
        ...(opts.faultCommitBeforeEffect ? { fault: 'commit-before-effect' as const } : {}),
        log,
      });
      if (opts.faultCommitBeforeEffect) log.warn('consumers commit offsets before their effect and drop it (--fault-commit-before-effect): for tests only');
      log.info({ namespace: config.namespace ?? null, groups: opts.group ?? 'all' }, 'consumers started');
      let previous = consumers.stats();
      const stop = opts.progressInterval
        ? every(opts.progressInterval * 1000, (secs) => {
            const now = consumers.stats();
            const parts = Object.entries(now).map(([g, s]) => {
              const rate = (s.consumed - (previous[g]?.consumed ?? 0)) / secs;
              const notSent = s.dltSendFailures ? `, not on the DLT ${s.dltSendFailures}` : '';
              return `${g} ${rate.toFixed(0)}/s (consumed ${s.consumed}, duplicates ${s.duplicates}, dead-lettered ${s.deadLettered}${notSent})`;
            });
            previous = now;
            return `consume: ${parts.join('; ')}`;
          })
        : () => undefined;
      const outcome = await Promise.race([untilSignal().then((signal) => ({ signal })), consumers.crashed.then((crash) => ({ crash }))]);
      stop();
      if ('crash' in outcome) {
        // Alive but idle would hide growing lag: exit non-zero, for the supervisor to restart the process.
        const { message } = describeError(outcome.crash.error);
        log.error({ group: outcome.crash.group }, 'consumers stopping: a consumer crashed for good');
        // Whatever else still holds the event loop must not keep a failed process alive.
        setTimeout(() => process.exit(1), 30_000).unref();
        // /healthz keeps saying which group crashed, and why, a moment longer: a probe polling every second sees it.
        await sleep(CRASH_REPORT_MS);
        await consumers.stop();
        throw new ReconError('CONSUMER_CRASHED', `consumer ${outcome.crash.group} stopped for good (kafkajs will not restart it): ${message}; exiting`);
      }
      log.info({ signal: outcome.signal }, 'consumers stopping: finishing the batch in hand');
      await consumers.stop();
      process.exitCode = 0;
    });
}
