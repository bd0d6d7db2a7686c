/** `GET /`: the server-rendered dashboard. */
import type { FastifyPluginAsync } from 'fastify';
import { loadDashboardData, renderDashboard } from '../dashboard.js';
import type { ApiDeps } from '../types.js';

export const dashboardRoutes: FastifyPluginAsync<Pick<ApiDeps, 'dbs'>> = async (app, { dbs }) => {
  app.get('/', async (_req, reply) => {
    const html = renderDashboard(await loadDashboardData(dbs));
    return reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  });
};
