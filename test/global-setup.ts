/**
 * Before any integration test: check that Postgres and Redis answer, and say
 * plainly which one does not (and how to start it). When no Kafka broker
 * answers at a local KAFKA_BROKERS, start the local broker the way
 * `recon services up` does, and stop it after the tests; a broker that was
 * already running is left alone.
 */
import net from 'node:net';
import pg from 'pg';
import { Redis } from 'ioredis';
import { loadConfig } from '../core/index.js';
import { withDefaultUser } from '../db/index.js';
import { localKafkaPaths, localListener, servicesDown, servicesUp } from '../services/local-kafka.js';
import { brokerReachable } from '../streaming/index.js';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  const config = loadConfig(process.env);
  const problems: string[] = [];

  const adminUrl = new URL(withDefaultUser(config.databases.recon));
  adminUrl.pathname = '/postgres';
  const client = new pg.Client({ connectionString: adminUrl.toString(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    problems.push(
      `PostgreSQL does not answer at ${adminUrl.host} (${(err as Error).message}). Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }

  const redis = new Redis(config.redisUrl, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    problems.push(
      `Redis does not answer at ${config.redisUrl} (${(err as Error).message}). Start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`,
    );
  } finally {
    redis.disconnect();
  }

  const brokers = config.kafkaBrokers.join(',');
  const kafkaUp = await brokerReachable(config.kafkaBrokers);
  const listener = localListener(config.kafkaBrokers);
  if (!kafkaUp && !listener.local) {
    problems.push(`Kafka does not answer at ${brokers}, and the tests start a broker only on this machine (KAFKA_BROKERS=127.0.0.1:<port>)`);
  } else if (!kafkaUp && (await portOpen(listener.host, listener.port))) {
    // Something holds the port (another broker still starting, another program): starting ours would only fail to bind.
    problems.push(`Kafka does not answer at ${brokers}: the port is open but the broker does not respond`);
  }

  if (problems.length > 0) {
    throw new Error(`integration tests need real services:\n  - ${problems.join('\n  - ')}`);
  }
  if (kafkaUp) return undefined;

  const paths = localKafkaPaths();
  process.stdout.write(`kafka: nothing answers at ${brokers}; starting the local broker (log: ${paths.logFile})\n`);
  let up: Awaited<ReturnType<typeof servicesUp>>;
  try {
    up = await servicesUp(config, { paths });
  } catch (err) {
    throw new Error(
      `integration tests need real services:\n  - Kafka does not answer at ${brokers}, and the local broker did not start: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (up.action === 'reachable') return undefined;
  process.stdout.write(`kafka: local broker started at ${brokers} (pid ${up.pid}) in ${(up.ms / 1000).toFixed(1)} s; it stops after the tests\n`);
  return async () => {
    const down = await servicesDown({ paths });
    if (down.action === 'stopped') process.stdout.write(`kafka: local broker (pid ${down.pid}) stopped\n`);
  };
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}
