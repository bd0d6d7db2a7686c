/**
 * A Kafka Connect worker in distributed mode with Debezium's Postgres
 * connector, no Docker: Apache Kafka's Connect runtime as the class path and
 * Debezium as a plugin directory, both from Maven Central
 * (services/connect/pom.xml), started detached and stopped by its pid, like
 * the broker (local-kafka.ts).
 *
 * Everything lives in `.cache/connect/` (ignored by git): `libs/` the
 * worker's jars, `plugins/debezium-connector-postgres/` the plugin, and, per
 * worker home, `config/`, `worker.pid` and `worker.log`. More workers (on this
 * host or others) join the same Connect cluster by using the same `group.id`
 * and the same three internal topics: {@link connectWorkerNames}.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ReconError, sleep, type Config, type Logger, silentLogger } from '../core/index.js';
import { connectClient, connectTopicSpecs, connectWorkerNames, createKafka, ensureTopicSpecs } from '../streaming/index.js';
import { commandExists, livePid, projectRoot, tail } from './processes.js';

const PROJECT_ROOT = projectRoot();
/** Versions fetched; keep in step with services/connect/pom.xml. */
export const CONNECT_VERSION = '3.9.1';
export const DEBEZIUM_VERSION = '3.6.1.Final';

export interface LocalConnectPaths {
  home: string;
  /** The worker's class path (Connect runtime, JSON converter, transforms, logging). */
  libs: string;
  /** `plugin.path`: one folder per plugin below it. */
  plugins: string;
  config: string;
  pidFile: string;
  logFile: string;
  pom: string;
}

const CACHE = join(PROJECT_ROOT, '.cache', 'connect');

/**
 * Paths of a local worker. Tests that kill and restart a worker pass their own
 * `home` (the jars are shared), so they never disturb another worker.
 */
export function localConnectPaths(home = CACHE): LocalConnectPaths {
  return {
    home,
    libs: join(CACHE, 'libs'),
    plugins: join(CACHE, 'plugins'),
    config: join(home, 'config'),
    pidFile: join(home, 'worker.pid'),
    logFile: join(home, 'worker.log'),
    pom: join(PROJECT_ROOT, 'services', 'connect', 'pom.xml'),
  };
}

function mvnCopy(pom: string, profile: string, out: string, what: string): void {
  const mvn = spawnSync('mvn', ['-q', '-B', '-f', pom, '-P', profile, 'dependency:copy-dependencies', `-DoutputDirectory=${out}`, '-DincludeScope=runtime'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (mvn.status !== 0) {
    throw new ReconError('DEPENDENCY_MISSING', `mvn could not fetch ${what} (exit ${mvn.status}):\n${(mvn.stdout + mvn.stderr).trim().slice(-2000)}`);
  }
}

/**
 * Fetch `what` with Maven into `dir` unless its marker is there. Maven
 * writes into a folder of this process's own, which is then renamed into
 * place: two processes fetching at once (two test files, a test and a
 * benchmark) never mix their files, and a half-written folder never counts.
 */
function fetchOnce(
  pom: string,
  profile: string,
  dir: string,
  markerName: string,
  what: string,
  check: (files: string[]) => string | undefined,
  log: Logger,
): void {
  if (existsSync(join(dir, markerName))) return;
  const staging = `${dir}.fetch-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  log.info(`fetching ${what} from Maven Central into ${dir}`);
  try {
    mvnCopy(pom, profile, staging, what);
    const problem = check(readdirSync(staging));
    if (problem) throw new ReconError('DEPENDENCY_MISSING', problem);
    writeFileSync(join(staging, markerName), new Date().toISOString());
    if (existsSync(join(dir, markerName))) return; // another process finished first
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dirname(dir), { recursive: true });
    renameSync(staging, dir);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Fetch the worker's jars and the Debezium plugin with Maven unless complete copies are cached (a marker file per version). */
export function fetchConnectJars(paths: LocalConnectPaths, log: Logger = silentLogger): void {
  const marker = `.complete-${CONNECT_VERSION}`;
  const plugin = join(paths.plugins, 'debezium-connector-postgres');
  const pluginMarker = `.complete-${DEBEZIUM_VERSION}`;
  if (existsSync(join(paths.libs, marker)) && existsSync(join(plugin, pluginMarker))) return;
  if (!commandExists('mvn')) {
    throw new ReconError(
      'DEPENDENCY_MISSING',
      'Maven (mvn) is not installed: it fetches Kafka Connect and Debezium from Maven Central. Install it (Debian: apt-get install maven) or point KAFKA_CONNECT_URL at a running worker.',
    );
  }
  fetchOnce(
    paths.pom,
    'worker',
    paths.libs,
    marker,
    `Kafka Connect ${CONNECT_VERSION}`,
    (files) => (files.includes(`connect-runtime-${CONNECT_VERSION}.jar`) ? undefined : `mvn finished but fetched no connect-runtime-${CONNECT_VERSION}.jar`),
    log,
  );
  fetchOnce(
    paths.pom,
    'debezium',
    plugin,
    pluginMarker,
    `Debezium ${DEBEZIUM_VERSION} (Postgres connector)`,
    (files) => {
      if (!files.includes(`debezium-connector-postgres-${DEBEZIUM_VERSION}.jar`))
        return `mvn finished but fetched no debezium-connector-postgres-${DEBEZIUM_VERSION}.jar`;
      // The worker's own copies must win: a second connect-api or kafka-clients in the plugin breaks class loading.
      const clash = files.filter((f) => /^(connect-api|kafka-clients|slf4j-api)-/.test(f));
      return clash.length ? `the Debezium plugin directory would hold ${clash.join(', ')}: services/connect/pom.xml must exclude them` : undefined;
    },
    log,
  );
}

/** Host and port the REST API listens on, from `KAFKA_CONNECT_URL`, and whether this machine can host it. */
export function connectListener(url: string): { host: string; port: number; local: boolean } {
  const u = new URL(url);
  const host = u.hostname;
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  return { host, port, local: u.protocol === 'http:' && ['127.0.0.1', 'localhost'].includes(host) };
}

/** The pid in the pid file, if that process is alive and is our worker. */
export function runningConnectPid(paths = localConnectPaths()): number | undefined {
  return livePid(paths.pidFile, ['org.apache.kafka.connect.cli.ConnectDistributed', paths.config]);
}

export interface WorkerOptions {
  /**
   * How often the worker commits source offsets (`offset.flush.interval.ms`):
   * after a crash, what was sent since the last commit is sent again
   * (consumers deduplicate). Default 10000.
   */
  offsetFlushMs?: number;
  /**
   * How long the group waits for a worker that left to come back before its
   * connectors and tasks go to the others (`scheduled.rebalance.max.delay.ms`).
   * Connect's default is 5 minutes, made for rolling restarts of many
   * workers; a local worker that was restarted waits that long for its own
   * tasks. Default 30000.
   */
  rebalanceDelayMs?: number;
}

function writeWorkerConfig(config: Pick<Config, 'kafkaBrokers' | 'namespace'>, paths: LocalConnectPaths, port: number, host: string, options: WorkerOptions) {
  mkdirSync(paths.config, { recursive: true });
  const names = connectWorkerNames(config);
  const properties = join(paths.config, 'connect-distributed.properties');
  writeFileSync(
    properties,
    [
      '# Generated by `recon services up --connect`: one Kafka Connect worker in distributed mode.',
      '# Another worker joins the same Connect cluster with the same group.id and the same three topics.',
      `bootstrap.servers=${config.kafkaBrokers.join(',')}`,
      `group.id=${names.groupId}`,
      `config.storage.topic=${names.configTopic}`,
      `offset.storage.topic=${names.offsetTopic}`,
      `status.storage.topic=${names.statusTopic}`,
      // recon creates the three topics itself (compacted); these only matter if one is missing.
      'config.storage.replication.factor=-1',
      'offset.storage.replication.factor=-1',
      'status.storage.replication.factor=-1',
      'key.converter=org.apache.kafka.connect.storage.StringConverter',
      'value.converter=org.apache.kafka.connect.storage.StringConverter',
      `offset.flush.interval.ms=${options.offsetFlushMs ?? 10_000}`,
      `scheduled.rebalance.max.delay.ms=${options.rebalanceDelayMs ?? 30_000}`,
      `listeners=http://${host}:${port}`,
      `rest.advertised.host.name=${host}`,
      `rest.advertised.port=${port}`,
      `plugin.path=${paths.plugins}`,
      // The broker does not auto-create topics; the router's target topics exist (recon migrate), so never ask.
      'topic.creation.enable=false',
      '',
    ].join('\n'),
  );
  const log4j = join(paths.config, 'connect-log4j.properties');
  writeFileSync(
    log4j,
    [
      'log4j.rootLogger=INFO, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.org.reflections=ERROR',
      'log4j.logger.org.apache.kafka.clients=WARN',
      'log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN',
      'log4j.logger.org.eclipse.jetty=WARN',
      '',
    ].join('\n'),
  );
  return { properties, log4j };
}

export type ConnectUpResult = { action: 'reachable'; url: string; pid: number | undefined } | { action: 'started'; url: string; pid: number; ms: number };

/**
 * Make sure a Connect worker answers at `config.connect.url`. If one does,
 * nothing is started. Otherwise fetch the jars, create the worker group's
 * topics, start the worker and wait until its REST API answers and the
 * Debezium plugin is loaded.
 */
export async function connectUp(
  config: Pick<Config, 'kafkaBrokers' | 'namespace' | 'connect'>,
  {
    log = silentLogger,
    paths = localConnectPaths(),
    timeoutMs = 180_000,
    worker = {},
  }: { log?: Logger; paths?: LocalConnectPaths; timeoutMs?: number; worker?: WorkerOptions } = {},
): Promise<ConnectUpResult> {
  const started = Date.now();
  const client = connectClient(config.connect.url, { timeoutMs: 3000 });
  if (await client.reachable()) return { action: 'reachable', url: client.url, pid: runningConnectPid(paths) };
  const listener = connectListener(config.connect.url);
  if (!listener.local) {
    throw new ReconError(
      'SERVICE_UNAVAILABLE',
      `KAFKA_CONNECT_URL=${config.connect.url} does not answer, and recon only starts a worker on this machine (http://127.0.0.1:<port>)`,
    );
  }
  if (runningConnectPid(paths) === undefined) {
    if (!commandExists('java')) {
      throw new ReconError(
        'DEPENDENCY_MISSING',
        'Java is not installed: the Kafka Connect worker needs a JRE 17+ (Debian: apt-get install openjdk-17-jre-headless)',
      );
    }
    fetchConnectJars(paths, log);
    const kafka = createKafka(config, { clientId: 'recon-connect-setup', logger: log });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopicSpecs(admin, connectTopicSpecs(connectWorkerNames(config)));
    } finally {
      await admin.disconnect();
    }
    const { properties, log4j } = writeWorkerConfig(config, paths, listener.port, listener.host, worker);
    const out = openSync(paths.logFile, 'a');
    const child = spawn(
      'java',
      [
        '-Xms128m',
        '-Xmx512m',
        '-XX:+UseG1GC',
        '-Djava.awt.headless=true',
        `-Dlog4j.configuration=file:${log4j}`,
        `-Dkafka.logs.dir=${paths.home}`,
        '-cp',
        `${paths.libs}/*`,
        'org.apache.kafka.connect.cli.ConnectDistributed',
        properties,
      ],
      { detached: true, stdio: ['ignore', out, out] },
    );
    closeSync(out);
    if (child.pid === undefined) throw new ReconError('SERVICE_START_FAILED', 'could not spawn java');
    writeFileSync(paths.pidFile, String(child.pid));
    child.unref();
    log.info({ pid: child.pid, log: paths.logFile }, 'Kafka Connect worker starting');
  }
  const deadline = started + timeoutMs;
  for (;;) {
    if (await client.reachable()) {
      // The REST API answers before the plugins are listed by a joined worker: wait for Debezium too.
      const plugins = await client.plugins().catch(() => []);
      if (plugins.some((p) => p.class === 'io.debezium.connector.postgresql.PostgresConnector')) break;
    }
    const pid = runningConnectPid(paths);
    if (pid === undefined) {
      throw new ReconError(
        'SERVICE_UNAVAILABLE',
        `the Kafka Connect worker exited during start-up; last lines of ${paths.logFile}:\n${tail(paths.logFile, 25)}`,
      );
    }
    if (Date.now() > deadline)
      throw new ReconError('TIMEOUT', `the Kafka Connect worker (pid ${pid}) did not answer within ${timeoutMs / 1000} s; see ${paths.logFile}`);
    await sleep(500);
  }
  return { action: 'started', url: client.url, pid: runningConnectPid(paths) ?? -1, ms: Date.now() - started };
}

/** Stop the worker that `connectUp` started (by its pid), and only that one. `signal: 'SIGKILL'` kills it at once (tests of a crash). */
export async function connectDown({
  paths = localConnectPaths(),
  timeoutMs = 60_000,
  signal = 'SIGTERM',
}: { paths?: LocalConnectPaths; timeoutMs?: number; signal?: 'SIGTERM' | 'SIGKILL' } = {}): Promise<
  { action: 'stopped'; pid: number; forced: boolean } | { action: 'not-running' }
> {
  const pid = runningConnectPid(paths);
  if (pid === undefined) {
    rmSync(paths.pidFile, { force: true });
    return { action: 'not-running' };
  }
  process.kill(pid, signal);
  const deadline = Date.now() + timeoutMs;
  while (runningConnectPid(paths) !== undefined && Date.now() < deadline) await sleep(200);
  let forced = signal === 'SIGKILL';
  if (runningConnectPid(paths) !== undefined) {
    process.kill(pid, 'SIGKILL');
    forced = true;
    while (runningConnectPid(paths) !== undefined) await sleep(100);
  }
  rmSync(paths.pidFile, { force: true });
  return { action: 'stopped', pid, forced };
}

export interface ConnectServiceStatus {
  url: string;
  reachable: boolean;
  version: string | undefined;
  managedPid: number | undefined;
  logFile: string;
  jarsCached: boolean;
}

export async function connectStatus(config: Pick<Config, 'connect'>, paths = localConnectPaths()): Promise<ConnectServiceStatus> {
  const client = connectClient(config.connect.url, { timeoutMs: 3000 });
  const info = await client.info().catch(() => undefined);
  return {
    url: client.url,
    reachable: info !== undefined,
    version: info?.version,
    managedPid: runningConnectPid(paths),
    logFile: paths.logFile,
    jarsCached:
      existsSync(join(paths.libs, `.complete-${CONNECT_VERSION}`)) &&
      existsSync(join(paths.plugins, 'debezium-connector-postgres', `.complete-${DEBEZIUM_VERSION}`)),
  };
}
