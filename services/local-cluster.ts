/**
 * Three real Kafka brokers on this machine (`recon services up --brokers 3`):
 * three KRaft nodes, each both broker and controller, so the controller quorum
 * has three voters and survives one node's death. Each node has its own
 * folder under `.cache/kafka/cluster/node-<id>/` (config, data, pid, log) and
 * shares the jars of the single broker (`.cache/kafka/libs/`).
 *
 * The brokers listen on the three addresses `KAFKA_BROKERS` lists, in order
 * (node ids 1, 2, 3); each node's controller listens on its broker port + 1.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReconError, UsageError, sleep, silentLogger, type Config, type Logger } from '../core/index.js';
import { liveBrokers } from '../streaming/index.js';
import {
  DEFAULT_HOME,
  fetchKafkaJars,
  formatStorage,
  localKafkaPaths,
  randomClusterId,
  requireJava,
  runningBrokerPid,
  servicesDown,
  spawnBroker,
  tail,
  writeBrokerConfig,
  type LocalKafkaPaths,
} from './local-kafka.js';

/** Brokers in the local cluster. */
export const CLUSTER_SIZE = 3;

/**
 * Heap of each cluster node. Three nodes at 384 MiB max take, measured on an
 * idle cluster with our topics, about 950 MiB resident together (see the
 * README's "Running a cluster locally").
 */
export const CLUSTER_NODE_HEAP = { min: '128m', max: '384m' } as const;

/**
 * Three JVMs start at once on a small machine: the client compiler alone
 * (no C2) roughly halves a node's start-up CPU, which is what a restart after
 * a failover waits for; a broker of a local test cluster never runs long
 * enough to miss C2's peak speed.
 */
export const CLUSTER_NODE_JVM_FLAGS = ['-XX:TieredStopAtLevel=1'] as const;

export const DEFAULT_CLUSTER_HOME = join(DEFAULT_HOME, 'cluster');

export interface ClusterNode {
  /** KRaft `node.id`, 1-based, in the order of `KAFKA_BROKERS`. */
  id: number;
  /** `127.0.0.1:<port>` as listed. */
  address: string;
  port: number;
  controllerPort: number;
  paths: LocalKafkaPaths;
}

export interface ClusterOptions {
  log?: Logger;
  /** Folder holding `node-<id>/` and `cluster.id`. Tests pass their own. */
  home?: string;
  /** The jars (shared with the single broker). */
  libs?: string;
  /** How long `clusterUp` waits for all three brokers. Default 180 s. */
  timeoutMs?: number;
  /** Extra `server.properties` for every node (a test's replication tuning). */
  brokerProperties?: Record<string, string>;
}

/**
 * The nodes `brokers` describes. Anything but three distinct loopback
 * addresses whose controller ports (port + 1) are free of the broker ports is
 * a usage error naming `KAFKA_BROKERS`.
 */
export function clusterLayout(brokers: readonly string[], home = DEFAULT_CLUSTER_HOME, libs = join(DEFAULT_HOME, 'libs')): ClusterNode[] {
  const why = (reason: string) =>
    new UsageError(
      `KAFKA_BROKERS=${brokers.join(',')} ${reason}; --brokers ${CLUSTER_SIZE} needs ${CLUSTER_SIZE} local addresses, e.g. KAFKA_BROKERS=127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292`,
    );
  if (brokers.length !== CLUSTER_SIZE) throw why(`lists ${brokers.length} address${brokers.length === 1 ? '' : 'es'}`);
  const nodes = brokers.map((address, i) => {
    const at = address.lastIndexOf(':');
    const host = address.slice(0, at);
    const port = Number(address.slice(at + 1));
    if (!['127.0.0.1', 'localhost'].includes(host)) throw why(`names ${host}, not this machine (127.0.0.1 or localhost)`);
    if (!Number.isInteger(port) || port < 1 || port > 65534) throw why(`has port ${address.slice(at + 1)} (1..65534 needed: the controller takes port + 1)`);
    return { id: i + 1, address, port, controllerPort: port + 1, paths: localKafkaPaths(join(home, `node-${i + 1}`), libs) };
  });
  const taken = new Set<number>();
  for (const n of nodes) {
    for (const p of [n.port, n.controllerPort]) {
      if (taken.has(p)) throw why(`puts two listeners on port ${p} (each broker also takes port + 1 for its controller)`);
      taken.add(p);
    }
  }
  return nodes;
}

function voters(nodes: readonly ClusterNode[]): string {
  return nodes.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(',');
}

function clusterId(home: string, anyNode: ClusterNode): string {
  const file = join(home, 'cluster.id');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(home, { recursive: true });
  const id = randomClusterId(anyNode.paths);
  writeFileSync(file, id);
  return id;
}

/**
 * Start `node` unless its JVM already runs (config written, storage formatted
 * on first start with the cluster's id). Used by `clusterUp` and by tests that
 * bring back a node they killed. Returns the node's pid.
 */
export function startClusterNode(node: ClusterNode, nodes: readonly ClusterNode[], options: ClusterOptions = {}): number {
  const running = runningBrokerPid(node.paths);
  if (running !== undefined) return running;
  const home = options.home ?? DEFAULT_CLUSTER_HOME;
  const files = writeBrokerConfig(node.paths, {
    id: node.id,
    port: node.port,
    controllerPort: node.controllerPort,
    voters: voters(nodes),
    clusterSize: nodes.length,
    extra: options.brokerProperties,
  });
  formatStorage(node.paths, files.properties, clusterId(home, node));
  const pid = spawnBroker(node.paths, files, CLUSTER_NODE_HEAP, CLUSTER_NODE_JVM_FLAGS);
  options.log?.info({ node: node.id, pid, log: node.paths.logFile }, 'local Kafka cluster node starting');
  return pid;
}

export type ClusterUpResult =
  { action: 'reachable'; brokers: string[]; pids: (number | undefined)[] } | { action: 'started'; brokers: string[]; pids: (number | undefined)[]; ms: number };

/**
 * Make sure three brokers answer at `config.kafkaBrokers`: start the nodes of
 * the local cluster that do not run, and wait until the cluster reports all
 * three brokers alive. Nothing is started when all three already answer.
 */
export async function clusterUp(config: Pick<Config, 'kafkaBrokers'>, options: ClusterOptions = {}): Promise<ClusterUpResult> {
  const started = Date.now();
  const { log = silentLogger, timeoutMs = 180_000 } = options;
  const nodes = clusterLayout(config.kafkaBrokers, options.home, options.libs);
  const pids = () => nodes.map((n) => runningBrokerPid(n.paths));
  if ((await liveBrokers(config.kafkaBrokers)).length >= CLUSTER_SIZE) {
    return { action: 'reachable', brokers: config.kafkaBrokers, pids: pids() };
  }
  requireJava();
  fetchKafkaJars(nodes[0]!.paths, log);
  for (const node of nodes) startClusterNode(node, nodes, options);
  await waitForClusterNodes(config.kafkaBrokers, nodes, { timeoutMs, since: started });
  return { action: 'started', brokers: config.kafkaBrokers, pids: pids(), ms: Date.now() - started };
}

/** Wait until every node of `nodes` is alive in the cluster's own view; fail early when one of their JVMs exits. */
export async function waitForClusterNodes(
  brokers: string[],
  nodes: readonly ClusterNode[],
  { timeoutMs = 180_000, since = Date.now() }: { timeoutMs?: number; since?: number } = {},
): Promise<void> {
  const deadline = since + timeoutMs;
  for (;;) {
    const live = new Set((await liveBrokers(brokers, 2000)).map((b) => b.nodeId));
    if (nodes.every((n) => live.has(n.id))) return;
    const dead = nodes.find((n) => runningBrokerPid(n.paths) === undefined);
    if (dead) {
      throw new ReconError(
        'SERVICE_UNAVAILABLE',
        `Kafka cluster node ${dead.id} (${dead.address}) exited during start-up; first errors and last lines of ${dead.paths.logFile}:\n${firstErrors(dead.paths.logFile)}\n…\n${tail(dead.paths.logFile, 10)}`,
      );
    }
    if (Date.now() > deadline) {
      throw new ReconError('TIMEOUT', `the local Kafka cluster did not report nodes ${nodes.map((n) => n.id).join(', ')} alive within ${timeoutMs / 1000} s`);
    }
    await sleep(500);
  }
}

/** The node folders that exist under `home` (whatever KAFKA_BROKERS says now). */
export function clusterNodePaths(home = DEFAULT_CLUSTER_HOME, libs = join(DEFAULT_HOME, 'libs')): LocalKafkaPaths[] {
  return Array.from({ length: CLUSTER_SIZE }, (_, i) => localKafkaPaths(join(home, `node-${i + 1}`), libs)).filter((p) => existsSync(p.home));
}

/** Stop every node of the local cluster that runs (each by its pid). */
export async function clusterDown({ home = DEFAULT_CLUSTER_HOME, timeoutMs = 60_000 }: { home?: string; timeoutMs?: number } = {}) {
  const nodes = clusterNodePaths(home);
  return Promise.all(nodes.map(async (paths) => ({ home: paths.home, ...(await servicesDown({ paths, timeoutMs })) })));
}

export interface BrokerStatus {
  /** As listed in KAFKA_BROKERS. */
  address: string;
  /** The cluster reports a live broker advertising this address. */
  alive: boolean;
  /** Its node id, when alive. */
  nodeId: number | undefined;
  /** The pid of the local JVM serving this address, when recon started it. */
  managedPid: number | undefined;
  /** That JVM's log, when recon manages this address. */
  logFile: string | undefined;
}

/** The broker a local node folder serves, from its generated `server.properties`. */
function servedAddress(paths: LocalKafkaPaths): string | undefined {
  try {
    const props = readFileSync(join(paths.config, 'server.properties'), 'utf8');
    return /^advertised\.listeners=PLAINTEXT:\/\/(.+)$/m.exec(props)?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/**
 * One line per address of KAFKA_BROKERS: alive in the cluster's view or not,
 * and which local JVM (the single broker's or a cluster node's) serves it.
 */
export async function brokerStatuses(
  config: Pick<Config, 'kafkaBrokers'>,
  { single = localKafkaPaths(), home = DEFAULT_CLUSTER_HOME }: { single?: LocalKafkaPaths; home?: string } = {},
): Promise<BrokerStatus[]> {
  const live = await liveBrokers(config.kafkaBrokers);
  const local = [single, ...clusterNodePaths(home)];
  const norm = (a: string) => a.replace(/^localhost:/, '127.0.0.1:');
  return config.kafkaBrokers.map((address) => {
    const node = live.find((b) => norm(b.address) === norm(address));
    const paths = local.find((p) => {
      const served = servedAddress(p);
      return served !== undefined && norm(served) === norm(address);
    });
    return {
      address,
      alive: node !== undefined,
      nodeId: node?.nodeId,
      managedPid: paths ? runningBrokerPid(paths) : undefined,
      logFile: paths?.logFile,
    };
  });
}

/** The first ERROR lines of a broker log (why it stopped is there, not in the shutdown at its end). */
function firstErrors(file: string): string {
  try {
    const errors = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /\] (ERROR|FATAL) /.test(l));
    return errors.slice(0, 5).join('\n') || '(no ERROR line)';
  } catch {
    return '(no log)';
  }
}
