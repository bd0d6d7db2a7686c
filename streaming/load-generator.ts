/**
 * The load generator behind `recon users create`: creates `count` users
 * through the user service, as fast as possible or at a fixed rate, with
 * optional faults, reporting progress as it goes.
 */
import { sleep } from '../core/index.js';
import type { FaultInjector } from './faults.js';
import { createUserDirect, createUsersOutbox, type UserServiceDeps, type UserServiceMode } from './user-service.js';

export interface LoadOptions {
  count: number;
  /** Users per second; unlimited when absent. */
  rate?: number;
  /** Default `outbox`. */
  mode?: UserServiceMode;
  /** Users per transaction in outbox mode. Default 500 (direct mode: always 1). */
  batchSize?: number;
  /** Transactions in flight at once. Default 2 in outbox mode, 8 in direct mode. */
  concurrency?: number;
  /** Called after every transaction with the running totals. */
  onProgress?: (done: { committed: number; rolledBack: number }) => void;
  /** Stop early (e.g. on SIGINT); what was created stays. */
  signal?: AbortSignal;
}

export interface LoadResult {
  committed: number;
  rolledBack: number;
  ms: number;
  /** What the faults module injected, when faults were on. */
  injected: FaultInjector['injected'] | undefined;
}

export async function generateUsers(deps: UserServiceDeps, options: LoadOptions): Promise<LoadResult> {
  const { count, rate, mode = 'outbox', signal } = options;
  const batchSize = mode === 'direct' ? 1 : Math.max(1, options.batchSize ?? 500);
  const concurrency = Math.max(1, options.concurrency ?? (mode === 'direct' ? 8 : 2));
  const started = Date.now();
  let claimed = 0;
  const done = { committed: 0, rolledBack: 0 };

  /** How many users the next transaction may create (0: finished). Paces to `rate` when set. */
  async function claim(): Promise<number> {
    for (;;) {
      if (claimed >= count || signal?.aborted) return 0;
      const left = count - claimed;
      if (!rate) {
        const n = Math.min(batchSize, left);
        claimed += n;
        return n;
      }
      const elapsed = Date.now() - started;
      const due = Math.floor((elapsed / 1000) * rate) - claimed;
      if (due > 0) {
        const n = Math.min(batchSize, left, due);
        claimed += n;
        return n;
      }
      await sleep(Math.max(1, ((claimed + 1) / rate) * 1000 - elapsed), signal);
    }
  }

  async function worker(): Promise<void> {
    for (let n = await claim(); n > 0; n = await claim()) {
      const r = mode === 'direct' ? await createUserDirect(deps) : await createUsersOutbox(deps, n);
      done.committed += r.committed;
      done.rolledBack += r.rolledBack;
      options.onProgress?.(done);
    }
  }

  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ...done, ms: Date.now() - started, injected: deps.faults ? { ...deps.faults.injected } : undefined };
}
