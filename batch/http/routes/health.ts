/** `GET /healthz`: the recon database and Redis answer (no authentication). */
import type { FastifyPluginAsync } from 'fastify';
import { describeError } from '../../../core/index.js';
import { ping } from '../../../db/index.js';
import type { ApiDeps } from '../types.js';

export const healthRoutes: FastifyPluginAsync<Pick<ApiDeps, 'dbs' | 'runQueue'>> = async (app, { dbs, runQueue }) => {
  app.get('/healthz', { config: { public: true } }, async (_req, reply) => {
    try {
      await ping(dbs.recon);
      await runQueue.getJobCountByTypes('waiting');
      return { status: 'ok' };
    } catch (err) {
      return reply.code(503).send({ status: 'unavailable', message: describeError(err).message });
    }
  });
};
