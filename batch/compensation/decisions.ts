/**
 * Operators' decisions on held compensations: approve (queue them through
 * the normal path: same claims, same deterministic job ids) or dismiss (close
 * them without an effect). Each decision is one row of the audit trail,
 * written in the same transaction as the status change it made.
 */
import { randomUUID } from 'node:crypto';
import {
  ALL_DISCREPANCY_KINDS,
  describeError,
  isCompensable,
  ReconError,
  silentLogger,
  UsageError,
  type CheckName,
  type DiscrepancyKind,
  type Logger,
} from '../../core/index.js';
import {
  dismissHeldRows,
  getRunRow,
  heldCounts,
  insertDecision,
  listDecisions,
  releaseHeld,
  setDecisionAffected,
  type DecisionRow,
  type Knex,
} from '../../db/index.js';
import { enqueueCompensations, type EnqueueDeps } from './queue.js';

/** One decision of the audit trail, as the API and the console show it. */
export interface Decision {
  id: string;
  runId: string;
  check: CheckName | null;
  /** Null: every kind. */
  kind: DiscrepancyKind | null;
  action: 'approve' | 'dismiss';
  /** Who: the API token's name (`api`), a console user, or the OS user of the command line. */
  actor: string;
  reason: string | null;
  /** The `--limit` asked for, if any. */
  requestedLimit: number | null;
  /** How many discrepancies it approved or dismissed. */
  affected: number;
  decidedAt: Date;
}

export interface HeldCount {
  check: string;
  kind: string;
  count: number;
}

export interface ApproveHeldOptions {
  runId: string;
  kind?: DiscrepancyKind;
  /** Approve at most this many (oldest first). Default: all. */
  limit?: number;
  actor: string;
  /** Optional note kept with the decision. */
  reason?: string;
}

export interface DismissHeldOptions {
  runId: string;
  kind?: DiscrepancyKind;
  reason: string;
  actor: string;
}

export type DecisionDeps = EnqueueDeps & { log?: Logger };

function toDecision(r: DecisionRow): Decision {
  return {
    id: r.id,
    runId: r.run_id,
    check: r.check_name,
    kind: r.kind,
    action: r.action,
    actor: r.actor,
    reason: r.reason,
    requestedLimit: r.requested_limit,
    affected: r.affected,
    decidedAt: r.decided_at,
  };
}

function checkSelection(o: { kind?: DiscrepancyKind; limit?: number; actor: string }): void {
  if (o.kind !== undefined) {
    if (!ALL_DISCREPANCY_KINDS.includes(o.kind)) throw new UsageError(`--kind: unknown kind "${o.kind}" (choose from ${ALL_DISCREPANCY_KINDS.join(', ')})`);
    if (!isCompensable(o.kind)) throw new UsageError(`--kind: ${o.kind} is report-only: it is never held`);
  }
  if (o.limit !== undefined && (!Number.isInteger(o.limit) || o.limit < 1)) throw new UsageError('--limit: must be a whole number of at least 1');
  if (!o.actor.trim()) throw new ReconError('INTERNAL', 'a decision needs an actor');
}

async function requireRun(db: Knex, runId: string): Promise<void> {
  if (!(await getRunRow(db, runId))) throw new ReconError('NOT_FOUND', `no run ${runId}`);
}

/**
 * Approve held compensations of a run (of one kind, at most `limit`): record
 * the decision, move them to `detected` under it, and queue them. Should
 * Redis refuse the jobs, the approval stands and a worker's sweeper queues
 * them (an approved discrepancy is always sweepable); the error says so.
 */
export async function approveHeld(deps: DecisionDeps, o: ApproveHeldOptions): Promise<{ queued: number; approved: number; decision: Decision | null }> {
  checkSelection(o);
  await requireRun(deps.db, o.runId);
  const { released, decision } = await deps.db.transaction(async (trx) => {
    const row = await insertDecision(trx, {
      id: randomUUID(),
      run_id: o.runId,
      check_name: null,
      kind: o.kind ?? null,
      action: 'approve',
      actor: o.actor,
      reason: o.reason ?? null,
      requested_limit: o.limit ?? null,
      affected: 0,
    });
    const released = await releaseHeld(trx, { runId: o.runId, ...(o.kind ? { kind: o.kind } : {}), ...(o.limit ? { limit: o.limit } : {}) }, row.id);
    // Nothing held (any more): no decision to keep.
    if (released.length === 0) {
      await trx('compensation_decisions').where({ id: row.id }).delete();
      return { released, decision: null };
    }
    await setDecisionAffected(trx, row.id, released.length);
    return { released, decision: toDecision({ ...row, affected: released.length }) };
  });
  if (released.length === 0) return { queued: 0, approved: 0, decision: null };
  (deps.log ?? silentLogger).info({ runId: o.runId, kind: o.kind, approved: released.length, actor: o.actor }, 'held compensations approved');
  try {
    const { queued } = await enqueueCompensations(deps, released);
    return { queued, approved: released.length, decision };
  } catch (err) {
    throw new ReconError(
      'SERVICE_UNAVAILABLE',
      `approved ${released.length} held compensations but could not queue them (${describeError(err).message}); a running \`recon worker\` queues them once Redis answers`,
      { cause: err, retryable: true },
    );
  }
}

/** Dismiss held compensations of a run (of one kind): closed without an effect, the reason kept. */
export async function dismissHeld(deps: { db: Knex; log?: Logger }, o: DismissHeldOptions): Promise<{ dismissed: number; decision: Decision | null }> {
  checkSelection(o);
  if (!o.reason.trim()) throw new UsageError('--reason: say why these compensations are dismissed');
  await requireRun(deps.db, o.runId);
  const out = await deps.db.transaction(async (trx) => {
    const row = await insertDecision(trx, {
      id: randomUUID(),
      run_id: o.runId,
      check_name: null,
      kind: o.kind ?? null,
      action: 'dismiss',
      actor: o.actor,
      reason: o.reason,
      requested_limit: null,
      affected: 0,
    });
    const dismissed = await dismissHeldRows(trx, { runId: o.runId, ...(o.kind ? { kind: o.kind } : {}) }, row.id, o.reason);
    if (dismissed === 0) {
      await trx('compensation_decisions').where({ id: row.id }).delete();
      return { dismissed, decision: null };
    }
    await setDecisionAffected(trx, row.id, dismissed);
    return { dismissed, decision: toDecision({ ...row, affected: dismissed }) };
  });
  if (out.dismissed)
    (deps.log ?? silentLogger).info({ runId: o.runId, kind: o.kind, dismissed: out.dismissed, actor: o.actor }, 'held compensations dismissed');
  return out;
}

/** The audit trail of a run, oldest first. */
export async function decisionsForRun(reconDb: Knex, runId: string): Promise<Decision[]> {
  return (await listDecisions(reconDb, runId)).map(toDecision);
}

/** What a run's guard holds still, per check and kind. */
export async function heldForRun(reconDb: Knex, runId: string): Promise<HeldCount[]> {
  return heldCounts(reconDb, runId);
}
