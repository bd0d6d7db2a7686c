/**
 * The liveness endpoint of `recon stream consume` (`RECON_CONSUME_HEALTH_PORT`):
 *
 * - `GET /healthz`: 200 while every consumer of the process runs (or kafkajs
 *   is restarting it after a failure a retry may fix), 503 once one has
 *   crashed for good or stopped; JSON with each group's state, since when, its
 *   last committed batch, the failure and its counters.
 * - `GET /metrics`: the same in Prometheus text format:
 *   `recon_consumer_up{group}`, `recon_consumer_last_batch_timestamp_seconds{group}`,
 *   and the counters `recon_consumer_consumed_total`, `recon_consumer_duplicates_total`,
 *   `recon_consumer_dead_letters_total` and `recon_consumer_dlt_send_failures_total`
 *   (dead letters the DLT could never take), all by `group`.
 *
 * A plain node:http server: nothing here needs a framework, and a probe must
 * answer even when the consumers are stuck.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, type Logger } from '../core/index.js';
import type { ConsumerHealth, ConsumerState } from './idempotent-consumer.js';

/** States in which a consumer counts as alive. */
const ALIVE: ReadonlySet<ConsumerState> = new Set(['starting', 'running', 'restarting']);

export interface HealthServer {
  /** The port it listens on (the one asked for, or the one the system chose for 0). */
  port: number;
  close(): Promise<void>;
}

export function healthReport(groups: readonly ConsumerHealth[]): { ok: boolean; body: object } {
  const ok = groups.length > 0 && groups.every((g) => ALIVE.has(g.state));
  return {
    ok,
    body: {
      status: ok ? 'ok' : 'failing',
      groups: Object.fromEntries(
        groups.map(({ group, since, lastBatchAt, ...rest }) => [
          group,
          { ...rest, since: since.toISOString(), lastBatchAt: lastBatchAt?.toISOString() ?? null },
        ]),
      ),
    },
  };
}

export function healthMetrics(groups: readonly ConsumerHealth[]): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: (g: ConsumerHealth) => number) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const g of groups) lines.push(`${name}{group="${g.group}"} ${value(g)}`);
  };
  metric('recon_consumer_up', 'gauge', '1 while the consumer runs (or kafkajs restarts it), 0 once it crashed for good or stopped.', (g) =>
    ALIVE.has(g.state) ? 1 : 0,
  );
  metric('recon_consumer_last_batch_timestamp_seconds', 'gauge', 'When the consumer last committed a batch (0: not yet).', (g) =>
    g.lastBatchAt ? g.lastBatchAt.getTime() / 1000 : 0,
  );
  metric('recon_consumer_consumed_total', 'counter', 'Events consumed for the first time.', (g) => g.consumed);
  metric('recon_consumer_duplicates_total', 'counter', 'Deliveries of events consumed before (deduplicated).', (g) => g.duplicates);
  metric('recon_consumer_dead_letters_total', 'counter', 'Messages dead-lettered.', (g) => g.deadLettered);
  metric(
    'recon_consumer_dlt_send_failures_total',
    'counter',
    'Dead letters the dead-letter topic could never take (kept in dead_letters with dlt_error only).',
    (g) => g.dltSendFailures,
  );
  return lines.join('\n') + '\n';
}

/** Serve `/healthz` and `/metrics` on `port` (all interfaces: probes come from outside). */
export async function startHealthServer({
  port,
  health,
  log = silentLogger,
}: {
  port: number;
  health: () => readonly ConsumerHealth[];
  log?: Logger;
}): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/healthz') {
      const { ok, body } = healthReport(health());
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(healthMetrics(health()));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  log.info({ port: bound }, `consumer health: /healthz and /metrics on port ${bound}`);
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
