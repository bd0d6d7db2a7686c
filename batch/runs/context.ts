/**
 * What a check's comparison needs besides its databases: topic evidence
 * (the outbox check), the record of replayed dead letters, and which source
 * databases track commit times. Shared by in-process runs and window workers.
 */
import { hostname } from 'node:os';
import type { CheckName } from '../../core/index.js';
import { dlqReplaysOfLetters, type Databases } from '../../db/index.js';
import { CHECK_NAMES_WITH_TOPIC_EVIDENCE, type CheckContext, type DeadLetterReplays, type TopicEvidence } from '../../reconcile/index.js';
import { createKafka, createTopicEvidence } from '../../streaming/index.js';
import type { RunDeps } from './types.js';

/** The process comparing windows, as `run_windows` records it. */
export const WORKER_IDENTITY: { host: string; pid: number } = { host: hostname(), pid: process.pid };

/** Dead-letter replays as the checks read them, from the recon database. */
export function deadLetterReplays(recon: Databases['recon']): DeadLetterReplays {
  return {
    async replaysOf(dltTopic, letters) {
      return (await dlqReplaysOfLetters(recon, dltTopic, letters)).map((r) => ({
        dltPartition: r.dlt_partition,
        dltOffset: r.dlt_offset,
        replayedPartition: r.replayed_partition,
        replayedOffset: r.replayed_offset,
        replayedAt: r.replayed_at,
        replayCount: r.replay_count,
      }));
    },
  };
}

/**
 * The check context for `checks`: with `deps.topics` when given, else (when
 * one of the checks needs topic evidence) a reader of its own, which
 * `close()` ends.
 */
export async function openCheckContext(
  deps: Pick<RunDeps, 'config' | 'dbs' | 'log' | 'topics'>,
  checks: readonly CheckName[],
): Promise<{ ctx: CheckContext; close(): Promise<void> }> {
  let own: (TopicEvidence & { close(): Promise<void> }) | undefined;
  if (deps.topics === undefined && checks.some((c) => CHECK_NAMES_WITH_TOPIC_EVIDENCE.includes(c))) {
    own = await createTopicEvidence(createKafka(deps.config, { logger: deps.log, clientId: 'recon-run' }));
  }
  const topics: TopicEvidence | undefined = deps.topics ?? own ?? undefined;
  const ctx: CheckContext = { dbs: deps.dbs, config: deps.config, ...(topics ? { topics, replays: deadLetterReplays(deps.dbs.recon) } : {}) };
  return {
    ctx,
    async close() {
      await own?.close().catch(() => undefined);
    },
  };
}
