/** Running doctor's checks: each bounded in time, prerequisites first, results in list order. */
import { describeError, operatorHint, ReconError, withTimeout } from '../../core/index.js';
import type { DoctorCheck, DoctorContext, DoctorFinding, DoctorResult } from './types.js';

/**
 * Run `checks` against `ctx`: all at once, except that a check waits for the
 * ones it `requires` and is not run when one of them failed. Each check is
 * bounded by `ctx.timeoutMs`; one that throws or runs out of time fails with
 * what it talked to and the error. Never throws for a check's sake.
 */
export async function runDoctor(checks: readonly DoctorCheck[], ctx: DoctorContext): Promise<DoctorResult[]> {
  const started = new Map<string, Promise<DoctorResult>>();
  for (const check of checks) {
    if (started.has(check.name)) throw new ReconError('INTERNAL', `two doctor checks are named ${check.name}`);
    const prerequisites = (check.requires ?? []).map((name) => {
      const p = started.get(name);
      if (!p) throw new ReconError('INTERNAL', `doctor check ${check.name} requires ${name}, which is not listed before it`);
      return p;
    });
    started.set(check.name, runOne(check, prerequisites, ctx));
  }
  return Promise.all(started.values());
}

async function runOne(check: DoctorCheck, prerequisites: Promise<DoctorResult>[], ctx: DoctorContext): Promise<DoctorResult> {
  const failed = (await Promise.all(prerequisites)).find((r) => r.status === 'fail');
  if (failed) return { name: check.name, status: 'fail', detail: `not checked: ${failed.name} failed`, fix: `fix ${failed.name} first`, ms: 0 };
  const t0 = Date.now();
  let finding: DoctorFinding;
  try {
    finding = await withTimeout(check.run(ctx), ctx.timeoutMs, check.target);
  } catch (err) {
    finding = failureFinding(check, err, ctx.timeoutMs);
  }
  return { name: check.name, ...finding, ms: Date.now() - t0 };
}

/** The finding of a check that threw: what it talked to, the error, and the hint when the cause is well known. */
export function failureFinding(check: Pick<DoctorCheck, 'target'>, err: unknown, timeoutMs: number): DoctorFinding {
  if (timedOut(err)) {
    return {
      status: 'fail',
      detail: `${check.target} did not answer within ${timeoutMs / 1000} s`,
      fix: 'make sure it runs and is reachable from this host, and that the variable in the detail names it',
    };
  }
  const { errorClass, message } = describeError(err);
  return {
    status: 'fail',
    // node-postgres names its errors `error`: the message (and the code) say it all.
    detail: `${check.target}: ${err instanceof ReconError || /^error$/i.test(errorClass) ? message : `${errorClass}: ${message}`}`,
    fix: operatorHint(err) ?? 'see the detail; make sure the service runs and that the variable in the detail names it',
  };
}

/** Our own TIMEOUT, knex's pool timeout, node-postgres's connection timeout or a Redis command timeout. */
function timedOut(err: unknown): boolean {
  if (err instanceof ReconError) return err.code === 'TIMEOUT';
  const { name, message } = (err ?? {}) as { name?: unknown; message?: unknown };
  return name === 'KnexTimeoutError' || (typeof message === 'string' && /connection timeout|Command timed out|timed? ?out/i.test(message));
}

/** Exit status of `recon doctor`: 1 when a check failed (warnings pass). */
export function doctorExitCode(results: readonly DoctorResult[]): 0 | 1 {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}
