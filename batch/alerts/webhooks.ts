/**
 * Webhook delivery of alerts: JSON POSTed to every `RECON_WEBHOOK_URL`.
 *
 * Fire and forget, in process, with a bounded queue: `send` never waits and
 * never throws, so an alert can never slow or fail a run; a full queue drops
 * the alert (counted, logged). Not a BullMQ job, on purpose: the alerts that
 * matter most come when something is down, Redis included (a run during a
 * Redis outage must still be able to say so), and `recon run` on the command
 * line has no worker to run such a job. The price: alerts still pending when
 * a process ends are lost, so commands call `flush` (bounded) before exiting.
 *
 * Each receiver gets its own attempts: a 2xx is delivered; a 5xx, 408, 429, a
 * timeout or a connection error is retried with exponential backoff and
 * jitter, up to `attempts`; any other 4xx is permanent (the receiver refuses
 * the payload: retrying would not change its mind).
 */
import { describeError, silentLogger, sleep, type Logger } from '../../core/index.js';
import type { Alert } from './alerts.js';

export const WEBHOOK_OUTCOMES = ['delivered', 'retried', 'failed', 'dropped'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

export interface WebhookOptions {
  /** Receivers (http(s) URLs). */
  urls: readonly string[];
  log?: Logger;
  /** Attempts per receiver and alert. Default 5. */
  attempts?: number;
  /** First retry delay, ms; doubled each time, with ±50 % jitter. Default 1000. */
  baseDelayMs?: number;
  /** Longest delay between two attempts, ms. Default 30 000. */
  maxDelayMs?: number;
  /** One request's time limit, ms. Default 5000. */
  timeoutMs?: number;
  /** Alerts waiting (not yet being delivered) at most; more are dropped. Default 100. */
  maxQueue?: number;
}

/** Where alerts go. Runs, workers and the scheduler get one; without webhooks it is {@link NO_ALERTS}. */
export interface AlertSink {
  /** Queue an alert for delivery; returns at once. */
  send(alert: Alert): void;
}

export interface WebhookNotifier extends AlertSink {
  /** Delivery outcomes so far, per outcome (each receiver counts once per alert; `retried` counts attempts that will be tried again). */
  readonly counts: Readonly<Record<WebhookOutcome, number>>;
  /** Wait until every queued alert is delivered or given up, or `timeoutMs` passed. True when nothing is left. */
  flush(timeoutMs: number): Promise<boolean>;
  /** Stop: pending retries end at their next wait. */
  close(): void;
}

export const NO_ALERTS: AlertSink = { send: () => undefined };

/** A 4xx other than these is the receiver refusing the payload: no retry. */
const RETRYABLE_STATUSES = new Set([408, 425, 429]);

export function createWebhookNotifier(o: WebhookOptions): WebhookNotifier {
  const log = o.log ?? silentLogger;
  const attempts = o.attempts ?? 5;
  const baseDelayMs = o.baseDelayMs ?? 1000;
  const maxDelayMs = o.maxDelayMs ?? 30_000;
  const timeoutMs = o.timeoutMs ?? 5000;
  const maxQueue = o.maxQueue ?? 100;
  const counts: Record<WebhookOutcome, number> = { delivered: 0, retried: 0, failed: 0, dropped: 0 };
  const queue: Alert[] = [];
  const stop = new AbortController();
  let draining: Promise<void> | undefined;

  async function deliver(url: string, alert: Alert): Promise<void> {
    const body = JSON.stringify(alert);
    // The URL may carry a secret (Slack's do): logs name only its origin.
    const where = new URL(url).origin;
    for (let attempt = 1; ; attempt++) {
      let problem: string;
      let retryable = true;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'recon-alerts' },
          body,
          signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), stop.signal]),
        });
        // Read the body so the connection can be reused (and is not left half-read).
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          counts.delivered++;
          if (attempt > 1) log.info({ receiver: where, event: alert.event, attempts: attempt }, 'webhook delivered after retries');
          return;
        }
        problem = `HTTP ${res.status}`;
        retryable = res.status >= 500 || RETRYABLE_STATUSES.has(res.status);
      } catch (err) {
        problem = describeError(err).message;
      }
      if (!retryable || attempt >= attempts || stop.signal.aborted) {
        counts.failed++;
        log.warn({ receiver: where, event: alert.event, runId: alert.runId, attempts: attempt, err: problem }, 'webhook not delivered; giving up');
        return;
      }
      counts.retried++;
      const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random());
      log.debug({ receiver: where, event: alert.event, attempt, err: problem, delayMs: Math.round(delay) }, 'webhook failed; retrying');
      await sleep(delay, stop.signal).catch(() => undefined);
    }
  }

  async function drain(): Promise<void> {
    for (let alert = queue.shift(); alert; alert = queue.shift()) {
      const current = alert;
      await Promise.all(o.urls.map((url) => deliver(url, current)));
    }
  }

  function kick(): void {
    if (draining) return;
    draining = drain().finally(() => {
      draining = undefined;
      if (queue.length && !stop.signal.aborted) kick();
    });
  }

  return {
    counts,
    send(alert) {
      if (o.urls.length === 0 || stop.signal.aborted) return;
      if (queue.length >= maxQueue) {
        counts.dropped += o.urls.length;
        log.warn({ event: alert.event, runId: alert.runId, maxQueue }, 'webhook queue full; alert dropped');
        return;
      }
      queue.push(alert);
      kick();
    },
    async flush(ms) {
      const deadline = Date.now() + ms;
      while (draining || queue.length) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        await Promise.race([draining ?? Promise.resolve(), sleep(Math.min(left, 50))]);
      }
      return true;
    },
    close() {
      stop.abort();
      queue.length = 0;
    },
  };
}
