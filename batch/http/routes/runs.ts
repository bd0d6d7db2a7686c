/**
 * The runs API. `POST /api/runs` queues the run and answers 202 with its id at
 * once. If another run holds one of its checks, the run ends `skipped` with
 * the reason in `GET /api/runs/:id` (the per-check lock is only known when the
 * run starts, so no 409 is promised). Its `email` flag: `true` delivers the
 * report whatever `REPORT_POLICY` says (e-mail when SMTP is configured, else
 * files), `false` none, absent: the policy decides. A body is required (`{}`
 * runs every check with the defaults): a POST without one is a mistake, or a
 * web page's blind request. Run creation is rate limited per client
 * (`RECON_API_RUNS_PER_MINUTE`).
 *
 * A dry run keeps no run row, so `GET /api/runs/:id` answers it from its job
 * (state and result), as it does a run that has not started yet.
 *
 * `POST /api/runs/:id/approve` (`{kind?, limit?}`) queues compensations the
 * blast-radius guard held for the run; `POST /api/runs/:id/dismiss`
 * (`{kind?, reason}`) closes them without an effect. Each is kept in the
 * run's audit trail with the actor `api` (the one operator token);
 * `GET /api/runs/:id` shows what is still held and the decisions.
 */
import type { Job } from 'bullmq';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { countTotal, kindTotals, ReconError, UsageError, type DiscrepancyStatus } from '../../../core/index.js';
import { getRunRow, getRunWindowDetails, listRuns, runDiscrepancyStatusCounts } from '../../../db/index.js';
import { approveHeld, createCompensationQueue, decisionsForRun, dismissHeld, heldForRun, type CompensationQueue } from '../../compensation/index.js';
import { queueRun, refuseBehindPrunedHorizon, type RunJobData, type RunJobResult } from '../../runs/index.js';
import { clientKey } from '../auth.js';
import type { RateLimit } from '../rate-limit.js';
import { approveBody, dismissBody, listRunsQuery, runIdParams, startRunBody, validate } from '../schemas.js';
import type { ApiDeps } from '../types.js';

/** A run known only from its job: not started yet, or a dry run (which keeps no row). */
async function runFromJob(id: string, job: Job<RunJobData, RunJobResult>) {
  const state = await job.getState();
  const d = job.data;
  const base = {
    id,
    trigger: d.trigger,
    checks: d.checks,
    dryRun: d.dryRun ?? false,
    range: d.from ? { from: d.from, to: d.to ?? null } : null,
    startedAt: job.processedOn ? new Date(job.processedOn) : null,
    finishedAt: job.finishedOn ? new Date(job.finishedOn) : null,
  };
  if (state === 'completed' && job.returnvalue) {
    const r = job.returnvalue;
    return {
      ...base,
      status: r.status,
      reason: r.reason ?? null,
      windowCount: r.windows,
      counts: r.counts,
      countsByKind: kindTotals(r.counts ?? {}),
      total: countTotal(r.counts),
    };
  }
  if (state === 'failed') return { ...base, status: 'failed', reason: job.failedReason ?? null };
  return { ...base, status: state === 'active' ? 'running' : 'queued', reason: null };
}

/** The actor of a decision made through the API: the name of the token that authenticated it (one operator token today). */
export const API_ACTOR = 'api';

export interface RunRouteOptions extends Pick<ApiDeps, 'config' | 'dbs' | 'log' | 'runQueue' | 'compensationQueue'> {
  /** Run starts per client, shared with the console's "start a run". */
  runLimit: RateLimit;
}

export const runRoutes: FastifyPluginAsync<RunRouteOptions> = async (app, { config, dbs, log, runQueue, compensationQueue, runLimit }) => {
  let ownQueue: CompensationQueue | undefined;
  const queue = (): CompensationQueue => compensationQueue ?? (ownQueue ??= createCompensationQueue(config, log));
  app.addHook('onClose', async () => {
    await ownQueue?.close();
  });
  /** A decision's failure as an answer: unknown run 404, bad selection 400, Redis down 503. */
  const decisionError = (err: unknown, reply: FastifyReply) => {
    if (err instanceof ReconError && err.code === 'NOT_FOUND') return reply.code(404).send({ error: 'not found', message: err.message });
    if (err instanceof ReconError && err.code === 'USAGE') {
      const [flag, ...rest] = err.message.split(': ');
      return reply.code(400).send({ error: 'bad request', field: flag?.replace(/^--/, '') ?? 'body', message: rest.join(': ') || err.message });
    }
    if (err instanceof ReconError && err.code === 'SERVICE_UNAVAILABLE') return reply.code(503).send({ error: 'service unavailable', message: err.message });
    throw err;
  };

  app.post('/api/runs/:id/approve', async (req, reply) => {
    const p = validate(runIdParams, req.params, 'id');
    if (!p.ok) return reply.code(400).send(p.error);
    if (req.body === undefined) return reply.code(400).send({ error: 'bad request', field: 'body', message: 'must be a JSON object (send {} to approve all)' });
    const v = validate(approveBody, req.body, 'body');
    if (!v.ok) return reply.code(400).send(v.error);
    try {
      const out = await approveHeld(
        { db: dbs.recon, queue: queue(), config, log },
        { runId: p.value.id, actor: API_ACTOR, ...(v.value.kind ? { kind: v.value.kind } : {}), ...(v.value.limit ? { limit: v.value.limit } : {}) },
      );
      return { runId: p.value.id, ...out, held: await heldForRun(dbs.recon, p.value.id) };
    } catch (err) {
      return decisionError(err, reply);
    }
  });

  app.post('/api/runs/:id/dismiss', async (req, reply) => {
    const p = validate(runIdParams, req.params, 'id');
    if (!p.ok) return reply.code(400).send(p.error);
    if (req.body === undefined) return reply.code(400).send({ error: 'bad request', field: 'body', message: 'must be a JSON object with a reason' });
    const v = validate(dismissBody, req.body, 'body');
    if (!v.ok) return reply.code(400).send(v.error);
    try {
      const out = await dismissHeld(
        { db: dbs.recon, log },
        { runId: p.value.id, actor: API_ACTOR, reason: v.value.reason, ...(v.value.kind ? { kind: v.value.kind } : {}) },
      );
      return { runId: p.value.id, ...out, held: await heldForRun(dbs.recon, p.value.id) };
    } catch (err) {
      return decisionError(err, reply);
    }
  });

  const runBody = startRunBody(config.windowSeconds);
  app.post('/api/runs', async (req, reply) => {
    if (req.body === undefined) {
      return reply.code(400).send({ error: 'bad request', field: 'body', message: 'must be a JSON object (send {} to run every check)' });
    }
    const v = validate(runBody, req.body, 'body');
    if (!v.ok) return reply.code(400).send(v.error);
    const b = v.value;
    if (b.from) {
      // A re-check behind what `recon prune` deleted would read as drift: refused here, not in the worker.
      try {
        await refuseBehindPrunedHorizon({ dbs }, b.checks, b.from);
      } catch (err) {
        if (err instanceof UsageError) return reply.code(400).send({ error: 'bad request', field: 'from', message: err.message });
        throw err;
      }
    }
    const allowed = runLimit.take(clientKey(req));
    if (!allowed.ok) {
      return reply
        .code(429)
        .header('retry-after', String(allowed.retryAfterSeconds))
        .send({ error: 'too many requests', message: `at most ${runLimit.perMinute} runs per minute; try again in ${allowed.retryAfterSeconds} s` });
    }
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
      items: page.items.map((r) => ({ ...r, total: countTotal(r.counts) })),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    };
  });

  app.get('/api/runs/:id', async (req, reply) => {
    const v = validate(runIdParams, req.params, 'id');
    if (!v.ok) return reply.code(400).send(v.error);
    const id = v.value.id;
    const run = await getRunRow(dbs.recon, id);
    if (!run) {
      const job = await runQueue.getJob(`run-${id}`);
      if (!job) return reply.code(404).send({ error: 'not found', message: `no run ${id}` });
      return runFromJob(id, job);
    }
    const [windows, statusCounts, heldNow, decisions] = await Promise.all([
      getRunWindowDetails(dbs.recon, id),
      runDiscrepancyStatusCounts(dbs.recon, id),
      heldForRun(dbs.recon, id),
      decisionsForRun(dbs.recon, id),
    ]);
    const countsByKind = kindTotals(run.counts ?? {});
    const zero = (): Record<DiscrepancyStatus, number> => ({ detected: 0, queued: 0, resolved: 0, failed: 0, held: 0, dismissed: 0 });
    const progress = zero();
    const byKind: Record<string, Record<DiscrepancyStatus, number>> = {};
    for (const c of statusCounts) {
      progress[c.status] += c.n;
      (byKind[c.kind] ??= zero())[c.status] += c.n;
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
      windows: windows.map((w) => ({
        check: w.check_name,
        start: w.window_start,
        end: w.window_end,
        counts: w.counts,
        status: w.status,
        rowsCompared: w.rows_compared,
        durationMs: w.duration_ms,
        // Who compared it (the process that ran the run, or the `recon worker` that took its job) and in how many attempts.
        worker: w.worker_host === null ? null : { host: w.worker_host, pid: w.worker_pid },
        attempts: w.attempts,
      })),
      mode: run.mode ?? 'in-process',
      counts: run.counts,
      countsByKind,
      total: countTotal(run.counts),
      compensation: { ...progress, pending: progress.detected + progress.queued, byKind },
      // Why the guard held compensations (per check, as the run decided), what is still held, and the decisions since.
      held: { byCheck: run.held ?? {}, remaining: heldNow, total: heldNow.reduce((a, h) => a + h.count, 0) },
      decisions,
    };
  });
};
