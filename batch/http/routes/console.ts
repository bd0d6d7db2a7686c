/**
 * The operator console: server-rendered pages (runs, a run, discrepancies and
 * their evidence, dead letters, lag) and the actions behind a confirmation
 * (start a run, approve or dismiss held compensations, retry failed ones,
 * replay dead letters). Actions reuse the library functions the CLI and the
 * API call; nothing shells out.
 *
 * Forms post `application/x-www-form-urlencoded`, which only this plugin
 * parses (fastify keeps content-type parsers per plugin: the API still takes
 * JSON only). Every POST here needs the session's CSRF token (../csrf.ts) and
 * the ticked confirmation; a viewer's POST never gets this far (../auth.ts).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import {
  ALL_CHECK_NAMES,
  ALL_DISCREPANCY_KINDS,
  COMPENSABLE_KINDS,
  describeError,
  isCompensable,
  isDiscrepancyKind,
  namespaced,
  parseIsoInstant,
  parseUuid,
  RUN_STATUSES,
  RUN_TRIGGERS,
  TOPICS,
  type CheckName,
  type DiscrepancyKind,
  type DiscrepancyStatus,
  type RunStatus,
  type RunTrigger,
} from '../../../core/index.js';
import {
  consumedRowsOfEvent,
  countDeadLetters,
  deadLetterById,
  getDiscrepancy,
  getRunRow,
  getRunWindowDetails,
  ledgerEntriesOfUser,
  listDiscrepancies,
  listRuns,
  outboxRowsById,
  recentDeadLetters,
  runDiscrepancyStatusCounts,
  userById,
  watermarkLags,
} from '../../../db/index.js';
import { createProducer, ensureTopics, fetchConsumerLag, replayDeadLetters, topicNames } from '../../../streaming/index.js';
import { RETRY_DEFAULT_LIMIT, retryFailedCompensations } from '../../compensation/index.js';
import {
  approveHeld,
  CONSOLE_CSS,
  CONSOLE_CSS_VERSION,
  decisionsForRun,
  deadLettersPage,
  discrepanciesPage,
  discrepancyPage,
  dismissHeld,
  errorPage,
  heldForRun,
  jobRunPage,
  lagPage,
  notice,
  replayPage,
  retryPage,
  runPage,
  runsPage,
  startRunPage,
  type DiscrepancyFilter,
  type Evidence,
  type JobState,
  type PageContext,
  type RunsFilter,
} from '../../console/index.js';
import { buildReport } from '../../report/index.js';
import { queueRun } from '../../runs/index.js';
import { escapeHtml as e } from '../../report/index.js';
import { clientKey, roleOf } from '../auth.js';
import { CSRF_FIELD, type Csrf } from '../csrf.js';
import type { RateLimit } from '../rate-limit.js';
import { startRunBody, isValidCursor, validate } from '../schemas.js';
import type { ApiDeps } from '../types.js';

export interface ConsoleRouteOptions extends Pick<ApiDeps, 'config' | 'dbs' | 'log' | 'runQueue' | 'compensationQueue' | 'kafka' | 'admin'> {
  csrf: Csrf;
  /** Shared with `POST /api/runs`: a run started here counts against the same per-client budget. */
  runLimit: RateLimit;
}

/** The stylesheet's path; its `?v=` changes with its content. */
export const CONSOLE_CSS_PATH = '/console.css';

/** Where each page's form field problems are named: `field: message`. */
class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

type Form = Record<string, string | undefined>;

const DISCREPANCY_STATUS_FILTERS = ['detected', 'queued', 'resolved', 'failed', 'held', 'dismissed'] as const;

/** `2026-11-21` (midnight UTC) or an ISO-8601 instant. */
function parseDay(field: string, v: string | undefined): Date | undefined {
  if (!v?.trim()) return undefined;
  const s = v.trim();
  const d = /^\d{4}-\d{2}-\d{2}$/.test(s) ? parseIsoInstant(`${s}T00:00:00Z`) : parseIsoInstant(s);
  if (!d) throw new FieldError(field, 'must be a date (2026-11-21) or an ISO-8601 instant');
  return d;
}

function oneOf<T extends string>(field: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (!v) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new FieldError(field, `must be one of ${allowed.join(', ')}`);
  return v as T;
}

function uuidField(field: string, v: string | undefined): string | undefined {
  if (!v?.trim()) return undefined;
  const id = parseUuid(v.trim());
  if (!id) throw new FieldError(field, 'must be a UUID');
  return id;
}

function cursorField(v: string | undefined): string | undefined {
  if (!v) return undefined;
  if (!isValidCursor(v)) throw new FieldError('cursor', 'is not a cursor of this listing');
  return v;
}

export const consoleRoutes: FastifyPluginAsync<ConsoleRouteOptions> = async (app, opts) => {
  const { config, dbs, log, runQueue, compensationQueue, kafka, admin, csrf, runLimit } = opts;
  const stylesheet = `${CONSOLE_CSS_PATH}?v=${CONSOLE_CSS_VERSION}`;
  const ctxOf = (req: FastifyRequest): PageContext => ({ role: roleOf(req), csrf: csrf.tokenFor(req), stylesheet });
  const html = (reply: FastifyReply, body: string, status = 200) => reply.code(status).header('content-type', 'text/html; charset=utf-8').send(body);
  /** Who a console decision is recorded as: the role of the token (tokens are shared, so no person's name is known). */
  const actorOf = (req: FastifyRequest) => (config.api.token ? `console:${roleOf(req)}` : 'console:loopback');
  const runBody = startRunBody(config.windowSeconds);

  // Forms: only here. Small bodies; one value per name (the last wins).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16_384 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  // A page whose query or form names a bad field: 400 naming it, as the API does.
  app.setErrorHandler((err, req, reply) => {
    if (err instanceof FieldError) return html(reply, errorPage(ctxOf(req), 400, err.message), 400);
    throw err;
  });

  // Every POST of the console: the session's CSRF token and the ticked confirmation.
  app.addHook('preHandler', async (req, reply) => {
    if (req.method !== 'POST') return;
    const form = (req.body ?? {}) as Form;
    if (!csrf.verify(req, form[CSRF_FIELD])) {
      log.warn({ route: req.routeOptions.url, requestId: req.id }, 'console: POST without a valid CSRF token refused');
      return html(
        reply.header('connection', 'close'),
        errorPage(ctxOf(req), 403, 'This form is not one this server gave your session (missing or wrong CSRF token). Reload the page and try again.'),
        403,
      );
    }
    if (form.confirm !== 'yes') return html(reply, errorPage(ctxOf(req), 400, 'confirm: tick the confirmation to go ahead; nothing was changed.'), 400);
  });

  app.get(CONSOLE_CSS_PATH, async (_req, reply) =>
    reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'private, max-age=86400').send(CONSOLE_CSS),
  );

  // --- runs ------------------------------------------------------------------
  app.get('/runs', async (req, reply) => {
    const q = req.query as Form;
    const filter: RunsFilter = {
      ...(q.status ? { status: q.status } : {}),
      ...(q.trigger ? { trigger: q.trigger } : {}),
      ...(q.from ? { from: q.from } : {}),
      ...(q.to ? { to: q.to } : {}),
    };
    const status = oneOf<RunStatus>('status', q.status, RUN_STATUSES);
    const trigger = oneOf<RunTrigger>('trigger', q.trigger, RUN_TRIGGERS);
    const from = parseDay('from', q.from);
    const to = parseDay('to', q.to);
    const cursor = cursorField(q.cursor);
    const found = await listRuns(dbs.recon, {
      limit: 50,
      ...(status ? { status } : {}),
      ...(trigger ? { trigger } : {}),
      ...(from ? { startedFrom: from } : {}),
      ...(to ? { startedBefore: to } : {}),
      ...(cursor ? { cursor } : {}),
    });
    return html(reply, runsPage(ctxOf(req), found.items, filter, found.nextCursor));
  });

  async function renderRun(req: FastifyRequest, reply: FastifyReply, id: string, flash = '', status = 200) {
    const run = await getRunRow(dbs.recon, id);
    if (!run) {
      const job = await runQueue.getJob(`run-${id}`);
      if (!job) return html(reply, errorPage(ctxOf(req), 404, `no run ${id}`), 404);
      const state = await job.getState();
      const r = state === 'completed' ? job.returnvalue : undefined;
      return html(
        reply,
        jobRunPage(ctxOf(req), {
          id,
          status: r ? r.status : state === 'failed' ? 'failed' : state === 'active' ? 'running' : 'queued',
          dryRun: job.data.dryRun ?? false,
          checks: job.data.checks,
          reason: r?.reason ?? job.failedReason ?? null,
          ...(r?.counts ? { counts: r.counts as Record<string, Record<string, number>> } : {}),
          ...(r ? { windows: r.windows } : {}),
        }),
      );
    }
    const [windows, statusCounts, held, decisions] = await Promise.all([
      getRunWindowDetails(dbs.recon, id),
      runDiscrepancyStatusCounts(dbs.recon, id),
      heldForRun(dbs.recon, id),
      decisionsForRun(dbs.recon, id),
    ]);
    // Why the guard held them, per check, as the run recorded it.
    const why = Object.entries(run.held ?? {})
      .map(([check, h]) => `${check}: ${h.message}.`)
      .join(' ');
    return html(reply, runPage(ctxOf(req), { run, windows, statusCounts, held, decisions, ...(why ? { heldWhy: why } : {}) }, flash), status);
  }

  app.get('/runs/:id', async (req, reply) => {
    const id = uuidField('id', (req.params as Form).id);
    return renderRun(req, reply, id!);
  });

  app.get('/runs/:id/report', async (req, reply) => {
    const id = uuidField('id', (req.params as Form).id)!;
    if (!(await getRunRow(dbs.recon, id))) return html(reply, errorPage(ctxOf(req), 404, `no run ${id} (a dry run keeps no report)`), 404);
    const report = await buildReport({ config, dbs, log, ...(admin ? { admin } : {}) }, id);
    return html(reply, report.html);
  });

  app.post('/runs/:id/approve', async (req, reply) => {
    const id = uuidField('id', (req.params as Form).id)!;
    const form = req.body as Form;
    // Only compensable kinds are ever held: anything else is a bad field (400), not a failed decision.
    const kind = oneOf<DiscrepancyKind>('kind', form.kind || undefined, COMPENSABLE_KINDS);
    let limit: number | undefined;
    if (form.limit?.trim()) {
      if (!/^\d{1,9}$/.test(form.limit.trim()) || Number(form.limit) < 1) throw new FieldError('limit', 'must be a whole number of at least 1');
      limit = Number(form.limit);
    }
    if (!compensationQueue)
      return renderRun(req, reply, id, notice('error', 'This server has no compensation queue: approve from the command line (`recon approve`).'), 503);
    try {
      const r = await approveHeld(
        { db: dbs.recon, queue: compensationQueue, config, log },
        { runId: id, ...(kind ? { kind } : {}), ...(limit ? { limit } : {}), actor: actorOf(req) },
      );
      return renderRun(req, reply, id, notice('ok', `Approved ${r.approved}${kind ? ` ${e(kind)}` : ''}: ${r.queued} compensations queued.`));
    } catch (err) {
      log.warn({ err: describeError(err).message, runId: id }, 'console: approve failed');
      return renderRun(req, reply, id, notice('error', `Approve failed: ${e(describeError(err).message)}`), 500);
    }
  });

  app.post('/runs/:id/dismiss', async (req, reply) => {
    const id = uuidField('id', (req.params as Form).id)!;
    const form = req.body as Form;
    // Only compensable kinds are ever held: anything else is a bad field (400), not a failed decision.
    const kind = oneOf<DiscrepancyKind>('kind', form.kind || undefined, COMPENSABLE_KINDS);
    const reason = form.reason?.trim();
    if (!reason) throw new FieldError('reason', 'say why they are dismissed (it is kept in the audit trail)');
    if (reason.length > 500) throw new FieldError('reason', 'must be at most 500 characters');
    try {
      const r = await dismissHeld({ db: dbs.recon, log }, { runId: id, ...(kind ? { kind } : {}), reason, actor: actorOf(req) });
      return renderRun(req, reply, id, notice('ok', `Dismissed ${r.dismissed}${kind ? ` ${e(kind)}` : ''}.`));
    } catch (err) {
      log.warn({ err: describeError(err).message, runId: id }, 'console: dismiss failed');
      return renderRun(req, reply, id, notice('error', `Dismiss failed: ${e(describeError(err).message)}`), 500);
    }
  });

  // --- discrepancies ---------------------------------------------------------
  app.get('/discrepancies', async (req, reply) => {
    const q = req.query as Form;
    const run = uuidField('run', q.run);
    const check = oneOf<CheckName>('check', q.check, ALL_CHECK_NAMES);
    const kind = oneOf<DiscrepancyKind>('kind', q.kind, ALL_DISCREPANCY_KINDS);
    const status = oneOf('status', q.status, DISCREPANCY_STATUS_FILTERS);
    const search = q.q?.trim();
    if (search && search.length > 200) throw new FieldError('q', 'must be at most 200 characters');
    const cursor = cursorField(q.cursor);
    const filter: DiscrepancyFilter = {
      ...(run ? { run } : {}),
      ...(check ? { check } : {}),
      ...(kind ? { kind } : {}),
      ...(status ? { status } : {}),
      ...(search ? { q: search } : {}),
    };
    const found = await listDiscrepancies(dbs.recon, {
      limit: 100,
      ...(run ? { runId: run } : {}),
      ...(check ? { check } : {}),
      ...(kind ? { kind } : {}),
      // held and dismissed are statuses of the approval step: the column holds them as text.
      ...(status ? { status: status as DiscrepancyStatus } : {}),
      ...(search ? { search } : {}),
      ...(cursor ? { cursor } : {}),
    });
    return html(reply, discrepanciesPage(ctxOf(req), found.items, filter, found.nextCursor, new Date()));
  });

  app.get('/discrepancies/:id', async (req, reply) => {
    const id = uuidField('id', (req.params as Form).id)!;
    const d = await getDiscrepancy(dbs.recon, id);
    if (!d) return html(reply, errorPage(ctxOf(req), 404, `no discrepancy ${id}`), 404);
    const x = d.details as Record<string, unknown>;
    const evidence: Evidence = {};
    const source = (v: unknown, dflt: 'users' | 'points') => (v === 'users' || v === 'points' ? v : dflt);
    const userId = typeof x.userId === 'string' ? parseUuid(x.userId) : undefined;
    if (userId) {
      const [row, entries] = await Promise.all([userById(dbs.users, userId), ledgerEntriesOfUser(dbs.points, userId)]);
      evidence.user = { row, entries };
    }
    const eventId = typeof x.eventId === 'string' ? parseUuid(x.eventId) : undefined;
    const consumerDb = source(x.consumerDb, 'points');
    if (eventId) {
      const outboxDb = source(x.sourceDb, 'users');
      const [outbox, consumed] = await Promise.all([outboxRowsById(dbs[outboxDb], [eventId]), consumedRowsOfEvent(dbs[consumerDb], eventId)]);
      evidence.event = { eventId, outboxDb, outbox: outbox[0], consumerDb, consumed };
    }
    if (eventId || d.kind === 'dead_lettered_event') {
      const rows = eventId ? await recentDeadLetters(dbs[consumerDb], { eventId, limit: 50 }) : [];
      const byId = Number(x.deadLetterId);
      const all = Number.isInteger(byId) && !rows.some((r) => Number(r.id) === byId) ? [...rows, ...(await deadLetterById(dbs[consumerDb], byId))] : rows;
      evidence.deadLetters = { db: consumerDb, rows: all };
    }
    let job: JobState | undefined;
    if (d.job_id && compensationQueue) {
      const j = await compensationQueue.getJob(d.job_id);
      if (j)
        job = {
          id: String(j.id),
          state: await j.getState(),
          attemptsMade: j.attemptsMade,
          failedReason: j.failedReason,
          processedOn: j.processedOn,
          finishedOn: j.finishedOn,
        };
    }
    return html(reply, discrepancyPage(ctxOf(req), d, evidence, job, new Date()));
  });

  // --- dead letters and lag --------------------------------------------------
  app.get('/dead-letters', async (req, reply) => {
    const [users, points] = await Promise.all([recentDeadLetters(dbs.users, { limit: 200 }), recentDeadLetters(dbs.points, { limit: 200 })]);
    const rows = [...users.map((r) => ({ db: 'users', r })), ...points.map((r) => ({ db: 'points', r }))].sort(
      (a, b) => new Date(b.r.dead_lettered_at).getTime() - new Date(a.r.dead_lettered_at).getTime(),
    );
    return html(reply, deadLettersPage(ctxOf(req), rows, new Date()));
  });

  app.get('/lag', async (req, reply) => {
    const lags = await watermarkLags(dbs.recon);
    let consumers: { group: string; topic: string; lag: number }[] | undefined;
    let consumersError: string | undefined;
    if (admin) {
      try {
        consumers = await fetchConsumerLag(admin, config);
      } catch (err) {
        consumersError = describeError(err).message;
      }
    } else consumersError = 'this server has no Kafka connection';
    return html(
      reply,
      lagPage(ctxOf(req), {
        watermarks: lags.map((w) => ({ check: w.check_name, watermark: w.watermark, lagSeconds: w.lag_seconds })),
        consumers,
        ...(consumersError ? { consumersError } : {}),
      }),
    );
  });

  // --- actions ---------------------------------------------------------------
  app.get('/actions/run', async (req, reply) => html(reply, startRunPage(ctxOf(req))));

  app.post('/actions/run', async (req, reply) => {
    const form = req.body as Form;
    const values = { checks: form.checks ?? 'all', from: form.from ?? '', to: form.to ?? '', dryRun: form.dryRun === 'yes' };
    const v = validate(
      runBody,
      {
        checks: values.checks,
        ...(values.from.trim() ? { from: values.from.trim() } : {}),
        ...(values.to.trim() ? { to: values.to.trim() } : {}),
        dryRun: values.dryRun,
      },
      'body',
    );
    if (!v.ok) return html(reply, startRunPage(ctxOf(req), notice('error', `${e(v.error.field)}: ${e(v.error.message)}`), values), 400);
    const allowed = runLimit.take(clientKey(req));
    if (!allowed.ok) {
      return html(
        reply.header('retry-after', String(allowed.retryAfterSeconds)),
        startRunPage(ctxOf(req), notice('error', `At most ${runLimit.perMinute} runs a minute: try again in ${allowed.retryAfterSeconds} s.`), values),
        429,
      );
    }
    const b = v.value;
    const queued = await queueRun(runQueue, {
      trigger: 'console',
      checks: b.checks,
      ...(b.from ? { from: b.from } : {}),
      ...(b.to ? { to: b.to } : {}),
      dryRun: b.dryRun,
    });
    log.info({ runId: queued.runId, checks: b.checks, dryRun: b.dryRun, actor: actorOf(req) }, 'console: run queued');
    return reply.redirect(`/runs/${queued.runId}`, 303);
  });

  const failedCounts = async () => (await retryFailedCompensations({ db: dbs.recon, config }, { dryRun: true })).byKind as Record<string, number>;

  app.get('/actions/retry', async (req, reply) => html(reply, retryPage(ctxOf(req), await failedCounts())));

  app.post('/actions/retry', async (req, reply) => {
    const form = req.body as Form;
    const kind = form.kind ? (isDiscrepancyKind(form.kind) && isCompensable(form.kind) ? form.kind : undefined) : undefined;
    if (form.kind && !kind) throw new FieldError('kind', `must be one of ${COMPENSABLE_KINDS.join(', ')}`);
    if (!compensationQueue)
      return html(reply, retryPage(ctxOf(req), await failedCounts(), notice('error', 'This server has no compensation queue: use `recon retry`.')), 503);
    const r = await retryFailedCompensations(
      { db: dbs.recon, config, queue: compensationQueue },
      { ...(kind ? { kinds: [kind] } : {}), limit: RETRY_DEFAULT_LIMIT },
    );
    log.info({ queued: r.queued, byKind: r.byKind, actor: actorOf(req) }, 'console: failed compensations retried');
    const what = Object.entries(r.byKind)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
    return html(
      reply,
      retryPage(ctxOf(req), await failedCounts(), notice('ok', `Reopened and queued ${r.queued} compensations${what ? ` (${e(what)})` : ''}.`)),
    );
  });

  const pendingLetters = async () => {
    const [users, points] = await Promise.all([countDeadLetters(dbs.users), countDeadLetters(dbs.points)]);
    return [
      ...(users ?? []).map((c) => ({ db: 'users', topic: c.topic, group: c.consumer_group, pending: c.pending })),
      ...(points ?? []).map((c) => ({ db: 'points', topic: c.topic, group: c.consumer_group, pending: c.pending })),
    ];
  };
  const baseTopics = Object.values(TOPICS);

  app.get('/actions/replay', async (req, reply) => html(reply, replayPage(ctxOf(req), await pendingLetters(), baseTopics)));

  app.post('/actions/replay', async (req, reply) => {
    const form = req.body as Form;
    const topic = oneOf('topic', form.topic || undefined, baseTopics);
    if (!kafka)
      return html(
        reply,
        replayPage(ctxOf(req), await pendingLetters(), baseTopics, notice('error', 'This server has no Kafka client: use `recon dlq replay`.')),
        503,
      );
    const dltTopics = (topic ? [topic] : baseTopics).map((t) => `${namespaced(config, t)}.DLT`);
    const kafkaAdmin = kafka.admin();
    await kafkaAdmin.connect();
    await ensureTopics(kafkaAdmin, topicNames(config).all).finally(() => kafkaAdmin.disconnect());
    const producer = createProducer(kafka);
    await producer.connect();
    try {
      const r = await replayDeadLetters({ config, kafka, producer, dbs: { users: dbs.users, points: dbs.points } }, { dltTopics, log });
      log.info({ ...r, actor: actorOf(req) }, 'console: dead letters replayed');
      return html(
        reply,
        replayPage(
          ctxOf(req),
          await pendingLetters(),
          baseTopics,
          notice('ok', `Replayed ${r.replayed} dead letters${r.unknown ? `; ${r.unknown} without dead-letter headers left alone` : ''}.`),
        ),
      );
    } finally {
      await producer.disconnect();
    }
  });
};
