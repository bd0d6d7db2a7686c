/**
 * Before any integration test: check that Postgres, Redis and Kafka answer,
 * and say plainly which one does not (and how to start it).
 */
import net from 'node:net';
import pg from 'pg';
import { Redis } from 'ioredis';
import { loadConfig } from '../core/index.js';
import { withDefaultUser } from '../db/index.js';
import { brokerReachable } from '../streaming/index.js';

export default async function setup(): Promise<void> {
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

  if (!(await brokerReachable(config.kafkaBrokers))) {
    const [host, port] = (config.kafkaBrokers[0] ?? '').split(':');
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(Number(port), host ?? '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    problems.push(
      `Kafka does not answer at ${config.kafkaBrokers.join(',')}${open ? ' (the port is open but the broker does not respond)' : ''}. Start it: npx recon services up`,
    );
  }

  if (problems.length > 0) {
    throw new Error(`integration tests need real services:\n  - ${problems.join('\n  - ')}`);
  }
}
