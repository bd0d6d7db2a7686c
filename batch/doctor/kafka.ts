/** Doctor's checks of Kafka: the brokers answer, recon's topics and their dead-letter topics, the consumer groups, the broker's clock. */
import { TOPIC_PARTITIONS, namespaced, type Config } from '../../core/index.js';
import {
  brokerAppendTime,
  consumerGroupStates,
  describeBrokers,
  ensureClockProbeTopic,
  topicNames,
  topicPartitionCounts,
  type GroupState,
} from '../../streaming/index.js';
import { bestSkew, judgeSkew, sampleClock } from './clock.js';
import { failureFinding } from './run.js';
import type { DoctorCheck, DoctorFinding } from './types.js';

/** Base name of the clock-probe topic (namespaced like every topic): one partition, LogAppendTime, kept an hour. */
export const CLOCK_PROBE_TOPIC = 'recon.doctor';

const target = (config: Config) => `Kafka at ${config.kafkaBrokers.join(',')} (KAFKA_BROKERS)`;

export function kafkaConnectCheck(config: Config): DoctorCheck {
  const check: DoctorCheck = {
    name: 'kafka.connect',
    target: target(config),
    async run(ctx) {
      try {
        const admin = await ctx.kafkaAdmin();
        const { brokers, controller } = await describeBrokers(admin);
        const list = brokers.map((b) => `${b.host}:${b.port}`).join(', ');
        return {
          status: 'pass',
          detail: `${brokers.length} broker${brokers.length === 1 ? '' : 's'} (${list}), controller ${controller ?? 'unknown'}`,
          fix: '',
        };
      } catch (err) {
        const finding = failureFinding(check, err, ctx.timeoutMs);
        return { ...finding, fix: 'start the brokers (`recon services up` starts a local one), or correct KAFKA_BROKERS' };
      }
    },
  };
  return check;
}

/**
 * Judge recon's topics: every one exists with `partitions` partitions (keys
 * are placed by a hash over the count, and a dead letter goes to the same
 * partition number of its `.DLT`).
 */
export function judgeTopics(counts: ReadonlyMap<string, number | undefined>, partitions = TOPIC_PARTITIONS): DoctorFinding {
  const missing = [...counts].filter(([, n]) => n === undefined).map(([t]) => t);
  const wrong = [...counts].filter(([, n]) => n !== undefined && n !== partitions);
  if (missing.length === 0 && wrong.length === 0) {
    return { status: 'pass', detail: `${[...counts.keys()].join(', ')}: ${partitions} partitions each`, fix: '' };
  }
  const detail = [
    ...missing.map((t) => `${t} is missing`),
    ...wrong.map(([t, n]) => `${t} has ${n} partition${n === 1 ? '' : 's'}, recon needs ${partitions}`),
  ].join('; ');
  const fix = [
    ...(missing.length ? ['run `recon migrate` (it creates the missing topics and their .DLT);'] : []),
    ...(wrong.length
      ? [
          `recreate ${wrong.map(([t]) => t).join(', ')} with ${partitions} partitions (keys are placed by a hash over the count, and dead letters go to the same partition number of the .DLT)`,
        ]
      : []),
  ].join(' ');
  return { status: 'fail', detail, fix };
}

export function kafkaTopicsCheck(config: Config): DoctorCheck {
  return {
    name: 'kafka.topics',
    target: target(config),
    requires: ['kafka.connect'],
    async run(ctx) {
      return judgeTopics(await topicPartitionCounts(await ctx.kafkaAdmin(), topicNames(config).all));
    },
  };
}

/** Judge the consumer groups: each must be known to the broker and have consumers (else lag grows and nothing applies the events). */
export function judgeGroups(states: readonly GroupState[]): DoctorFinding {
  const never = states.filter((s) => s.state === undefined).map((s) => s.group);
  const idle = states.filter((s) => s.state !== undefined && s.members === 0).map((s) => s.group);
  const running = states
    .filter((s) => s.state !== undefined && s.members > 0)
    .map((s) => `${s.group}: ${s.state}, ${s.members} member${s.members === 1 ? '' : 's'}`);
  const detail = [
    ...never.map((g) => `${g} is unknown to the broker (never started)`),
    ...idle.map((g) => `${g} is known but no consumer runs (lag grows)`),
    ...running,
  ].join('; ');
  if (never.length || idle.length)
    return { status: 'warn', detail, fix: 'start `recon stream consume` (both groups), or the services that consume as these groups' };
  return { status: 'pass', detail, fix: '' };
}

export function kafkaGroupsCheck(config: Config): DoctorCheck {
  return {
    name: 'kafka.groups',
    target: target(config),
    requires: ['kafka.connect'],
    async run(ctx) {
      const groups = [...new Set(config.subscriptions.map((s) => namespaced(config, s.group)))];
      return judgeGroups(await consumerGroupStates(await ctx.kafkaAdmin(), groups));
    },
  };
}

/**
 * Skew between the broker's clock and this host's: a probe message appended
 * to a LogAppendTime topic carries the time the partition leader appended it,
 * which comes back in the produce answer; it is compared with the midpoint of
 * the send and its acknowledgement.
 */
export function kafkaClockCheck(config: Config): DoctorCheck {
  const topic = namespaced(config, CLOCK_PROBE_TOPIC);
  return {
    name: 'kafka.clock',
    target: target(config),
    requires: ['kafka.connect'],
    async run(ctx) {
      const admin = await ctx.kafkaAdmin();
      const { timestampType } = await ensureClockProbeTopic(admin, topic, ctx.timeoutMs);
      if (timestampType !== 'LogAppendTime') {
        return {
          status: 'warn',
          detail: `not measured: the probe topic ${topic} keeps its producers' timestamps (message.timestamp.type=${timestampType ?? 'unknown'})`,
          fix: `delete the topic ${topic}: the next recon doctor creates it with LogAppendTime`,
        };
      }
      const producer = await ctx.kafkaProducer();
      // The first send also fetches the topic's metadata: not a fair round trip.
      await brokerAppendTime(producer, topic);
      const samples = await sampleClock(() => brokerAppendTime(producer, topic));
      return judgeSkew(`the Kafka broker leading ${topic}`, bestSkew(samples), config.graceSeconds);
    },
  };
}

export function kafkaChecks(config: Config): DoctorCheck[] {
  return [kafkaConnectCheck(config), kafkaTopicsCheck(config), kafkaGroupsCheck(config), kafkaClockCheck(config)];
}
