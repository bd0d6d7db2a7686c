/**
 * The console's pages, rendered from plain data (the routes in
 * ../http/routes/console.ts load it). Each function returns a whole
 * document through {@link page}.
 */
import {
  ALL_CHECK_NAMES,
  ALL_DISCREPANCY_KINDS,
  COMPENSABLE_KINDS,
  countTotal,
  DISCREPANCY_KIND_SPECS,
  DISCREPANCY_STATUSES,
  RUN_STATUSES,
  RUN_TRIGGERS,
  type DiscrepancyKind,
} from '../../core/index.js';
import type {
  DeadLetterRecord,
  DiscrepancyRow,
  RunRow,
  RunWindowDetail,
  StatusCount,
  StoredConsumedEvent,
  StoredLedgerEntry,
  StoredOutboxRow,
  UserRow,
} from '../../db/index.js';
import { columnsOf, columnsOfKinds, formatAge, type Column } from '../present/index.js';
import { escapeHtml as e, formatInstant, formatSeconds, shortId } from '../report/index.js';
import type { Decision, HeldGroup } from './held.js';
import { actionForm, facts, field, notice, options, page, section, table, type PageContext } from './layout.js';

const code = (v: unknown) => `<code>${e(v)}</code>`;
const statusCell = (s: string) => `<span class="status-${e(s)}">${e(s)}</span>`;
const runLink = (id: string | null | undefined) => (id ? `<a href="/runs/${e(id)}">${code(shortId(id))}</a>` : '');
const query = (params: Record<string, string | undefined>) => {
  const q = new URLSearchParams(Object.entries(params).filter((kv): kv is [string, string] => Boolean(kv[1])));
  const s = q.toString();
  return s ? `?${s}` : '';
};

export function errorPage(ctx: PageContext, status: number, message: string): string {
  return page(
    ctx,
    status === 404 ? 'Not found' : status === 403 ? 'Refused' : 'Bad request',
    notice('error', e(message)) + '<p><a href="/">back to the overview</a></p>',
  );
}

// --- runs --------------------------------------------------------------------

export interface RunsFilter {
  status?: string;
  trigger?: string;
  from?: string;
  to?: string;
}

export function runsPage(ctx: PageContext, runs: readonly RunRow[], filter: RunsFilter, next: string | undefined): string {
  const filters =
    `<form method="get" action="/runs" class="filters" id="run-filters">` +
    field('status', `<select name="status">${options(RUN_STATUSES, filter.status)}</select>`) +
    field('trigger', `<select name="trigger">${options(RUN_TRIGGERS, filter.trigger)}</select>`) +
    field('started from (date or ISO instant)', `<input type="text" name="from" value="${e(filter.from ?? '')}" placeholder="2026-11-21">`) +
    field('started before', `<input type="text" name="to" value="${e(filter.to ?? '')}" placeholder="2026-11-22">`) +
    `<button type="submit">filter</button></form>`;
  const rows = runs.map((r) => {
    const took = r.finished_at ? (new Date(r.finished_at).getTime() - new Date(r.started_at).getTime()) / 1000 : undefined;
    return [
      runLink(r.id),
      e(formatInstant(r.started_at)),
      e(r.trigger),
      e(r.checks.join(', ')),
      statusCell(r.status) + (r.dry_run ? ' (dry run)' : '') + (r.error ? ` <span class="muted">${e(r.error)}</span>` : ''),
      String(r.windows),
      String(countTotal(r.counts)),
      took === undefined ? '' : e(formatSeconds(took)),
    ];
  });
  const pager = next ? `<p class="pager"><a id="next-page" href="/runs${query({ ...filter, cursor: next })}">next page →</a></p>` : '';
  return page(
    ctx,
    'Runs',
    filters + table(['run', 'started', 'trigger', 'checks', 'status', 'windows', 'found', 'took'], rows, { numeric: new Set([5, 6]), id: 'runs' }) + pager,
  );
}

/** A run known only from its queue job: not started yet, or a dry run (which keeps no row). */
export interface JobRun {
  id: string;
  status: string;
  dryRun: boolean;
  checks: readonly string[];
  reason: string | null;
  counts?: Record<string, Record<string, number>>;
  windows?: number;
}

export function jobRunPage(ctx: PageContext, r: JobRun): string {
  const counts = Object.entries(r.counts ?? {}).flatMap(([check, kinds]) => Object.entries(kinds).map(([kind, n]) => [e(check), e(kind), String(n)]));
  return page(
    ctx,
    `Run ${shortId(r.id)}${r.dryRun ? ' (dry run)' : ''}`,
    section(
      'Run',
      facts([
        ['run', code(r.id)],
        ['status', statusCell(r.status)],
        ['checks', e(r.checks.join(', '))],
        ['dry run', r.dryRun ? 'yes: nothing recorded, nothing compensated' : 'no'],
        ['reason', e(r.reason ?? '')],
        ['windows', r.windows === undefined ? '' : String(r.windows)],
      ]) + (r.status === 'queued' || r.status === 'running' ? '<p class="muted">Reload the page to follow it.</p>' : ''),
      'run',
    ) + section('Found', table(['check', 'kind', 'found'], counts, { numeric: new Set([2]), id: 'found' }), 'found-section'),
  );
}

export interface RunPageData {
  run: RunRow;
  windows: readonly RunWindowDetail[];
  statusCounts: readonly StatusCount[];
  held: readonly HeldGroup[];
  decisions: readonly Decision[];
  /** The held settings (RECON_AUTO_COMPENSATE_LIMIT / _RATIO), when known. */
  heldWhy?: string;
}

function progressBar(counts: Record<string, number>): string {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (total === 0) return '';
  const part = (cls: string, n: number) => (n ? `<span class="${cls} w${Math.max(5, Math.round((n / total) * 20) * 5)}"></span>` : '');
  return `<div class="bar" aria-hidden="true">${part('resolved', counts.resolved ?? 0)}${part('failed', counts.failed ?? 0)}${part('pending', (counts.detected ?? 0) + (counts.queued ?? 0))}${part('held', counts.held ?? 0)}${part('dismissed', counts.dismissed ?? 0)}</div>`;
}

export function runPage(ctx: PageContext, d: RunPageData, flash = ''): string {
  const { run } = d;
  const statuses = [...new Set([...DISCREPANCY_STATUSES, ...d.statusCounts.map((c) => c.status as string)])];
  const byKind = new Map<string, Record<string, number>>();
  /** Compensable kinds only: report-only ones are never "pending". */
  const totals: Record<string, number> = {};
  let reportOnly = 0;
  for (const c of d.statusCounts) {
    const key = `${c.check_name}\0${c.kind}`;
    const row = byKind.get(key) ?? {};
    row[c.status] = (row[c.status] ?? 0) + c.n;
    byKind.set(key, row);
    if (DISCREPANCY_KIND_SPECS[c.kind]?.compensable === false) reportOnly += c.n;
    else totals[c.status] = (totals[c.status] ?? 0) + c.n;
  }
  const countRows = [...byKind.entries()].map(([key, c]) => {
    const [check, kind] = key.split('\0') as [string, DiscrepancyKind];
    return [
      e(check),
      `<a href="/discrepancies${query({ run: run.id, kind })}">${e(kind)}</a>`,
      ...statuses.map((s) => (c[s] ? `<a href="/discrepancies${query({ run: run.id, kind, status: s })}">${c[s]}</a>` : '0')),
      DISCREPANCY_KIND_SPECS[kind]?.compensable === false ? 'report only' : '',
    ];
  });
  const countsTable = table(['check', 'kind', ...statuses, ''], countRows, { numeric: new Set(statuses.map((_, i) => i + 2)), id: 'status-counts' });
  const total = Object.values(totals).reduce((a, b) => a + b, 0);
  const pending = (totals.detected ?? 0) + (totals.queued ?? 0);
  const reported = reportOnly ? `<p class="muted">${reportOnly} report-only finding(s): nothing to compensate, see their notes.</p>` : '';
  const progress =
    total === 0
      ? '<p class="muted">nothing to compensate</p>' + reported
      : `<p id="progress">${totals.resolved ?? 0} of ${total} resolved, ${totals.failed ?? 0} failed, ${pending} pending${totals.held ? `, <strong>${totals.held} held</strong>` : ''}${totals.dismissed ? `, ${totals.dismissed} dismissed` : ''}</p>${progressBar(totals)}` +
        (totals.failed ? `<p><a href="/actions/retry">retry failed compensations</a></p>` : '') +
        reported;
  const windowRows = d.windows.map((w) => [
    e(w.check_name),
    e(formatInstant(w.window_start)),
    e(formatInstant(w.window_end)),
    String(w.rows_compared),
    String(Object.values(w.counts ?? {}).reduce((a, b) => a + Number(b ?? 0), 0)),
    e(formatSeconds(w.duration_ms / 1000)),
    w.status === 'completed' ? '' : e(w.status),
    w.worker_host === null ? '' : e(`${w.worker_host}:${w.worker_pid ?? '?'}`) + (w.attempts > 1 ? ` (${w.attempts} attempts)` : ''),
  ]);
  const heldSection = heldBlock(ctx, run.id, d.held, d.heldWhy);
  const decisionRows = d.decisions.map((x) => [
    e(formatInstant(x.decidedAt)),
    e(x.action),
    e(x.actor),
    e([x.check, x.kind].filter(Boolean).join(' / ') || 'all'),
    x.requestedLimit === null || x.requestedLimit === undefined ? '' : String(x.requestedLimit),
    String(x.affected),
    e(x.reason ?? ''),
  ]);
  return page(
    ctx,
    `Run ${shortId(run.id)}${run.dry_run ? ' (dry run)' : ''}`,
    flash +
      heldSection +
      section(
        'Run',
        facts([
          ['run', code(run.id)],
          ['status', statusCell(run.status) + (run.error ? ` — ${e(run.error)}` : '')],
          ['trigger', e(run.trigger)],
          ['checks', e(run.checks.join(', '))],
          ['windows compared', run.mode === 'workers' ? 'by the workers (distributed run)' : "in the run's process"],
          ['started', e(formatInstant(run.started_at))],
          ['finished', e(formatInstant(run.finished_at))],
          ['range', run.range_from ? `${e(formatInstant(run.range_from))} – ${e(formatInstant(run.range_to))}` : 'watermark to safe upper bound'],
          ['found', String(countTotal(run.counts))],
          [
            'links',
            `<a id="report-link" href="/runs/${e(run.id)}/report">report</a> · <a href="/discrepancies${query({ run: run.id })}">its discrepancies</a> · <a href="/api/runs/${e(run.id)}">JSON</a>`,
          ],
        ]),
        'run',
      ) +
      section('Compensation progress', progress, 'compensation') +
      section('Discrepancies per kind and status', countsTable, 'counts') +
      section(
        'Windows',
        table(['check', 'from', 'to', 'rows', 'found', 'time', 'status', 'compared by'], windowRows, { numeric: new Set([3, 4, 5]), id: 'windows' }),
        'windows-section',
      ) +
      section(
        'Audit trail',
        table(['when', 'decision', 'who', 'what', 'limit', 'affected', 'reason'], decisionRows, { numeric: new Set([4, 5]), id: 'decisions' }),
        'audit',
      ),
  );
}

function heldBlock(ctx: PageContext, runId: string, held: readonly HeldGroup[], why: string | undefined): string {
  if (held.length === 0) return '';
  const total = held.reduce((n, h) => n + h.count, 0);
  const kinds = [...new Set(held.map((h) => h.kind))];
  const rows = held.map((h) => [
    e(h.check),
    `<a href="/discrepancies${query({ run: runId, kind: h.kind, status: 'held' })}">${e(h.kind)}</a>`,
    String(h.count),
  ]);
  const approve = actionForm(ctx, {
    action: `/runs/${runId}/approve`,
    id: 'approve-form',
    fields:
      field('kind', `<select name="kind">${options(kinds, undefined, 'every held kind')}</select>`) +
      field('at most (optional)', `<input type="text" name="limit" inputmode="numeric" pattern="[0-9]*" placeholder="all">`),
    confirm: 'I checked these findings: apply their compensations',
    submit: 'Approve',
  });
  const dismiss = actionForm(ctx, {
    action: `/runs/${runId}/dismiss`,
    id: 'dismiss-form',
    fields:
      field('kind', `<select name="kind">${options(kinds, undefined, 'every held kind')}</select>`) +
      field('reason (kept in the audit trail)', `<input type="text" name="reason" required maxlength="500">`),
    confirm: 'Close them without any effect',
    submit: 'Dismiss',
    tone: 'danger',
  });
  return (
    `<section id="held" class="held"><h3>${total} compensations held for approval</h3>` +
    `<p>${e(why ?? 'More findings than RECON_AUTO_COMPENSATE_LIMIT or RECON_AUTO_COMPENSATE_RATIO allow were not applied on their own.')} Look at them first (the links below), then approve what is right or dismiss what is not.</p>` +
    table(['check', 'kind', 'held'], rows, { numeric: new Set([2]), id: 'held-groups' }) +
    approve +
    dismiss +
    `</section>`
  );
}

// --- discrepancies -----------------------------------------------------------

export interface DiscrepancyFilter {
  run?: string;
  check?: string;
  kind?: string;
  status?: string;
  q?: string;
}

function cells(cols: readonly Column[], d: DiscrepancyRow, now: Date): string[] {
  return cols.map((c) => {
    const v = e(c.value(d, now));
    if (c.identifies) return `<a href="/discrepancies/${e(d.id)}">${v ? `<code>${v}</code>` : e(shortId(d.id))}</a>`;
    if (c.key === 'status') return statusCell(c.value(d, now));
    if (c.key === 'last-error' && v) return `<code>${v}</code>`;
    return v;
  });
}

export function discrepanciesPage(ctx: PageContext, items: readonly DiscrepancyRow[], filter: DiscrepancyFilter, next: string | undefined, now: Date): string {
  const statuses = [...new Set([...DISCREPANCY_STATUSES, 'held', 'dismissed'])];
  const filters =
    `<form method="get" action="/discrepancies" class="filters" id="discrepancy-filters">` +
    field('run id', `<input type="text" name="run" value="${e(filter.run ?? '')}">`) +
    field('check', `<select name="check">${options(ALL_CHECK_NAMES, filter.check)}</select>`) +
    field('kind', `<select name="kind">${options(ALL_DISCREPANCY_KINDS, filter.kind)}</select>`) +
    field('status', `<select name="status">${options(statuses, filter.status)}</select>`) +
    field('user id or event id', `<input type="text" name="q" value="${e(filter.q ?? '')}">`) +
    `<button type="submit">filter</button></form>`;
  const cols = columnsOfKinds(filter.kind ? [filter.kind as DiscrepancyKind] : items.map((d) => d.kind));
  const headers = [...cols.map((c) => c.label), 'detected', 'run'];
  const rows = items.map((d) => [...cells(cols, d, now), e(formatInstant(d.detected_at)), runLink(d.last_run_id)]);
  const numeric = new Set(cols.flatMap((c, i) => (c.numeric ? [i] : [])));
  const pager = next ? `<p class="pager"><a id="next-page" href="/discrepancies${query({ ...filter, cursor: next })}">next page →</a></p>` : '';
  return page(ctx, 'Discrepancies', filters + table(headers, rows, { numeric, id: 'discrepancies' }) + pager);
}

export interface Evidence {
  user?: { row: UserRow | undefined; entries: readonly StoredLedgerEntry[] };
  event?: { eventId: string; outboxDb: string; outbox: StoredOutboxRow | undefined; consumerDb: string; consumed: readonly StoredConsumedEvent[] };
  deadLetters?: { db: string; rows: readonly DeadLetterRecord[] };
}

export interface JobState {
  id: string;
  state: string;
  attemptsMade: number;
  failedReason?: string | undefined;
  processedOn?: number | undefined;
  finishedOn?: number | undefined;
}

export function discrepancyPage(
  ctx: PageContext,
  d: DiscrepancyRow & { job_id?: string | null },
  evidence: Evidence,
  job: JobState | undefined,
  now: Date,
): string {
  const cols = columnsOf(d.kind);
  const spec = DISCREPANCY_KIND_SPECS[d.kind];
  const about = facts(
    [
      ['kind', `${e(d.kind)} <span class="muted">(${e(spec.compensable ? 'compensated' : 'report only')})</span>`],
      ['check', e(d.check_name)],
      ...cols.map((c): [string, string] => [c.label, c.key === 'status' ? statusCell(c.value(d, now)) : e(c.value(d, now))]),
      ['window', `${e(formatInstant(d.window_start))} – ${e(formatInstant(d.window_end))}`],
      ['what it means', e(spec.note)],
    ],
    'about',
  );
  const history: [string, string][] = [
    ['detected', `${e(formatInstant(d.detected_at))} by run ${runLink(d.first_run_id)}`],
    ['last seen', `run ${runLink(d.last_run_id)}`],
  ];
  if (d.generation) history.push(['reopened', `${d.generation} time(s) after a resolution or failure`]);
  if (d.queued_at) history.push(['queued', e(formatInstant(d.queued_at))]);
  history.push(['attempts', String(d.attempts)]);
  if (d.last_error) history.push(['last error', code(d.last_error)]);
  if (d.resolved_at) history.push(['resolved', e(formatInstant(d.resolved_at)) + (d.resolution ? ` — ${e(d.resolution)}` : '')]);
  if (d.failed_at) history.push(['failed', e(formatInstant(d.failed_at))]);
  history.push(['status now', statusCell(d.status)]);
  if (d.job_id) {
    history.push([
      'compensation job',
      job
        ? `${code(job.id)}: ${e(job.state)}, ${job.attemptsMade} attempt(s)${job.processedOn ? `, started ${e(formatInstant(new Date(job.processedOn)))}` : ''}${job.finishedOn ? `, finished ${e(formatInstant(new Date(job.finishedOn)))}` : ''}${job.failedReason ? `, ${code(job.failedReason)}` : ''}`
        : `${code(d.job_id)} (no longer in Redis)`,
    ]);
  }
  let ev = '';
  if (evidence.user) {
    const u = evidence.user.row;
    ev += section(
      'users database: the user',
      u
        ? facts(
            [
              ['id', code(u.id)],
              ['email', e(u.email)],
              ['created', e(u.created_at instanceof Date ? u.created_at.toISOString() : u.created_at)],
            ],
            'user-row',
          )
        : '<p id="user-row">no committed user has this id</p>',
      'evidence-user',
    );
    const net = evidence.user.entries.reduce((n, x) => n + Number(x.amount), 0);
    ev += section(
      `points database: ledger entries (net ${net})`,
      table(
        ['entry', 'amount', 'reason', 'keyed at (user created)', 'source', 'written'],
        evidence.user.entries.map((x) => [
          code(x.entry_id),
          String(x.amount),
          e(x.reason),
          e(formatInstant(x.user_created_at)),
          e(x.source),
          e(formatInstant(x.created_at)),
        ]),
        { numeric: new Set([1]), id: 'ledger-entries' },
      ),
      'evidence-ledger',
    );
  }
  if (evidence.event) {
    const o = evidence.event.outbox;
    ev += section(
      `${evidence.event.outboxDb} database: the outbox row`,
      o
        ? facts(
            [
              ['event id', code(o.event_id)],
              ['topic', e(o.topic)],
              ['key', code(o.message_key)],
              ['occurred', e(formatInstant(o.occurred_at))],
              ['published', o.published_at ? e(formatInstant(o.published_at)) : 'not published'],
              ['payload', code(o.payload)],
            ],
            'outbox-row',
          )
        : `<p id="outbox-row">no outbox row has event id ${code(evidence.event.eventId)}</p>`,
      'evidence-outbox',
    );
    ev += section(
      `${evidence.event.consumerDb} database: consumed by`,
      table(
        ['group', 'topic', 'partition', 'offset', 'consumed'],
        evidence.event.consumed.map((c) => [
          e(c.consumer_group),
          e(c.topic),
          String(c.kafka_partition),
          String(c.kafka_offset),
          e(formatInstant(c.consumed_at)),
        ]),
        { numeric: new Set([2, 3]), id: 'consumed-rows' },
      ),
      'evidence-consumed',
    );
  }
  if (evidence.deadLetters) {
    ev += section(
      `${evidence.deadLetters.db} database: dead letters`,
      deadLetterTable(
        evidence.deadLetters.rows.map((r) => ({ db: evidence.deadLetters!.db, r })),
        now,
        'event-dead-letters',
      ),
      'evidence-dead-letters',
    );
  }
  return page(
    ctx,
    `${d.kind} ${shortId(d.id)}`,
    section('Discrepancy', about, 'discrepancy') + section('History', facts(history, 'history'), 'history-section') + `<h3>Evidence</h3>` + ev,
  );
}

// --- dead letters and lag ----------------------------------------------------

function deadLetterTable(rows: readonly { db: string; r: DeadLetterRecord }[], now: Date, id: string): string {
  return table(
    ['database', 'topic', 'partition', 'offset', 'group', 'event id', 'reason', 'attempts', 'age', 'replayed'],
    rows.map(({ db, r }) => [
      e(db),
      e(r.topic),
      String(r.kafka_partition),
      String(r.kafka_offset),
      e(r.consumer_group),
      r.event_id ? `<a href="/discrepancies${query({ q: r.event_id })}">${code(r.event_id)}</a>` : '',
      `${code(`${r.error_class}: ${r.error_message}`)}${r.dlt_error ? ` <span class="muted">(not on the DLT: ${e(r.dlt_error)})</span>` : ''}`,
      String(r.attempts),
      e(formatAge(r.dead_lettered_at, now)),
      r.replayed_at ? `${e(formatAge(r.replayed_at, now))} ago` : 'no',
    ]),
    { numeric: new Set([2, 3, 7]), id },
  );
}

export function deadLettersPage(ctx: PageContext, rows: readonly { db: string; r: DeadLetterRecord }[], now: Date): string {
  const pending = rows.filter((x) => !x.r.replayed_at).length;
  return page(
    ctx,
    'Dead letters',
    `<p>${rows.length} shown (newest first), ${pending} not replayed. ${pending ? '<a href="/actions/replay">replay them</a> once their cause is fixed.' : ''}</p>` +
      deadLetterTable(rows, now, 'dead-letters'),
  );
}

export interface LagData {
  watermarks: readonly { check: string; watermark: Date; lagSeconds: number }[];
  consumers: readonly { group: string; topic: string; lag: number }[] | undefined;
  consumersError?: string;
}

export function lagPage(ctx: PageContext, d: LagData): string {
  return page(
    ctx,
    'Lag',
    section(
      'Watermark lag per check',
      table(
        ['check', 'watermark', 'behind now'],
        d.watermarks.map((w) => [e(w.check), e(formatInstant(w.watermark)), e(formatSeconds(w.lagSeconds))]),
        { numeric: new Set([2]), id: 'watermark-lag' },
      ),
      'watermarks',
    ) +
      section(
        'Consumer lag',
        d.consumers
          ? table(
              ['group', 'topic', 'lag (messages)'],
              d.consumers.map((c) => [e(c.group), e(c.topic), String(c.lag)]),
              { numeric: new Set([2]), id: 'consumer-lag' },
            )
          : `<p class="muted" id="consumer-lag">unknown (${e(d.consumersError ?? 'Kafka not consulted')})</p>`,
        'consumers',
      ),
  );
}

// --- actions -----------------------------------------------------------------

export function startRunPage(ctx: PageContext, flash = '', values: { checks?: string; from?: string; to?: string; dryRun?: boolean } = {}): string {
  const checks = ['all', ...ALL_CHECK_NAMES];
  const form = actionForm(ctx, {
    action: '/actions/run',
    id: 'run-form',
    fields:
      field(
        'checks',
        `<select name="checks">${checks.map((c) => `<option value="${e(c)}"${c === (values.checks ?? 'all') ? ' selected' : ''}>${e(c)}</option>`).join('')}</select>`,
      ) +
      field('from (ISO instant, optional)', `<input type="text" name="from" value="${e(values.from ?? '')}" placeholder="2026-11-21T00:00:00Z">`) +
      field('to (optional)', `<input type="text" name="to" value="${e(values.to ?? '')}" placeholder="2026-11-21T06:00:00Z">`) +
      `<label class="confirm"><input type="checkbox" name="dryRun" value="yes"${values.dryRun === false ? '' : ' checked'}> dry run (records nothing, compensates nothing)</label>`,
    confirm: 'Start this run',
    submit: 'Start',
  });
  return page(
    ctx,
    'Start a run',
    flash +
      `<p>What <code>POST /api/runs</code> and <code>recon run</code> do: without a range, each check walks from its watermark to the safe upper bound; with one, it re-checks that range (watermarks stay where they are).</p>` +
      form,
  );
}

export function retryPage(ctx: PageContext, failed: Record<string, number>, flash = ''): string {
  const total = Object.values(failed).reduce((a, b) => a + b, 0);
  const form =
    total === 0
      ? '<p class="muted">No failed compensation to retry.</p>'
      : actionForm(ctx, {
          action: '/actions/retry',
          id: 'retry-form',
          fields: field(
            'kind',
            `<select name="kind">${options(
              COMPENSABLE_KINDS.filter((k) => failed[k]),
              undefined,
              'every failed kind',
            )}</select>`,
          ),
          confirm: `Reopen and queue these failed compensations again`,
          submit: 'Retry',
        });
  return page(
    ctx,
    'Retry failed compensations',
    flash +
      `<p>What <code>recon retry</code> does: failed discrepancies are reopened and queued again; their handlers check the invariant first, so one put right meanwhile resolves without an effect.</p>` +
      table(
        ['kind', 'failed'],
        Object.entries(failed).map(([k, n]) => [e(k), String(n)]),
        { numeric: new Set([1]), id: 'failed-counts' },
      ) +
      form,
  );
}

export function replayPage(
  ctx: PageContext,
  pending: readonly { db: string; topic: string; group: string; pending: number }[],
  topics: readonly string[],
  flash = '',
): string {
  const total = pending.reduce((n, p) => n + p.pending, 0);
  const form = actionForm(ctx, {
    action: '/actions/replay',
    id: 'replay-form',
    fields: field('topic', `<select name="topic">${options(topics, undefined, 'every topic')}</select>`),
    confirm: 'Send the dead letters back to their original topics (the consumers deduplicate by event id)',
    submit: 'Replay',
  });
  return page(
    ctx,
    'Replay dead letters',
    flash +
      `<p>What <code>recon dlq replay</code> does: every dead letter not replayed yet is sent back to its original topic, with its key, value and headers. Fix the cause first.</p>` +
      table(
        ['database', 'group', 'topic', 'not replayed'],
        pending.map((p) => [e(p.db), e(p.group), e(p.topic), String(p.pending)]),
        { numeric: new Set([3]), id: 'pending-dead-letters' },
      ) +
      (total === 0 ? '<p class="muted">Nothing recorded as waiting; a replay still reads the dead-letter topics.</p>' : '') +
      form,
  );
}

export { notice };
