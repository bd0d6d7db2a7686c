/**
 * `recon serve`: the HTTP API, the dashboard, Prometheus metrics and
 * bull-board, on fastify.
 *
 * Authentication: with `RECON_API_TOKEN` set, every route but `/healthz`
 * needs `Authorization: Bearer <token>`. Browsers can instead open any page
 * once with `?token=<token>`: the server answers with an HttpOnly,
 * SameSite=Strict cookie and redirects to the same page without the token;
 * the cookie then authenticates the dashboard and bull-board. Without a
 * token the server listens on 127.0.0.1 only and lets every local request in
 * (bull-board is then read-only).
 *
 * `POST /api/runs` queues the run and answers 202 with its id at once. If
 * another run holds one of its checks, the run ends `skipped` with the
 * reason in `GET /api/runs/:id` (the per-check lock is only known when the
 * run starts, so no 409 is promised). Its `email` flag: `true` delivers the
 * report whatever `REPORT_POLICY` says (e-mail when SMTP is configured, else
 * files), `false` none, absent: the policy decides.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue, Worker } from 'bullmq';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { describeError, type Config, type Logger } from '../../core/index.js';
import {
  getRunRow,
  getRunWindowDetails,
  listDiscrepancies,
  listRuns,
  runDiscrepancyStatusCounts,
  type Databases,
} from '../../db/index.js';
import type { Admin } from '../../streaming/index.js';
import { listDiscrepanciesQuery, listRunsQuery, runIdParams, startRunBody, validate } from './schemas.js';
import { loadDashboardData, renderDashboard } from './dashboard.js';
import { createMetricsRegistry } from './metrics.js';
import { runTotal } from '../report/index.js';
import { createRunWorker, queueRun, type AfterRun, type ExecuteRun, type RunJobData, type RunJobResult, type RunQueue } from '../runs/index.js';
import type { EnqueueCompensations } from '../runs/index.js';

export interface ApiDeps {
  config: Config;
  dbs: Databases;
  log: Logger;
  /** Where `POST /api/runs` queues runs. */
  runQueue: RunQueue;
  /** Shown in bull-board besides the run queue (the compensation queue). */
  queues?: Queue[];
  /** For consumer lag in metrics and reports. */
  admin?: Admin;
  /**
   * When given, the server also runs queued runs itself (a run-queue worker
   * in this process, closed with the server); otherwise `recon worker` does.
   */
  executeRun?: ExecuteRun;
  /** Passed to runs executed in this process. */
  enqueue?: EnqueueCompensations;
  /** After each run executed in this process (the CLI hands in the report's delivery). */
  afterRun?: AfterRun;
}

export const TOKEN_COOKIE = 'recon_token';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== name) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      return undefined; // malformed escape: no credential, so a 401 rather than a 500
    }
  }
  return undefined;
}

/** Where the server listens: anywhere with a token, loopback only without. */
export function listenHost(config: Pick<Config, 'api'>): string {
  return config.api.token ? '0.0.0.0' : '127.0.0.1';
}

export async function createApiServer(deps: ApiDeps): Promise<FastifyInstance> {
  const { config, dbs, log, runQueue } = deps;
  const token = config.api.token;
  const app = Fastify({ logger: false, forceCloseConnections: true });

  // --- authentication -------------------------------------------------------
  if (token) {
    const expected = digest(token);
    const matches = (presented: string | undefined) => presented !== undefined && timingSafeEqual(digest(presented), expected);
    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      const url = new URL(req.url, 'http://recon.invalid');
      if (url.pathname === '/healthz') return;
      const auth = req.headers.authorization;
      const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
      if (matches(bearer) || matches(cookieValue(req.headers.cookie, TOKEN_COOKIE))) return;
      const fromQuery = url.searchParams.get('token') ?? undefined;
      if (matches(fromQuery) && req.method === 'GET') {
        url.searchParams.delete('token');
        return reply
          .header('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(fromQuery!)}; HttpOnly; SameSite=Strict; Path=/`)
          .redirect(url.pathname + url.search, 303);
      }
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="recon"')
        .send({ error: 'unauthorized', message: 'send Authorization: Bearer <RECON_API_TOKEN> (browsers: open any page once with ?token=<RECON_API_TOKEN>)' });
    });
  }

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // Body parsing errors (malformed JSON, wrong content type) name the body.
      return reply.code(status === 415 ? 415 : 400).send({ error: 'bad request', field: 'body', message: err.message });
    }
    log.error({ err: describeError(err).message, url: req.url }, 'api: request failed');
    return reply.code(500).send({ error: 'internal error', message: describeError(err).message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not found', message: `no route ${req.method} ${req.url.split('?')[0]}` }));

  // --- health and metrics ---------------------------------------------------
  app.get('/healthz', async (_req, reply) => {
    try {
      await dbs.recon.raw('select 1');
      await runQueue.getJobCountByTypes('waiting');
      return { status: 'ok' };
    } catch (err) {
      return reply.code(503).send({ status: 'unavailable', message: describeError(err).message });
    }
  });

  const registry = createMetricsRegistry({ config, dbs, log, ...(deps.admin ? { admin: deps.admin } : {}) });
  app.get('/metrics', async (_req, reply) => {
    const body = await registry.metrics();
    return reply.header('content-type', registry.contentType).send(body);
  });

  // --- runs -----------------------------------------------------------------
  app.post('/api/runs', async (req, reply) => {
    const v = validate(startRunBody, req.body, 'body');
    if (!v.ok) return reply.code(400).send(v.error);
    const b = v.value;
    const queued = await queueRun(runQueue, {
      trigger: 'api',
      checks: b.checks,
      ...(b.from ? { from: b.from } : {}),
      ...(b.to ? { to: b.to } : {}),
      dryRun: b.dryRun,
      ...(b.email !== undefined ? { email: b.email } : {}),
    });
    log.info({ runId: queued.runId, checks: b.checks }, 'api: run queued');
    return reply
      .code(202)
      .header('location', `/api/runs/${queued.runId}`)
      .send({ runId: queued.runId, status: 'queued', checks: b.checks, dryRun: b.dryRun, links: { self: `/api/runs/${queued.runId}` } });
  });

  app.get('/api/runs', async (req, reply) => {
    const v = validate(listRunsQuery, req.query, 'query');
    if (!v.ok) return reply.code(400).send(v.error);
    const page = await listRuns(dbs.recon, v.value);
    return {
      items: page.items.map((r) => ({ ...r, total: runTotal(r) })),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    };
  });

  app.get('/api/runs/:id', async (req, reply) => {
    const v = validate(runIdParams, req.params, 'id');
    if (!v.ok) return reply.code(400).send(v.error);
    const id = v.value.id;
    const run = await getRunRow(dbs.recon, id);
    if (!run) {
      // Queued but not started yet: the job knows it.
      const job = await runQueue.getJob(`run-${id}`);
      if (!job) return reply.code(404).send({ error: 'not found', message: `no run ${id}` });
      const state = await job.getState();
      return { id, status: state === 'failed' ? 'failed' : 'queued', error: job.failedReason ?? null, checks: job.data.checks, trigger: job.data.trigger };
    }
    const [windows, statusCounts] = await Promise.all([getRunWindowDetails(dbs.recon, id), runDiscrepancyStatusCounts(dbs.recon, id)]);
    const countsByKind: Record<string, number> = {};
    for (const kinds of Object.values(run.counts ?? {})) for (const [k, n] of Object.entries(kinds ?? {})) countsByKind[k] = (countsByKind[k] ?? 0) + (Number(n) || 0);
    const progress = { detected: 0, queued: 0, resolved: 0, failed: 0 };
    const byKind: Record<string, { detected: number; queued: number; resolved: number; failed: number }> = {};
    for (const c of statusCounts) {
      progress[c.status] += c.n;
      (byKind[c.kind] ??= { detected: 0, queued: 0, resolved: 0, failed: 0 })[c.status] += c.n;
    }
    return {
      id: run.id,
      status: run.status,
      reason: run.error,
      trigger: run.trigger,
      checks: run.checks,
      dryRun: run.dry_run,
      range: run.range_from ? { from: run.range_from, to: run.range_to } : null,
      startedAt: run.started_at,
      finishedAt: run.finished_at,
      windowCount: run.windows,
      windows: windows.map((w) => ({ check: w.check_name, start: w.window_start, end: w.window_end, counts: w.counts, rowsCompared: w.rows_compared, durationMs: w.duration_ms })),
      counts: run.counts,
      countsByKind,
      total: runTotal(run),
      compensation: { ...progress, pending: progress.detected + progress.queued, byKind },
    };
  });

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

  // --- dashboard and bull-board ---------------------------------------------
  app.get('/', async (_req, reply) => {
    const html = renderDashboard(await loadDashboardData(dbs));
    return reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  });

  const board = new FastifyAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({
    queues: [runQueue as Queue, ...(deps.queues ?? [])].map((q) => new BullMQAdapter(q, { readOnlyMode: !token })),
    // @bull-board/fastify ships its own copy of @bull-board/api typings; the adapter contract is the same.
    serverAdapter: board as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'recon queues' } },
  });
  await app.register(board.registerPlugin(), { prefix: '/admin/queues' });

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
      ...(deps.afterRun ? { afterRun: deps.afterRun } : {}),
    });
    app.addHook('onClose', async () => {
      // A run in hand stops after its current window; the next run resumes from the watermark.
      stopRuns.abort();
      await worker?.close();
    });
  }
  return app;
}
