/** `GET /api/discrepancies`: filtered by run, kind, status and check, with cursor pagination. */
import type { FastifyPluginAsync } from 'fastify';
import { listDiscrepancies } from '../../../db/index.js';
import { listDiscrepanciesQuery, validate } from '../schemas.js';
import type { ApiDeps } from '../types.js';

export const discrepancyRoutes: FastifyPluginAsync<Pick<ApiDeps, 'dbs'>> = async (app, { dbs }) => {
  app.get('/api/discrepancies', async (req, reply) => {
    const v = validate(listDiscrepanciesQuery, req.query, 'query');
    if (!v.ok) return reply.code(400).send(v.error);
    const q = v.value;
    const page = await listDiscrepancies(dbs.recon, {
      limit: q.limit,
      ...(q.run ? { runId: q.run } : {}),
      ...(q.kind ? { kind: q.kind } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.check ? { check: q.check } : {}),
      ...(q.cursor ? { cursor: q.cursor } : {}),
    });
    return { items: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
  });
};
