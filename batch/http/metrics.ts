/**
 * Prometheus metrics of `recon serve`, in a registry of their own (the
 * process-wide default registry stays untouched, so two servers in one
 * process, as in tests, never collide). Values are read at scrape time from
 * cheap aggregates of the recon database and from Kafka offsets.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { WEBHOOK_OUTCOMES, type WebhookNotifier } from '../alerts/index.js';
import { ALL_DISCREPANCY_KINDS, DISCREPANCY_STATUSES, describeError, type Config, type Logger } from '../../core/index.js';
import { discrepancyCountsByKindStatus, finishedRunsSince, watermarkLags, type Databases } from '../../db/index.js';
import { fetchConsumerLag, type Admin } from '../../streaming/index.js';

export interface MetricsDeps {
  config: Pick<Config, 'namespace'>;
  dbs: Pick<Databases, 'recon'>;
  log: Logger;
  /** For consumer lag; absent: that metric is left out. */
  admin?: Admin;
  /** The webhook deliveries of this process (runs executed by `recon serve`); absent: counted as zero. */
  alerts?: Pick<WebhookNotifier, 'counts'>;
}

/** Outcome of a compensation, from the status of its discrepancy. */
const OUTCOMES = { resolved: 'resolved', failed: 'failed', queued: 'pending' } as const;

export function createMetricsRegistry(deps: MetricsDeps): Registry {
  const { dbs, log } = deps;
  const registry = new Registry();

  new Counter({
    name: 'recon_webhook_deliveries_total',
    help: 'Webhook alert deliveries of this process, by outcome (delivered, retried = an attempt that failed and is tried again, failed = given up, dropped = queue full).',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const outcome of WEBHOOK_OUTCOMES) this.inc({ outcome }, deps.alerts?.counts[outcome] ?? 0);
    },
  });

  new Gauge({
    name: 'recon_discrepancies',
    help: 'Discrepancies recorded, by kind and status.',
    labelNames: ['kind', 'status'],
    registers: [registry],
    async collect() {
      const rows = await discrepancyCountsByKindStatus(dbs.recon);
      this.reset();
      // Every kind × status appears, zero included: absent series make alerts blind.
      for (const kind of ALL_DISCREPANCY_KINDS) for (const status of DISCREPANCY_STATUSES) this.set({ kind, status }, 0);
      for (const r of rows) this.set({ kind: r.kind, status: r.status }, r.n);
    },
  });

  // A gauge, not a counter: these are current states, and a reopened discrepancy
  // leaves `resolved`, which a counter (monotonic for rate()) must never do.
  new Gauge({
    name: 'recon_compensations',
    help: 'Compensations by outcome (resolved, failed, pending = queued), counted from the discrepancies they fix.',
    labelNames: ['outcome'],
    registers: [registry],
    async collect() {
      const rows = await discrepancyCountsByKindStatus(dbs.recon);
      this.reset();
      for (const outcome of Object.values(OUTCOMES)) this.set({ outcome }, 0);
      for (const r of rows) {
        const outcome = OUTCOMES[r.status as keyof typeof OUTCOMES];
        if (outcome) this.inc({ outcome }, r.n);
      }
    },
  });

  // Fed incrementally: each scrape observes the runs finished since the last one.
  let lastFinished: Date | undefined;
  new Histogram({
    name: 'recon_run_duration_seconds',
    help: 'Duration of finished runs, by trigger and status.',
    labelNames: ['trigger', 'status'],
    buckets: [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14_400],
    registers: [registry],
    async collect() {
      const runs = await finishedRunsSince(dbs.recon, lastFinished);
      for (const r of runs) {
        this.observe({ trigger: r.trigger, status: r.status }, Math.max(0, r.duration_seconds));
        lastFinished = r.finished_at;
      }
    },
  });

  new Gauge({
    name: 'recon_watermark_lag_seconds',
    help: 'How far behind now each check has reconciled (now − watermark).',
    labelNames: ['check'],
    registers: [registry],
    async collect() {
      const rows = await watermarkLags(dbs.recon);
      this.reset();
      for (const r of rows) this.set({ check: r.check_name }, r.lag_seconds);
    },
  });

  if (deps.admin) {
    const admin = deps.admin;
    new Gauge({
      name: 'recon_consumer_lag',
      help: 'Messages between the committed offsets of a consumer group and the end of its topic.',
      labelNames: ['group', 'topic'],
      registers: [registry],
      async collect() {
        this.reset();
        try {
          for (const l of await fetchConsumerLag(admin, deps.config, { timeoutMs: 3000 })) this.set({ group: l.group, topic: l.topic }, l.lag);
        } catch (err) {
          // Kafka down must not break the scrape: the series disappears and the log says why.
          log.warn({ err: describeError(err).message }, 'metrics: consumer lag unavailable');
        }
      },
    });
  }
  return registry;
}
