import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer, createRunQueue, createWebhookNotifier, executeRun, type Alert, type RunQueue } from '../../../batch/index.js';
import { CHECK_NAMES, silentLogger } from '../../../core/index.js';
import { hoursAgo, insertUsers, spread } from '../../helpers/drift.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';

const UVP = CHECK_NAMES.usersVsPoints;
const PUBLIC = 'https://recon.example.test/';

/** A real HTTP receiver: records every request body and answers with `answer(n)` (n = 1, 2, ...); `null` never answers. */
async function receiver(answer: (n: number) => number | null) {
  const bodies: string[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      bodies.push(body);
      const status = answer(bodies.length);
      if (status === null) hanging.push(res);
      else res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    url,
    bodies,
    async close() {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Webhook alerts from a real run to real HTTP receivers, and their count in /metrics. */
describe('webhook alerts', () => {
  let env: TestEnv;
  let runQueue: RunQueue;
  let app: FastifyInstance | undefined;

  beforeAll(async () => {
    env = await createTestEnv({
      env: { RECON_GRACE_SECONDS: '60', RECON_AUTO_COMPENSATE_LIMIT: '2', RECON_PUBLIC_URL: PUBLIC, REPORT_POLICY: 'never' },
    });
    runQueue = createRunQueue(env.config);
  });
  afterAll(async () => {
    await app?.close();
    await runQueue?.close();
    await env?.cleanup();
  });

  it('a receiver answering 500 twice then 200 gets the held alert once after 3 attempts; /metrics counts it', async () => {
    const hook = await receiver((n) => (n <= 2 ? 500 : 200));
    const alerts = createWebhookNotifier({ urls: [hook.url], baseDelayMs: 20, maxDelayMs: 200, log: silentLogger });
    try {
      const from = hoursAgo(8);
      const to = hoursAgo(6);
      await insertUsers(env.dbs.users, spread(new Date(from.getTime() + 60_000), 3600_000, 4));
      const summary = await executeRun({ config: env.config, dbs: env.dbs, log: silentLogger, alerts }, { checks: [UVP], trigger: 'test', from, to });
      expect(summary.held?.[UVP]?.compensable).toBe(4);
      expect(await alerts.flush(60_000)).toBe(true);

      expect(hook.bodies).toHaveLength(3);
      expect(new Set(hook.bodies).size).toBe(1);
      const alert = JSON.parse(hook.bodies[0]!) as Alert;
      expect(alert).toMatchObject({
        event: 'compensations.held',
        runId: summary.runId,
        status: 'completed',
        counts: { missing_grant: 4 },
        held: { total: 4, byCheck: { [UVP]: { reason: 'count', compensable: 4, kinds: { missing_grant: 4 } } } },
        failed: null,
        link: `${PUBLIC}runs/${summary.runId}`,
      });
      expect(alert.text).toContain(`held 4 compensations`);
      expect(alert.text).toContain(`<${PUBLIC}runs/${summary.runId}|open run>`);
      expect(alerts.counts).toEqual({ delivered: 1, retried: 2, failed: 0, dropped: 0 });

      app = await createApiServer({ config: env.config, dbs: env.dbs, log: silentLogger, runQueue, alerts });
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toContain('recon_webhook_deliveries_total{outcome="delivered"} 1');
      expect(metrics).toContain('recon_webhook_deliveries_total{outcome="retried"} 2');
      expect(metrics).toContain('recon_webhook_deliveries_total{outcome="failed"} 0');
    } finally {
      alerts.close();
      await hook.close();
    }
  }, 180_000);

  it('a receiver that never answers does not hold the run up; the alert is given up and counted failed', async () => {
    const dead = await receiver(() => null);
    const alerts = createWebhookNotifier({ urls: [dead.url], attempts: 2, baseDelayMs: 20, timeoutMs: 60_000, log: silentLogger });
    try {
      const from = hoursAgo(20);
      const to = hoursAgo(18);
      await insertUsers(env.dbs.users, spread(new Date(from.getTime() + 60_000), 3600_000, 1));
      const summary = await executeRun({ config: env.config, dbs: env.dbs, log: silentLogger, alerts }, { checks: [UVP], trigger: 'test', from, to });
      // The run is over (one missing grant, under the limit: run.drift) while its alert is still in flight.
      expect(summary.status).toBe('completed');
      expect(summary.queued).toHaveLength(1);
      await waitFor('the dead receiver got the alert', () => dead.bodies.length === 1, { timeoutMs: 30_000 });
      expect(JSON.parse(dead.bodies[0]!)).toMatchObject({ event: 'run.drift', runId: summary.runId, counts: { missing_grant: 1 } });
      expect(alerts.counts.delivered).toBe(0);
      expect(await alerts.flush(200)).toBe(false);
      alerts.close();
      await waitFor('the alert given up', () => alerts.counts.failed === 1, { timeoutMs: 30_000 });
      expect(alerts.counts.delivered).toBe(0);
    } finally {
      alerts.close();
      await dead.close();
    }
  }, 180_000);
});
