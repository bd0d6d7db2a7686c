/** What `recon serve` is built from: handed in by the CLI, passed on to the route plugins. */
import type { Queue } from 'bullmq';
import type { Config, Logger } from '../../core/index.js';
import type { Databases } from '../../db/index.js';
import type { Admin, KafkaClient } from '../../streaming/index.js';
import type { CompensationQueue } from '../compensation/index.js';
import type { AfterRun, EnqueueCompensations, ExecuteRun, RunDeps, RunQueue } from '../runs/index.js';
import type { WebhookNotifier } from '../alerts/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Served without authentication (only `/healthz`). The auth hook reads it
     * from the route the request matched, never from the URL again, so a path
     * the router and a URL parser read differently cannot slip through.
     */
    public?: boolean;
  }
}

/** Timeouts and lifetimes of the HTTP server. Production values: {@link DEFAULT_HTTP_LIMITS}; tests shorten them. */
export interface HttpLimits {
  /**
   * The whole request, headers and body, must arrive within this many ms;
   * otherwise Node answers 408 and closes the connection. Default 30 000.
   */
  requestTimeoutMs: number;
  /** A connection with no traffic either way for this many ms is closed. Default 60 000. */
  idleTimeoutMs: number;
  /** An idle keep-alive connection is closed after this many ms. Default 10 000. */
  keepAliveTimeoutMs: number;
  /** Each dependency check of `/healthz` (Postgres, Redis) gives up after this many ms. Default 2 000. */
  healthCheckTimeoutMs: number;
  /** Lifetime of a browser session opened with `?token=`, in seconds (the cookie's Max-Age). Default 43 200 (12 h). */
  sessionSeconds: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 10_000,
  healthCheckTimeoutMs: 2_000,
  sessionSeconds: 12 * 3600,
};

export interface ApiDeps {
  config: Config;
  dbs: Databases;
  log: Logger;
  /** Where `POST /api/runs` queues runs. */
  runQueue: RunQueue;
  /** Shown in bull-board besides the run queue (the compensation queue). */
  queues?: Queue[];
  /** For consumer lag in metrics, reports and the console. */
  admin?: Admin;
  /**
   * Where approved held compensations (`POST /api/runs/:id/approve`, the
   * console) and the console's retries are queued. Absent: the API opens its
   * own; the console's actions answer 503.
   */
  compensationQueue?: CompensationQueue;
  /** For the console's dead-letter replay (a producer per replay); without it, the replay answers 503. */
  kafka?: KafkaClient;
  /**
   * When given, the server also runs queued runs itself (a run-queue worker
   * in this process, closed with the server); otherwise `recon worker` does.
   */
  executeRun?: ExecuteRun;
  /** Passed to runs executed in this process. */
  enqueue?: EnqueueCompensations;
  /** Workers mode: runs executed in this process hand their windows to the window queue's workers. */
  windows?: RunDeps['windows'];
  /** Alerts of runs executed in this process; its delivery counts feed `/metrics`. */
  alerts?: WebhookNotifier;
  /** After each run executed in this process (the CLI hands in the report's delivery). */
  afterRun?: AfterRun;
  /** Overrides of {@link DEFAULT_HTTP_LIMITS}. */
  limits?: Partial<HttpLimits>;
}
