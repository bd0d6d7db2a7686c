/**
 * A real Apache Kafka broker with no Docker: jars from Maven Central, one
 * combined broker+controller (KRaft), started detached, stopped by its pid.
 *
 * Everything lives in `.cache/kafka/` under the project (ignored by git):
 * `libs/` the jars, `config/` the generated properties, `data/` the KRaft
 * log directory, `broker.pid` and `broker.log`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ReconError, sleep, type Config, type Logger, silentLogger } from '../core/index.js';
import { brokerReachable } from '../streaming/index.js';
import { commandExists, livePid, projectRoot, tail } from './processes.js';

export { commandExists, tail } from './processes.js';

const PROJECT_ROOT = projectRoot();
/** Kafka version fetched; keep in step with services/kafka/pom.xml. */
export const KAFKA_VERSION = '3.9.1';

export interface LocalKafkaPaths {
  home: string;
  libs: string;
  config: string;
  data: string;
  pidFile: string;
  logFile: string;
  pom: string;
}

/** Home of the project's own broker (and, under `cluster/`, of its three-broker cluster). */
export const DEFAULT_HOME = join(PROJECT_ROOT, '.cache', 'kafka');

/**
 * Paths of a local broker. The default is the project's broker; tests that
 * stop and restart a broker pass their own `home` (and share the jars), so
 * they never disturb the broker everything else uses.
 */
export function localKafkaPaths(home = DEFAULT_HOME, libs = join(DEFAULT_HOME, 'libs')): LocalKafkaPaths {
  return {
    home,
    libs,
    config: join(home, 'config'),
    data: join(home, 'data'),
    pidFile: join(home, 'broker.pid'),
    logFile: join(home, 'broker.log'),
    pom: join(PROJECT_ROOT, 'services', 'kafka', 'pom.xml'),
  };
}

/** Host and port of the first configured broker, and whether this machine can host it. */
export function localListener(brokers: string[]): { host: string; port: number; local: boolean } {
  const [first = '127.0.0.1:9092'] = brokers;
  const i = first.lastIndexOf(':');
  const host = first.slice(0, i);
  const port = Number(first.slice(i + 1));
  return { host, port, local: brokers.length === 1 && ['127.0.0.1', 'localhost'].includes(host) };
}

/** The pid in the pid file, if that process is alive and is our broker. */
export function runningBrokerPid(paths = localKafkaPaths()): number | undefined {
  return livePid(paths.pidFile, ['kafka.Kafka', paths.config]);
}

/** Fetch the broker's jars with Maven unless a complete copy is cached. */
export function fetchKafkaJars(paths: LocalKafkaPaths, log: Logger): void {
  const marker = join(paths.libs, `.complete-${KAFKA_VERSION}`);
  if (existsSync(marker)) return;
  if (!commandExists('mvn')) {
    throw new ReconError(
      'DEPENDENCY_MISSING',
      'Maven (mvn) is not installed: it fetches the Kafka broker from Maven Central. Install it (Debian: apt-get install maven) or point KAFKA_BROKERS at a running broker.',
    );
  }
  rmSync(paths.libs, { recursive: true, force: true });
  mkdirSync(paths.libs, { recursive: true });
  log.info(`fetching Apache Kafka ${KAFKA_VERSION} jars from Maven Central into ${paths.libs}`);
  const mvn = spawnSync('mvn', ['-q', '-B', '-f', paths.pom, 'dependency:copy-dependencies', `-DoutputDirectory=${paths.libs}`, '-DincludeScope=runtime'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (mvn.status !== 0) {
    throw new ReconError('DEPENDENCY_MISSING', `mvn could not fetch the Kafka jars (exit ${mvn.status}):\n${(mvn.stdout + mvn.stderr).trim().slice(-2000)}`);
  }
  if (!readdirSync(paths.libs).some((f) => f.startsWith(`kafka_2.13-${KAFKA_VERSION}`))) {
    throw new ReconError('DEPENDENCY_MISSING', `mvn finished but ${paths.libs} holds no kafka_2.13-${KAFKA_VERSION} jar`);
  }
  writeFileSync(marker, new Date().toISOString());
}

/** Where Kafka's command-line tools are fetched: beside the broker's jars, with their own marker. */
export function kafkaToolsDir(paths: LocalKafkaPaths): string {
  return join(dirname(paths.libs), 'tools');
}

/**
 * Fetch Kafka's command-line tools (`org.apache.kafka:kafka-tools`: the
 * console consumer, the consumer-groups tool) unless cached, after the
 * broker's jars (the tools run with both on the class path).
 */
export function fetchKafkaToolJars(paths: LocalKafkaPaths, log: Logger): void {
  fetchKafkaJars(paths, log);
  const dir = kafkaToolsDir(paths);
  const marker = join(dir, `.complete-${KAFKA_VERSION}`);
  if (existsSync(marker)) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log.info(`fetching Apache Kafka ${KAFKA_VERSION} command-line tools from Maven Central into ${dir}`);
  const pom = join(dirname(paths.pom), 'tools-pom.xml');
  const mvn = spawnSync('mvn', ['-q', '-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${dir}`, '-DincludeScope=runtime'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (mvn.status !== 0 || !readdirSync(dir).some((f) => f.startsWith(`kafka-tools-${KAFKA_VERSION}`))) {
    throw new ReconError('DEPENDENCY_MISSING', `mvn could not fetch the Kafka tools (exit ${mvn.status}):\n${(mvn.stdout + mvn.stderr).trim().slice(-2000)}`);
  }
  writeFileSync(marker, new Date().toISOString());
}

/** Java class path of Kafka's tools: their jars first, then the broker's (kept apart so the broker's set stays as fetched). */
export function kafkaToolClassPath(paths: LocalKafkaPaths): string {
  return `${kafkaToolsDir(paths)}/*:${paths.libs}/*`;
}

/** One KRaft node: its id, its broker and controller ports, and the quorum it votes in. */
export interface NodeLayout {
  /** `node.id`. */
  id: number;
  /** Broker (PLAINTEXT) port on 127.0.0.1. */
  port: number;
  /** Controller port on 127.0.0.1. */
  controllerPort: number;
  /** `controller.quorum.voters`, e.g. `1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293`. */
  voters: string;
  /** Brokers in the cluster: sets the internal topics' replication (3 and min ISR 2 from three brokers up). */
  clusterSize: number;
  /** Extra `server.properties` lines (`key=value`), e.g. a test's replication tuning. Later lines win. */
  extra?: Record<string, string>;
}

export function writeBrokerConfig(paths: LocalKafkaPaths, node: NodeLayout): { properties: string; log4j: string } {
  mkdirSync(paths.config, { recursive: true });
  const replicated = node.clusterSize >= 3;
  const rf = replicated ? 3 : 1;
  const minIsr = replicated ? 2 : 1;
  const properties = join(paths.config, 'server.properties');
  writeFileSync(
    properties,
    [
      node.clusterSize > 1
        ? `# Generated by \`recon services up --brokers ${node.clusterSize}\`: node ${node.id} of ${node.clusterSize}, each both broker and KRaft controller.`
        : '# Generated by `recon services up`: one node that is both broker and KRaft controller.',
      'process.roles=broker,controller',
      `node.id=${node.id}`,
      `controller.quorum.voters=${node.voters}`,
      `listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${paths.data}`,
      'num.partitions=6',
      `default.replication.factor=${rf}`,
      `min.insync.replicas=${minIsr}`,
      `offsets.topic.replication.factor=${rf}`,
      'offsets.topic.num.partitions=12',
      `transaction.state.log.replication.factor=${rf}`,
      `transaction.state.log.min.isr=${minIsr}`,
      'transaction.state.log.num.partitions=4',
      'group.initial.rebalance.delay.ms=0',
      // The project creates its topics itself; a typo must not create a topic.
      'auto.create.topics.enable=false',
      // A replica that was not in sync never becomes leader: loss comes only from weak acks.
      'unclean.leader.election.enable=false',
      'delete.topic.enable=true',
      'num.network.threads=2',
      'num.io.threads=4',
      'log.retention.hours=168',
      'log.segment.bytes=104857600',
      ...Object.entries(node.extra ?? {}).map(([k, v]) => `${k}=${v}`),
      '',
    ].join('\n'),
  );
  const log4j = join(paths.config, 'log4j.properties');
  writeFileSync(
    log4j,
    [
      'log4j.rootLogger=INFO, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka.request.logger=WARN',
      'log4j.logger.state.change.logger=WARN',
      'log4j.logger.kafka.log.LogCleaner=WARN',
      'log4j.logger.org.apache.kafka.storage.internals.log=WARN',
      'log4j.logger.kafka.coordinator.group=WARN',
      'log4j.logger.org.apache.kafka.coordinator.group=WARN',
      '',
    ].join('\n'),
  );
  return { properties, log4j };
}

function java(paths: LocalKafkaPaths, args: string[], extraJvm: string[] = []): string[] {
  return [...extraJvm, '-cp', `${paths.libs}/*`, ...args];
}

/** A fresh KRaft cluster id. */
export function randomClusterId(paths: LocalKafkaPaths): string {
  const uuid = spawnSync('java', java(paths, ['kafka.tools.StorageTool', 'random-uuid']), { encoding: 'utf8' });
  const clusterId = uuid.stdout.trim().split('\n').pop()?.trim();
  if (uuid.status !== 0 || !clusterId) throw new ReconError('SERVICE_START_FAILED', `kafka.tools.StorageTool random-uuid failed:\n${uuid.stderr}`);
  return clusterId;
}

/** Format the KRaft log directory once (the nodes of one cluster share `clusterId`); later starts reuse it (and its topics). */
export function formatStorage(paths: LocalKafkaPaths, properties: string, clusterId?: string): void {
  if (existsSync(join(paths.data, 'meta.properties'))) return;
  mkdirSync(paths.data, { recursive: true });
  const id = clusterId ?? randomClusterId(paths);
  const format = spawnSync('java', java(paths, ['kafka.tools.StorageTool', 'format', '-t', id, '-c', properties, '--ignore-formatted']), {
    encoding: 'utf8',
  });
  if (format.status !== 0) throw new ReconError('SERVICE_START_FAILED', `kafka.tools.StorageTool format failed:\n${format.stdout}${format.stderr}`);
}

/**
 * Start one broker JVM detached, its output appended to its log, its pid in
 * its pid file. `heap` is `-Xmx` (the single broker takes 768m; a node of the
 * three-broker cluster less, so the three fit beside everything else).
 */
export function spawnBroker(
  paths: LocalKafkaPaths,
  files: { properties: string; log4j: string },
  heap = { min: '256m', max: '768m' },
  jvmFlags: readonly string[] = [],
): number {
  const out = openSync(paths.logFile, 'a');
  const child = spawn(
    'java',
    java(
      paths,
      ['kafka.Kafka', files.properties],
      [
        `-Xms${heap.min}`,
        `-Xmx${heap.max}`,
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        ...jvmFlags,
        '-Djava.awt.headless=true',
        `-Dlog4j.configuration=file:${files.log4j}`,
        `-Dkafka.logs.dir=${paths.home}`,
      ],
    ),
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  if (child.pid === undefined) throw new ReconError('SERVICE_START_FAILED', 'could not spawn java');
  writeFileSync(paths.pidFile, String(child.pid));
  child.unref();
  return child.pid;
}

export function requireJava(): void {
  if (!commandExists('java')) {
    throw new ReconError(
      'DEPENDENCY_MISSING',
      'Java is not installed: the local Kafka broker needs a JRE 17+ (Debian: apt-get install openjdk-17-jre-headless), or point KAFKA_BROKERS at a running broker.',
    );
  }
}

export type UpResult = { action: 'reachable'; brokers: string[]; pid: number | undefined } | { action: 'started'; brokers: string[]; pid: number; ms: number };

/**
 * Make sure a broker answers at `config.kafkaBrokers`. If one already does,
 * nothing is started. Otherwise fetch, format and start the local broker, and
 * wait until an admin client can list topics.
 */
export async function servicesUp(
  config: Pick<Config, 'kafkaBrokers'>,
  { log = silentLogger, paths = localKafkaPaths(), timeoutMs = 120_000 }: { log?: Logger; paths?: LocalKafkaPaths; timeoutMs?: number } = {},
): Promise<UpResult> {
  const started = Date.now();
  if (await brokerReachable(config.kafkaBrokers)) {
    return { action: 'reachable', brokers: config.kafkaBrokers, pid: runningBrokerPid(paths) };
  }
  const listener = localListener(config.kafkaBrokers);
  if (!listener.local) {
    throw new ReconError(
      'SERVICE_UNAVAILABLE',
      `KAFKA_BROKERS=${config.kafkaBrokers.join(',')} does not answer, and recon only starts a broker on this machine (127.0.0.1:<port>)`,
    );
  }
  const existing = runningBrokerPid(paths);
  if (existing === undefined) {
    requireJava();
    fetchKafkaJars(paths, log);
    const files = writeBrokerConfig(paths, {
      id: 1,
      port: listener.port,
      controllerPort: listener.port + 1,
      voters: `1@127.0.0.1:${listener.port + 1}`,
      clusterSize: 1,
    });
    formatStorage(paths, files.properties);
    const pid = spawnBroker(paths, files);
    log.info({ pid, log: paths.logFile }, 'local Kafka broker starting');
  }
  const deadline = started + timeoutMs;
  for (;;) {
    if (await brokerReachable(config.kafkaBrokers, 2000)) break;
    const pid = runningBrokerPid(paths);
    if (pid === undefined) {
      throw new ReconError('SERVICE_UNAVAILABLE', `the local Kafka broker exited during start-up; last lines of ${paths.logFile}:\n${tail(paths.logFile, 25)}`);
    }
    if (Date.now() > deadline) {
      throw new ReconError('TIMEOUT', `the local Kafka broker (pid ${pid}) did not answer within ${timeoutMs / 1000} s; see ${paths.logFile}`);
    }
    await sleep(500);
  }
  return { action: 'started', brokers: config.kafkaBrokers, pid: runningBrokerPid(paths) ?? -1, ms: Date.now() - started };
}

/** Stop the broker that `servicesUp` started (by its pid), and only that one. */
export async function servicesDown({ paths = localKafkaPaths(), timeoutMs = 60_000 }: { paths?: LocalKafkaPaths; timeoutMs?: number } = {}): Promise<
  { action: 'stopped'; pid: number; forced: boolean } | { action: 'not-running' }
> {
  const pid = runningBrokerPid(paths);
  if (pid === undefined) {
    rmSync(paths.pidFile, { force: true });
    return { action: 'not-running' };
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (runningBrokerPid(paths) !== undefined && Date.now() < deadline) await sleep(200);
  let forced = false;
  if (runningBrokerPid(paths) !== undefined) {
    process.kill(pid, 'SIGKILL');
    forced = true;
    while (runningBrokerPid(paths) !== undefined) await sleep(100);
  }
  rmSync(paths.pidFile, { force: true });
  return { action: 'stopped', pid, forced };
}

export interface ServicesStatus {
  brokers: string[];
  reachable: boolean;
  managedPid: number | undefined;
  logFile: string;
  jarsCached: boolean;
}

export async function servicesStatus(config: Pick<Config, 'kafkaBrokers'>, paths = localKafkaPaths()): Promise<ServicesStatus> {
  return {
    brokers: config.kafkaBrokers,
    reachable: await brokerReachable(config.kafkaBrokers),
    managedPid: runningBrokerPid(paths),
    logFile: paths.logFile,
    jarsCached: existsSync(join(paths.libs, `.complete-${KAFKA_VERSION}`)),
  };
}
