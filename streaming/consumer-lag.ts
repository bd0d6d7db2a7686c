/**
 * Consumer lag of the subscribed groups: per group and topic, the messages
 * between the group's committed offsets and the partitions' high watermarks.
 */
import { backoffDelay, isRetryable, namespaced, sleep, type Config } from '../core/index.js';
import type { Admin } from './kafka.js';

export interface ConsumerLag {
  group: string;
  topic: string;
  lag: number;
}

async function measure(admin: Admin, config: Pick<Config, 'namespace' | 'subscriptions'>): Promise<ConsumerLag[]> {
  // A topic not created yet has no lag to speak of (and asking for it makes the client retry and log).
  const existing = new Set(await admin.listTopics());
  const subscribed = config.subscriptions.filter((s) => existing.has(namespaced(config, s.topic)));
  return Promise.all(
    subscribed.map(async (s) => {
      const topic = namespaced(config, s.topic);
      const group = namespaced(config, s.group);
      const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: group, topics: [topic] })]);
      const done = new Map<number, number>();
      for (const t of committed) for (const p of t.partitions) done.set(p.partition, Number(p.offset));
      let lag = 0;
      for (const p of ends) {
        const at = done.get(p.partition);
        const from = at === undefined || at < 0 ? Number(p.low) : at;
        lag += Math.max(0, Number(p.high) - from);
      }
      return { group, topic, lag };
    }),
  );
}

/**
 * Lag of every configured subscription (`RECON_SUBSCRIPTIONS`) under the namespace. A partition the
 * group never committed counts from its low watermark (new groups start at
 * the earliest offset). Retryable broker answers (a leader moving, a topic
 * just created) are retried; rejects when no answer came within `timeoutMs`
 * (default 5000): callers decide whether that is fatal.
 */
export async function fetchConsumerLag(admin: Admin, config: Pick<Config, 'namespace' | 'subscriptions'>, { timeoutMs = 5000 } = {}): Promise<ConsumerLag[]> {
  const deadline = Date.now() + timeoutMs;
  const stop = new AbortController();
  const work = (async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await measure(admin, config);
      } catch (err) {
        const wait = backoffDelay(attempt, 100, 1000);
        if (stop.signal.aborted || !isRetryable(err) || Date.now() + wait >= deadline) throw err;
        await sleep(wait, stop.signal);
      }
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Kafka did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    stop.abort();
    work.catch(() => undefined);
  }
}
