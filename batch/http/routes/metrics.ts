/** `GET /metrics`: Prometheus text format, from the registry in ../metrics.ts. */
import type { FastifyPluginAsync } from 'fastify';
import { createMetricsRegistry } from '../metrics.js';
import type { ApiDeps } from '../types.js';

export const metricsRoutes: FastifyPluginAsync<Pick<ApiDeps, 'config' | 'dbs' | 'log' | 'admin' | 'alerts'>> = async (
  app,
  { config, dbs, log, admin, alerts },
) => {
  const registry = createMetricsRegistry({ config, dbs, log, ...(admin ? { admin } : {}), ...(alerts ? { alerts } : {}) });
  app.get('/metrics', async (_req, reply) => {
    const body = await registry.metrics();
    return reply.header('content-type', registry.contentType).send(body);
  });
};
