/** The shared, bounded clients of one `recon doctor` run. */
import { Redis } from 'ioredis';
import { withTimeout, type Config } from '../../core/index.js';
import { connectForDiagnosis, type Knex } from '../../db/index.js';
import { createProbeKafka, type Admin, type KafkaClient, type Producer } from '../../streaming/index.js';
import type { DoctorContext } from './types.js';

/** Default bound of one check: long enough for a loaded machine to create the clock-probe topic, short enough not to look like a hang. */
export const DOCTOR_TIMEOUT_MS = 8000;

export function createDoctorContext(config: Config, { timeoutMs = DOCTOR_TIMEOUT_MS }: { timeoutMs?: number } = {}): DoctorContext {
  const pools = new Map<string, Knex>();
  let kafka: KafkaClient | undefined;
  let admin: Promise<Admin> | undefined;
  let producer: Promise<Producer> | undefined;
  let redis: Promise<Redis> | undefined;
  const closers: (() => Promise<unknown>)[] = [];

  const ctx: DoctorContext = {
    config,
    timeoutMs,
    postgres(url) {
      let db = pools.get(url);
      if (!db) {
        db = connectForDiagnosis(url, timeoutMs);
        pools.set(url, db);
        const pool = db;
        closers.push(() => pool.destroy());
      }
      return db;
    },
    kafka() {
      kafka ??= createProbeKafka(config, timeoutMs);
      return kafka;
    },
    kafkaAdmin() {
      admin ??= (async () => {
        const a = ctx.kafka().admin();
        closers.push(() => a.disconnect());
        await a.connect();
        return a;
      })();
      return admin;
    },
    kafkaProducer() {
      producer ??= (async () => {
        const p = ctx.kafka().producer({ allowAutoTopicCreation: false, retry: { retries: 1 } });
        closers.push(() => p.disconnect());
        await p.connect();
        return p;
      })();
      return producer;
    },
    redis() {
      redis ??= (async () => {
        const r = new Redis(config.redisUrl, {
          lazyConnect: true,
          connectTimeout: timeoutMs,
          commandTimeout: timeoutMs,
          maxRetriesPerRequest: 0,
          enableOfflineQueue: false,
          retryStrategy: () => null,
        });
        // The socket's error (ECONNREFUSED, …) arrives as an event; `connect()` itself only says the connection closed.
        let socketError: Error | undefined;
        r.on('error', (err: Error) => (socketError = err));
        closers.push(async () => r.disconnect());
        try {
          await r.connect();
        } catch (err) {
          throw socketError ?? err;
        }
        return r;
      })();
      return redis;
    },
    async close() {
      // Each closer bounded: a client stuck on a service that does not answer must not hold the command.
      await Promise.all(closers.map((close) => withTimeout(close(), timeoutMs, 'closing a doctor client').catch(() => undefined)));
    },
  };
  return ctx;
}
