/**
 * `recon serve`: the HTTP API, the dashboard, Prometheus metrics and
 * bull-board, on fastify. This module builds the server: timeouts, security
 * headers (./security-headers.ts), the refusals of foreign hosts and sites
 * (./request-guard.ts), authentication (./auth.ts) and error handling as
 * hooks, then one plugin per route group (./routes/), and optionally a run
 * worker in the same process.
 */
import { randomUUID } from 'node:crypto';
import type { Queue, Worker } from 'bullmq';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { describeError } from '../../core/index.js';
import { createRunWorker, type RunJobData, type RunJobResult } from '../runs/index.js';
import { registerAuth } from './auth.js';
import { Csrf } from './csrf.js';
import { RateLimit } from './rate-limit.js';
import { consoleRoutes } from './routes/console.js';
import { registerRequestGuard } from './request-guard.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { discrepancyRoutes } from './routes/discrepancies.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { registerQueueBoard } from './routes/queues.js';
import { runRoutes } from './routes/runs.js';
import { setSecurityHeaders } from './security-headers.js';
import { DEFAULT_HTTP_LIMITS, type ApiDeps } from './types.js';

export interface RegisteredRoute {
  method: string;
  url: string;
}

const routesOf = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route the server registered (bull-board's included), in registration order. */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return routesOf.get(app) ?? [];
}

/** Body parsing problems (bad JSON, wrong content type, too large) name the body. */
const BODY_STATUSES = new Set([400, 413, 415]);

export async function createApiServer(deps: ApiDeps): Promise<FastifyInstance> {
  const { config, dbs, log, runQueue } = deps;
  const limits = { ...DEFAULT_HTTP_LIMITS, ...deps.limits };
  const publicHttps = config.api.publicUrl?.startsWith('https:') ?? false;
  const isSecure = (req: FastifyRequest) => publicHttps || req.protocol === 'https';

  const app = Fastify({
    logger: false,
    forceCloseConnections: true,
    // Node's defaults under fastify wait for ever on a slow body (requestTimeout 0).
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks the request timeouts on this interval (its default, 30 s, would double a 30 s timeout).
    http: {
      headersTimeout: Math.min(10_000, limits.requestTimeoutMs),
      connectionsCheckingInterval: Math.max(50, Math.min(2_000, Math.floor(limits.requestTimeoutMs / 4))),
    },
    // Request ids name a request in the log and in its 5xx answer; a client-sent id is never used.
    genReqId: () => randomUUID(),
    // Malformed URLs are answered before any hook runs: they get the headers here.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      reply.header('x-request-id', req.id);
      setSecurityHeaders(req, reply, { secure: isSecure(req) });
      void reply.code(400).send({ error: 'bad request', field: 'url', message: err.message });
    },
  });
  const routes: RegisteredRoute[] = [];
  routesOf.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });

  // Hook order matters: headers on every answer, then refusals, then authentication.
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    setSecurityHeaders(req, reply, { secure: isSecure(req) });
  });
  registerRequestGuard(app, { loopbackOnly: !config.api.token, publicUrl: config.api.publicUrl });
  registerAuth(app, { token: config.api.token, readToken: config.api.readToken, sessionSeconds: limits.sessionSeconds, isSecure });

  // Only JSON bodies: fastify also parses text/plain by default, which any web page may send cross-site without a preflight.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      if (status === 415) {
        return reply.code(415).send({
          error: 'bad request',
          field: 'body',
          message: `must be sent as content-type: application/json (got ${req.headers['content-type'] ?? 'none'})`,
        });
      }
      return reply.code(BODY_STATUSES.has(status) ? status : 400).send({ error: 'bad request', field: 'body', message: err.message });
    }
    // The cause (SQL, driver and host names) goes to the log only, under the id the client is given.
    // The route pattern, not the URL: a URL may carry ?token=.
    log.error({ err: describeError(err).message, requestId: req.id, method: req.method, route: req.routeOptions.url ?? null }, 'api: request failed');
    return reply.code(500).send({ error: 'internal error', requestId: req.id });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not found', message: `no route ${req.method} ${req.url.split('?')[0]}` }));

  await app.register(healthRoutes, { dbs, log, runQueue, timeoutMs: limits.healthCheckTimeoutMs });
  await app.register(metricsRoutes, { config, dbs, log, ...(deps.admin ? { admin: deps.admin } : {}), ...(deps.alerts ? { alerts: deps.alerts } : {}) });
  // One budget of run starts per client, whether from the API or the console.
  const runLimit = new RateLimit(config.api.runsPerMinute);
  await app.register(runRoutes, { config, dbs, log, runQueue, runLimit, ...(deps.compensationQueue ? { compensationQueue: deps.compensationQueue } : {}) });
  await app.register(discrepancyRoutes, { dbs });
  await app.register(dashboardRoutes, { dbs });
  await app.register(consoleRoutes, {
    config,
    dbs,
    log,
    runQueue,
    csrf: new Csrf(),
    runLimit,
    ...(deps.compensationQueue ? { compensationQueue: deps.compensationQueue } : {}),
    ...(deps.kafka ? { kafka: deps.kafka } : {}),
    ...(deps.admin ? { admin: deps.admin } : {}),
  });
  await registerQueueBoard(app, [runQueue as Queue, ...(deps.queues ?? [])], { readOnly: !config.api.token });

  // --- runs executed in this process ----------------------------------------
  let worker: Worker<RunJobData, RunJobResult> | undefined;
  if (deps.executeRun) {
    const stopRuns = new AbortController();
    worker = createRunWorker({
      config,
      dbs,
      log,
      executeRun: deps.executeRun,
      signal: stopRuns.signal,
      ...(deps.enqueue ? { enqueue: deps.enqueue } : {}),
      ...(deps.windows ? { windows: deps.windows } : {}),
      ...(deps.afterRun ? { afterRun: deps.afterRun } : {}),
      ...(deps.alerts ? { alerts: deps.alerts } : {}),
    });
    app.addHook('onClose', async () => {
      // A run in hand stops after its current window; the next run resumes from the watermark.
      stopRuns.abort();
      await worker?.close();
    });
  }
  return app;
}
