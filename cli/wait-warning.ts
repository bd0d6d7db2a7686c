import { withTimeout } from '../core/index.js';
import type { CompensationQueue } from '../batch/index.js';

/** Before `--wait`: say so when no worker could settle what is waited for (or Redis does not answer). */
export async function warnWithoutWorkers(queue: CompensationQueue): Promise<void> {
  const workers = await withTimeout(queue.getWorkers(), 5000, 'Redis').catch(() => undefined);
  if (workers === undefined) {
    process.stderr.write('recon: Redis does not answer: the compensations are recorded, and a `recon worker` queues them once it does; waiting\n');
  } else if (workers.length === 0) {
    process.stderr.write('recon: no `recon worker` is connected to the compensation queue yet: start one, or this wait will not end\n');
  }
}
