/**
 * The Debezium relay: one Debezium Postgres connector per outbox (users →
 * `user.created`, points → `point.granted`), its Outbox Event Router mapped
 * onto recon's outbox table as it is, so that consumers cannot tell its
 * messages from the polling relay's: key = `message_key`, header `id` = the
 * event id, value = the payload JSON, topic = the `topic` column.
 *
 * What the router cannot do the same way: the polling relay also sends every
 * key of the outbox `headers` jsonb as a header of its own; the router can only
 * place a column as one header. recon's producers write `{"id": <event id>}`
 * there, which the router's own `id` header already carries, so the messages
 * agree; other keys a producer might add are not sent by Debezium.
 */
import { ReconError, connectDatabaseUrls, namespaced, silentLogger, type Config, type Logger, type SourceDatabase } from '../../core/index.js';
import {
  CDC_HEARTBEAT_QUERY,
  CDC_HEARTBEAT_TABLE,
  connect,
  dropHeartbeatTableIfUnused,
  dropPublication,
  dropReplicationSlot,
  ensureOutboxPublication,
  publicationTables,
  replicationSlots,
  walLevel,
  withDefaultUser,
  type Knex,
  type ReplicationSlot,
} from '../../db/index.js';
import { createKafka } from '../kafka.js';
import { connectClient, type ConnectClient, type ConnectState } from './connect-rest.js';
import { ensureTopicSpecs } from './connect-topics.js';

export const OUTBOX_DATABASES = ['users', 'points'] as const satisfies readonly SourceDatabase[];

/** Base of the heartbeat topics' prefix (namespaced, so an environment's topics all start with its namespace): the topic is `<namespace.>recon-heartbeat.<connector>`. */
const HEARTBEAT_PREFIX = 'recon-heartbeat';
/** How often each connector emits a heartbeat and confirms its position to the server, so the slot advances on a quiet outbox. */
export const HEARTBEAT_INTERVAL_MS = 10_000;

export interface OutboxConnectorNames {
  database: SourceDatabase;
  /** `<namespace.>users-outbox`. */
  connector: string;
  /** Debezium's `topic.prefix` (the change events' topic names start with it; the router renames them). */
  topicPrefix: string;
  /** `recon_<namespace>_users_outbox`: lower case, digits and `_` only, at most 63 bytes (a valid slot name). */
  slot: string;
  publication: string;
  /** Debezium's `topic.heartbeat.prefix`. */
  heartbeatPrefix: string;
  heartbeatTopic: string;
}

/** A replication slot or publication name: `[a-z0-9_]`, at most 63 characters. */
function pgName(config: Pick<Config, 'namespace'>, database: SourceDatabase): string {
  const ns = config.namespace ? `${config.namespace.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_` : '';
  return `recon_${ns}${database}_outbox`.slice(0, 63);
}

export function outboxConnectorNames(config: Pick<Config, 'namespace'>, database: SourceDatabase): OutboxConnectorNames {
  const connector = namespaced(config, `${database}-outbox`);
  return {
    database,
    connector,
    topicPrefix: connector,
    slot: pgName(config, database),
    publication: pgName(config, database),
    heartbeatPrefix: namespaced(config, HEARTBEAT_PREFIX),
    heartbeatTopic: `${namespaced(config, HEARTBEAT_PREFIX)}.${connector}`,
  };
}

/** Host, port, database, user and password of a postgres:// URL, as Debezium wants them. */
export function connectionFields(url: string): Record<string, string> {
  const u = new URL(withDefaultUser(url));
  return {
    'database.hostname': u.hostname.replace(/^\[|\]$/g, ''),
    'database.port': u.port || '5432',
    'database.dbname': decodeURIComponent(u.pathname.slice(1)),
    'database.user': decodeURIComponent(u.username),
    ...(u.password ? { 'database.password': decodeURIComponent(u.password) } : {}),
  };
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The connector's configuration. Settings that matter:
 * - `pgoutput` (built into Postgres) and a publication of `public.outbox`
 *   only, for inserts only (recon creates it; updates and deletes of outbox
 *   rows never reach the router);
 * - `snapshot.mode=no_data`: stream from the slot's creation, never re-send
 *   the table's history (rows written before the first registration are not
 *   relayed: reconciliation finds them, the compensation republishes them);
 * - String converters: the key is `message_key` as text, the value the
 *   payload's JSON text (jsonb re-serialized by Postgres: same keys, types and
 *   nulls, maybe another key order and spacing);
 * - the router applies to the outbox's change events only (a predicate on the
 *   topic name), so heartbeat records pass through to the heartbeat topic.
 */
export function outboxConnectorConfig(names: OutboxConnectorNames, databaseUrl: string): Record<string, string> {
  return {
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'tasks.max': '1',
    ...connectionFields(databaseUrl),
    'plugin.name': 'pgoutput',
    'slot.name': names.slot,
    'publication.name': names.publication,
    'publication.autocreate.mode': 'disabled',
    'table.include.list': `public.outbox,public.${CDC_HEARTBEAT_TABLE}`,
    'snapshot.mode': 'no_data',
    'topic.prefix': names.topicPrefix,
    'tombstones.on.delete': 'false',
    // Else every message also carries __debezium.context.* headers.
    'extended.headers.enabled': 'false',
    'heartbeat.interval.ms': String(HEARTBEAT_INTERVAL_MS),
    // A heartbeat alone does not move the slot past other tables' WAL (pgoutput sends nothing for them): write a row it sees.
    'heartbeat.action.query': CDC_HEARTBEAT_QUERY,
    'topic.heartbeat.prefix': names.heartbeatPrefix,
    'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
    'value.converter': 'org.apache.kafka.connect.storage.StringConverter',
    predicates: 'outboxTable,heartbeatTable',
    'predicates.outboxTable.type': 'org.apache.kafka.connect.transforms.predicates.TopicNameMatches',
    'predicates.outboxTable.pattern': `${escapeRegex(names.topicPrefix)}\\.public\\.outbox`,
    'predicates.heartbeatTable.type': 'org.apache.kafka.connect.transforms.predicates.TopicNameMatches',
    'predicates.heartbeatTable.pattern': `${escapeRegex(names.topicPrefix)}\\.public\\.${CDC_HEARTBEAT_TABLE}`,
    // The heartbeat table's rows have done their work once read: they reach no topic.
    transforms: 'dropHeartbeatRows,outbox',
    'transforms.dropHeartbeatRows.type': 'org.apache.kafka.connect.transforms.Filter',
    'transforms.dropHeartbeatRows.predicate': 'heartbeatTable',
    'transforms.outbox.type': 'io.debezium.transforms.outbox.EventRouter',
    'transforms.outbox.predicate': 'outboxTable',
    'transforms.outbox.table.field.event.id': 'event_id',
    'transforms.outbox.table.field.event.key': 'message_key',
    'transforms.outbox.table.field.event.payload': 'payload',
    'transforms.outbox.route.by.field': 'topic',
    'transforms.outbox.route.topic.replacement': '${routedByValue}',
  };
}

/** `wal_level` must be `logical` for CDC: the plain refusal `recon connect register` gives otherwise. */
export function walLevelProblem(level: string, database: SourceDatabase): string | undefined {
  if (level === 'logical') return undefined;
  return `the ${database} database's server runs with wal_level=${level}; Debezium needs wal_level=logical (ALTER SYSTEM SET wal_level = logical, then restart Postgres; also max_replication_slots and max_wal_senders of at least 2 more than in use)`;
}

export interface CdcOptions {
  client?: ConnectClient;
  log?: Logger;
  /** Connectors to act on; default both. */
  databases?: readonly SourceDatabase[];
}

function withConnectDb<T>(config: Config, database: SourceDatabase, fn: (db: Knex) => Promise<T>): Promise<T> {
  const db = connect(connectDatabaseUrls(config)[database], { max: 1, applicationName: 'recon-connect' });
  return fn(db).finally(() => db.destroy());
}

export interface RegisterResult {
  connector: string;
  action: 'created' | 'updated';
  publication: 'created' | 'exists';
  slot: string;
}

/**
 * Create or update (idempotent) the outbox connectors: refuse when
 * `wal_level` is not `logical`, create the publication and the heartbeat
 * topic when missing, then `PUT /connectors/<name>/config`.
 */
export async function registerOutboxConnectors(
  config: Config,
  { client = connectClient(config.connect.url), log = silentLogger, databases = OUTBOX_DATABASES }: CdcOptions = {},
): Promise<RegisterResult[]> {
  for (const database of databases) {
    const problem = walLevelProblem(await withConnectDb(config, database, walLevel), database);
    if (problem) throw new ReconError('SERVER_MISCONFIGURED', `recon connect register: ${problem}`);
  }
  if (!(await client.reachable()))
    throw new ReconError(
      'SERVICE_UNAVAILABLE',
      `Kafka Connect at ${client.url} (KAFKA_CONNECT_URL) does not answer: start it with \`recon services up --connect\``,
    );
  const all = databases.map((d) => outboxConnectorNames(config, d));
  const kafka = createKafka(config, { clientId: 'recon-connect', logger: log });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopicSpecs(
      admin,
      all.map((n) => ({ topic: n.heartbeatTopic, partitions: 1, compact: false })),
    );
  } finally {
    await admin.disconnect();
  }
  const results: RegisterResult[] = [];
  for (const names of all) {
    const url = connectDatabaseUrls(config)[names.database];
    const publication = await withConnectDb(config, names.database, (db) => ensureOutboxPublication(db, names.publication));
    const { created } = await client.putConfig(names.connector, outboxConnectorConfig(names, url));
    log.info({ connector: names.connector, created, publication }, 'outbox connector registered');
    results.push({ connector: names.connector, action: created ? 'created' : 'updated', publication, slot: names.slot });
  }
  return results;
}

export interface ConnectorReport {
  connector: string;
  /** `MISSING` when Connect does not know the connector. */
  state: ConnectState | 'MISSING';
  tasks: { id: number; state: ConnectState; trace?: string }[];
  slot: string;
  slotActive: boolean | undefined;
  /** WAL between the server's current position and the slot's confirmed one, bytes; undefined when the slot does not exist. */
  lagBytes: number | undefined;
  retainedBytes: number | undefined;
  publicationTables: string[] | undefined;
}

/** Each connector's and task's state, and its slot's lag in bytes. */
export async function outboxConnectorStatus(
  config: Config,
  { client = connectClient(config.connect.url), databases = OUTBOX_DATABASES }: CdcOptions = {},
): Promise<ConnectorReport[]> {
  const reports: ConnectorReport[] = [];
  for (const database of databases) {
    const names = outboxConnectorNames(config, database);
    const status = await client.status(names.connector);
    const { slot, tables } = await withConnectDb(config, database, async (db) => ({
      slot: (await replicationSlots(db, [names.slot]))[0] as ReplicationSlot | undefined,
      tables: await publicationTables(db, names.publication),
    }));
    reports.push({
      connector: names.connector,
      state: status?.connector.state ?? 'MISSING',
      tasks: (status?.tasks ?? []).map((t) => ({ id: t.id, state: t.state, ...(t.trace ? { trace: t.trace.split('\n')[0] } : {}) })),
      slot: names.slot,
      slotActive: slot?.active,
      lagBytes: slot?.lagBytes ?? undefined,
      retainedBytes: slot?.retainedBytes ?? undefined,
      publicationTables: tables,
    });
  }
  return reports;
}

export interface RemoveResult {
  connector: string;
  deleted: boolean;
  slot: 'dropped' | 'absent' | 'active';
  publication: 'dropped' | 'absent';
}

/**
 * Delete the connectors, then drop their slots (once the task has let go,
 * within `slotTimeoutMs`) and publications. Deleting a connector alone leaves
 * its slot behind, and a slot nobody reads holds WAL for ever.
 */
export async function removeOutboxConnectors(
  config: Config,
  {
    client = connectClient(config.connect.url),
    log = silentLogger,
    databases = OUTBOX_DATABASES,
    slotTimeoutMs = 60_000,
  }: CdcOptions & { slotTimeoutMs?: number } = {},
): Promise<RemoveResult[]> {
  const all = databases.map((d) => outboxConnectorNames(config, d));
  const deleted = new Map<string, boolean>();
  for (const names of all) deleted.set(names.connector, await client.remove(names.connector));
  const results: RemoveResult[] = [];
  for (const names of all) {
    const { slot, publication } = await withConnectDb(config, names.database, async (db) => {
      const deadline = Date.now() + slotTimeoutMs;
      let slot = await dropReplicationSlot(db, names.slot);
      while (slot === 'active' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        slot = await dropReplicationSlot(db, names.slot);
      }
      const publication = await dropPublication(db, names.publication);
      await dropHeartbeatTableIfUnused(db);
      return { slot, publication };
    });
    if (slot === 'active') log.warn({ slot: names.slot }, 'replication slot still in use: not dropped');
    results.push({ connector: names.connector, deleted: deleted.get(names.connector) ?? false, slot, publication });
  }
  return results;
}
