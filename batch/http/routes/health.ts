/**
 * `GET /healthz`: the recon database and Redis answer (no authentication).
 * Each check is bounded (BullMQ waits for a Redis that is down without
 * limit); an answer names what is down, never its error text (database
 * names, hosts): that goes to the log.
 */
import type { FastifyPluginAsync } from 'fastify';
import { withTimeout } from '../../../core/index.js';
import { ping } from '../../../db/index.js';
import { throttledErrorLog } from '../../bullmq.js';
import type { ApiDeps } from '../types.js';

export interface HealthRouteOptions extends Pick<ApiDeps, 'dbs' | 'log' | 'runQueue'> {
  /** Each dependency check gives up after this many ms. */
  timeoutMs: number;
}

export const healthRoutes: FastifyPluginAsync<HealthRouteOptions> = async (app, { dbs, log, runQueue, timeoutMs }) => {
  const logDown = throttledErrorLog(log, 'healthz', {});
  const checks: Record<string, () => Promise<unknown>> = {
    postgres: () => ping(dbs.recon),
    redis: () => runQueue.getJobCountByTypes('waiting'),
  };
  app.get('/healthz', { config: { public: true } }, async (_req, reply) => {
    const results = await Promise.all(
      Object.entries(checks).map(([name, check]) =>
        withTimeout(check(), timeoutMs, name).then(
          () => undefined,
          (err: Error) => (logDown(new Error(`${name} is down: ${err.message}`)), name),
        ),
      ),
    );
    const down = results.filter((name) => name !== undefined);
    if (down.length) return reply.code(503).send({ status: 'unavailable', down });
    return { status: 'ok' };
  });
};
