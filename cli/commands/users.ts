import { InvalidArgumentError, type Command } from 'commander';
import { Progress, UsageError } from '../../core/index.js';
import type { UserServiceMode } from '../../streaming/index.js';
import { abortOnSignal, commandContext, intOption, numberOption, probabilityOption } from '../context.js';

/** streaming's USER_SERVICE_MODES, written out so that `--help` loads no streaming code; the Record makes the compiler name a mode added or removed there. */
const MODES = Object.keys({ outbox: true, direct: true } satisfies Record<UserServiceMode, true>) as UserServiceMode[];

function modeOption(value: string): UserServiceMode {
  if (!(MODES as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${MODES.join(', ')}.`);
  return value as UserServiceMode;
}

/** `--acks`: `all` (-1) or `1`. */
function acksOption(value: string): -1 | 1 {
  if (value === 'all' || value === '-1') return -1;
  if (value === '1') return 1;
  throw new InvalidArgumentError('must be all or 1.');
}

interface CreateOptions {
  count: number;
  rate?: number;
  mode: UserServiceMode;
  batchSize: number;
  faultRollback: number;
  faultLose: number;
  faultDuplicate: number;
  faultPoison: number;
  seed?: number;
  acks: -1 | 1;
}

export function register(program: Command): void {
  const users = program.command('users').description('the user service');
  users
    .command('create')
    .description('create users and their user.created events (load generator), optionally injecting faults')
    .requiredOption('--count <n>', 'how many users', intOption(1, 100_000_000))
    .option('--rate <r>', 'users per second (default: as fast as possible)', numberOption(0.001))
    .option('--mode <mode>', 'outbox (user + outbox row in one transaction) or direct (send inside the transaction: the naive pattern)', modeOption, 'outbox')
    .option('--batch-size <n>', 'users per transaction in outbox mode', intOption(1, 5000), 500)
    .option('--fault-rollback <p>', 'direct mode: probability of sending, then rolling the user back (orphan grant)', probabilityOption, 0)
    .option('--fault-lose <p>', "probability that a committed user's event never reaches the consumer (missing grant)", probabilityOption, 0)
    .option('--fault-duplicate <p>', 'probability that the event is delivered twice', probabilityOption, 0)
    .option('--fault-poison <p>', 'probability per user of an undecodable message on user.created', probabilityOption, 0)
    .option('--seed <n>', 'seed of the fault draws (reproducible runs)', intOption(0, 2 ** 32 - 1))
    .option('--acks <acks>', 'direct mode: what each send waits for, all (in-sync replicas) or 1 (the leader only: a failover can lose it)', acksOption, -1)
    .addHelpText(
      'after',
      '\nExample:\n  $ recon users create --count 10000 --rate 500\n  $ recon users create --count 2000 --mode direct --fault-rollback 0.01 --fault-lose 0.01\n  $ recon users create --count 1000 --fault-duplicate 0.1 --fault-poison 0.005 --seed 42\n  $ recon users create --count 20000 --mode direct --acks 1',
    )
    .action(async (opts: CreateOptions) => {
      if (opts.mode === 'outbox' && opts.faultRollback > 0) {
        throw new UsageError('--fault-rollback needs --mode direct (in outbox mode the event rolls back with its user: no drift)');
      }
      if (opts.mode === 'outbox' && opts.acks !== -1) {
        throw new UsageError('--acks 1 needs --mode direct (in outbox mode the relay publishes, always with acks=all)');
      }
      const { connect } = await import('../../db/index.js');
      const { createKafka, createProducer, ensureTopics, FaultInjector, generateUsers, topicNames } = await import('../../streaming/index.js');
      const { config, log } = commandContext();
      const faults = new FaultInjector({
        rollback: opts.faultRollback,
        lose: opts.faultLose,
        duplicate: opts.faultDuplicate,
        poison: opts.faultPoison,
        seed: opts.seed,
      });
      const topics = topicNames(config);
      const concurrency = opts.mode === 'direct' ? 8 : 2;
      const db = connect(config.databases.users, { max: concurrency + 1, applicationName: 'recon-users' });
      const needsProducer = opts.mode === 'direct' || faults.enabled;
      const kafka = createKafka(config, { clientId: 'recon-users', logger: log });
      // acks=1 cannot be idempotent (kafkajs and the broker require acks=all for that).
      const producer = needsProducer ? createProducer(kafka, opts.acks === 1 ? { idempotent: false } : {}) : undefined;
      const interrupt = abortOnSignal();
      const progress = new Progress({ label: 'users', total: opts.count });
      try {
        if (producer) {
          const admin = kafka.admin();
          await admin.connect();
          await ensureTopics(admin, topics.all).finally(() => admin.disconnect());
          await producer.connect();
        }
        const result = await generateUsers(
          { db, userCreatedTopic: topics.userCreated, producer, faults: faults.enabled ? faults : undefined, acks: opts.acks },
          {
            count: opts.count,
            rate: opts.rate,
            mode: opts.mode,
            batchSize: opts.batchSize,
            concurrency,
            signal: interrupt.signal,
            onProgress: (done) => progress.set(done.committed + done.rolledBack, faults.enabled ? `injected: ${faults.summary()}` : undefined),
          },
        );
        progress.finish();
        process.stdout.write(
          `created ${result.committed} users (${opts.mode} mode) in ${(result.ms / 1000).toFixed(1)} s` +
            `${result.rolledBack ? `, rolled back ${result.rolledBack}` : ''}; injected: ${faults.enabled ? faults.summary() : 'nothing'}\n`,
        );
        if (interrupt.signal.aborted) process.exitCode = 130;
      } finally {
        interrupt.dispose();
        await producer?.disconnect().catch(() => undefined);
        await db.destroy();
      }
    });
}
