/** `--wait` of `recon run` and `recon retry`: wait for queued compensations to settle, with a progress bar. */
import { waitForCompensations, type CompensationQueue, type WaitResult } from '../batch/index.js';
import { Progress, withTimeout, type DiscrepancyStatus } from '../core/index.js';
import type { Knex } from '../db/index.js';

/** Before waiting: say so when no worker could settle what is waited for (or Redis does not answer). */
async function warnWithoutWorkers(queue: CompensationQueue): Promise<void> {
  const workers = await withTimeout(queue.getWorkers(), 5000, 'Redis').catch(() => undefined);
  if (workers === undefined) {
    process.stderr.write('recon: Redis does not answer: the compensations are recorded, and a `recon worker` queues them once it does; waiting\n');
  } else if (workers.length === 0) {
    process.stderr.write('recon: no `recon worker` is connected to the compensation queue yet: start one, or this wait will not end\n');
  }
}

/** Wait until every one of `ids` is resolved or failed (or `signal` aborts); the bar is silent with `--json`. */
export async function waitForQueued(
  deps: { queue: CompensationQueue; db: Knex },
  ids: readonly string[],
  { json, signal }: { json: boolean; signal: AbortSignal },
): Promise<WaitResult> {
  await warnWithoutWorkers(deps.queue);
  const bar = new Progress({ label: 'compensations settled', total: ids.length, silent: json });
  const waited = await waitForCompensations({ db: deps.db }, ids, { progress: bar, signal });
  bar.finish();
  return waited;
}

/** The last line of a `--wait` in table mode. */
export function compensationsLine(c: Record<DiscrepancyStatus, number>): string {
  return `compensations: ${c.resolved} resolved, ${c.failed} failed, ${c.detected + c.queued} pending\n`;
}
