/**
 * Rate limit of run creation (`POST /api/runs`): a token bucket per client
 * (./auth.ts `clientKey`: the credential, or without a token the remote
 * address) of `perMinute` runs, refilled continuously, so a burst of
 * `perMinute` is allowed and then one run every `60 / perMinute` seconds.
 * In memory: per process, forgotten on restart.
 */

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept before full ones (clients quiet for a minute) are forgotten. */
const PRUNE_ABOVE = 1000;

export type Take = { ok: true } | { ok: false; retryAfterSeconds: number };

export class RateLimit {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Take one token of `key`'s bucket, or say how long until one is there. */
  take(key: string): Take {
    const now = this.now();
    const bucket = this.refilled(key, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    const msPerToken = 60_000 / this.perMinute;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(((1 - bucket.tokens) * msPerToken) / 1000)) };
  }

  private refilled(key: string, now: number): Bucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= PRUNE_ABOVE) this.prune(now);
      bucket = { tokens: this.perMinute, at: now };
      this.buckets.set(key, bucket);
      return bucket;
    }
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + ((now - bucket.at) * this.perMinute) / 60_000);
    bucket.at = now;
    return bucket;
  }

  private prune(now: number) {
    for (const [key, b] of this.buckets) if (b.tokens + ((now - b.at) * this.perMinute) / 60_000 >= this.perMinute) this.buckets.delete(key);
  }
}
