/**
 * Root cause: `recon stream consume` waited only for a signal, so a consumer kafkajs had given up on (a crash with
 * `restart: false`, or restarts that can never succeed) left the process alive and idle, lag growing unseen; and
 * nothing outside the process could ask whether its consumers ran.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUPS, namespaced } from '../../core/index.js';
import { createProducer, sendLocated } from '../../streaming/index.js';
import { exited, spawnCli } from '../helpers/cli.js';
import { createTestEnv, unusedPort, waitFor, type TestEnv } from '../helpers/env.js';

interface Health {
  status: string;
  groups: Record<string, { state: string; error?: { message: string }; batches: number }>;
}

describe('recon stream consume with a consumer that stops for good', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => env?.cleanup());

  it('reports it on /healthz and exits non-zero', async () => {
    const port = await unusedPort();
    const url = `http://127.0.0.1:${port}`;
    const pointService = namespaced(env.config, CONSUMER_GROUPS.pointService);
    // A failure no retry can fix: the point service cannot record a dead letter (its table is gone).
    await env.dbs.points.raw('alter table dead_letters rename to dead_letters_gone');
    const child = spawnCli(env.config, ['stream', 'consume', '--progress-interval', '0'], { RECON_CONSUME_HEALTH_PORT: String(port) });
    try {
      await waitFor(
        'both consumers running',
        async () => {
          const r = await fetch(`${url}/healthz`).catch(() => undefined);
          if (r?.status !== 200) return false;
          const body = (await r.json()) as Health;
          return Object.values(body.groups).filter((g) => g.state === 'running').length === 2;
        },
        { timeoutMs: 60_000 },
      );
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain(`recon_consumer_up{group="${pointService}"} 1`);
      expect(metrics).toContain(`recon_consumer_dlt_send_failures_total{group="${pointService}"} 0`);

      const producer = createProducer(env.kafka);
      await producer.connect();
      await sendLocated(producer, [{ topic: env.topics.userCreated, message: { key: 'k', value: '{not json' } }]);
      await producer.disconnect();

      // kafkajs retries the batch, then gives up on the consumer; the process says so while it shuts down.
      let failing: Health | undefined;
      await waitFor(
        '/healthz to answer 503',
        async () => {
          const r = await fetch(`${url}/healthz`).catch(() => undefined);
          if (r?.status === 503) failing = (await r.json()) as Health;
          return failing !== undefined || child.exitCode !== null;
        },
        { timeoutMs: 90_000, intervalMs: 20 },
      );
      expect(failing?.status).toBe('failing');
      expect(failing?.groups[pointService]).toMatchObject({ state: 'crashed' });
      expect(failing?.groups[pointService]?.error?.message).toMatch(/dead_letters/);

      const { code } = await exited(child);
      expect(code).toBe(1);
      expect(child.output()).toContain(`consumer ${pointService} stopped for good`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
