/**
 * A small client of the Kafka Connect REST API (the endpoints recon uses:
 * connector config, status, pause, resume, delete). Every call is bounded by
 * a timeout; a worker that does not answer is a `SERVICE_UNAVAILABLE` naming
 * `KAFKA_CONNECT_URL`.
 */
import { ReconError } from '../../core/index.js';

/** A connector's or a task's state as Connect reports it. */
export type ConnectState = 'RUNNING' | 'PAUSED' | 'STOPPED' | 'FAILED' | 'UNASSIGNED' | 'RESTARTING';

export interface ConnectorStatus {
  name: string;
  connector: { state: ConnectState; worker_id: string; trace?: string };
  tasks: { id: number; state: ConnectState; worker_id: string; trace?: string }[];
}

export interface ConnectClient {
  readonly url: string;
  /** True when the worker answers `GET /` within the timeout. */
  reachable(): Promise<boolean>;
  /** The worker's version answer (`GET /`). */
  info(): Promise<{ version: string; commit: string; kafka_cluster_id: string }>;
  connectors(): Promise<string[]>;
  /** Create or update (`PUT /connectors/<name>/config`): `created` is true when it did not exist. */
  putConfig(name: string, config: Record<string, string>): Promise<{ created: boolean }>;
  /** `undefined` when there is no such connector. */
  status(name: string): Promise<ConnectorStatus | undefined>;
  pause(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  /** Deletes the connector; false when there was none. */
  remove(name: string): Promise<boolean>;
  /** The plugins the worker loaded (`GET /connector-plugins`). */
  plugins(): Promise<{ class: string; type: string; version: string }[]>;
}

export function connectClient(url: string, { timeoutMs = 15_000 }: { timeoutMs?: number } = {}): ConnectClient {
  const base = url.replace(/\/+$/, '');
  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new ReconError('SERVICE_UNAVAILABLE', `Kafka Connect at ${base} (KAFKA_CONNECT_URL) does not answer: ${(err as Error).message}`, {
        cause: err,
        retryable: true,
      });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: res.status, json };
  }
  function fail(what: string, r: { status: number; json: unknown }): never {
    const message = (r.json as { message?: string } | undefined)?.message ?? JSON.stringify(r.json);
    // 409: a rebalance is in progress; the same call a moment later works.
    throw new ReconError('SERVICE_UNAVAILABLE', `Kafka Connect ${what} answered ${r.status}: ${message}`, { retryable: r.status === 409 || r.status >= 500 });
  }
  const enc = encodeURIComponent;
  return {
    url: base,
    async reachable() {
      try {
        return (await call('GET', '/')).status === 200;
      } catch {
        return false;
      }
    },
    async info() {
      const r = await call('GET', '/');
      if (r.status !== 200) fail('GET /', r);
      return r.json as { version: string; commit: string; kafka_cluster_id: string };
    },
    async connectors() {
      const r = await call('GET', '/connectors');
      if (r.status !== 200) fail('GET /connectors', r);
      return r.json as string[];
    },
    async putConfig(name, config) {
      const r = await call('PUT', `/connectors/${enc(name)}/config`, config);
      if (r.status !== 200 && r.status !== 201) fail(`PUT /connectors/${name}/config`, r);
      return { created: r.status === 201 };
    },
    async status(name) {
      const r = await call('GET', `/connectors/${enc(name)}/status`);
      if (r.status === 404) return undefined;
      if (r.status !== 200) fail(`GET /connectors/${name}/status`, r);
      return r.json as ConnectorStatus;
    },
    async pause(name) {
      const r = await call('PUT', `/connectors/${enc(name)}/pause`);
      if (r.status !== 202) fail(`PUT /connectors/${name}/pause`, r);
    },
    async resume(name) {
      const r = await call('PUT', `/connectors/${enc(name)}/resume`);
      if (r.status !== 202) fail(`PUT /connectors/${name}/resume`, r);
    },
    async remove(name) {
      const r = await call('DELETE', `/connectors/${enc(name)}`);
      if (r.status === 404) return false;
      if (r.status !== 204 && r.status !== 200) fail(`DELETE /connectors/${name}`, r);
      return true;
    },
    async plugins() {
      const r = await call('GET', '/connector-plugins');
      if (r.status !== 200) fail('GET /connector-plugins', r);
      return r.json as { class: string; type: string; version: string }[];
    },
  };
}
