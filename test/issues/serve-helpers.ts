/**
 * Helpers of the `recon serve` regression tests: a real server on a free
 * loopback port over a test environment, and raw HTTP requests whose every
 * header (Host, Origin, Sec-Fetch-Site) the test chooses, as a probe sends them.
 */
import { request } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { createApiServer, createRunQueue, type ApiDeps, type HttpLimits, type RunQueue } from '../../batch/index.js';
import { silentLogger, type Logger } from '../../core/index.js';
import { createTestEnv, type TestEnv } from '../helpers/env.js';

export const TOKEN = 'issue-11-token-0123456789abcdef';

export interface Served {
  env: TestEnv;
  app: FastifyInstance;
  queue: RunQueue;
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Variables of the test environment (`RECON_API_TOKEN`, …). */
  env?: Record<string, string>;
  limits?: Partial<HttpLimits>;
  log?: Logger;
  /** Passed on to createApiServer (executeRun, dbs, …); a function gets the test environment first. */
  deps?: Partial<ApiDeps> | ((env: TestEnv) => Partial<ApiDeps>);
}

/** A test environment and `recon serve` over it, as api.int.test.ts starts one. */
export async function serve({ env = {}, limits, log = silentLogger, deps = {} }: ServeOptions = {}): Promise<Served> {
  const testEnv = await createTestEnv({ topics: false, env });
  const queue = createRunQueue(testEnv.config);
  const app = await createApiServer({
    config: testEnv.config,
    dbs: testEnv.dbs,
    log,
    runQueue: queue,
    ...(limits ? { limits } : {}),
    ...(typeof deps === 'function' ? deps(testEnv) : deps),
  });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    env: testEnv,
    app,
    queue,
    base,
    port: Number(new URL(base).port),
    async close() {
      await app.close();
      await queue.close();
      await testEnv.cleanup();
    },
  };
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export interface RawRequest {
  method?: string;
  /** Sent as is: no URL parsing on the way (backslashes, dot segments and `//` reach the server). */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Local address to connect from (127.0.0.2 is another client of a loopback server). */
  localAddress?: string;
  /** Give up (reject) after this many ms without a complete answer. Default 15 000. */
  timeoutMs?: number;
}

/** One HTTP/1.1 request with exactly the given path and headers. */
export function raw(port: number, { method = 'GET', path, headers = {}, body, localAddress, timeoutMs = 15_000 }: RawRequest): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: { connection: 'close', ...headers }, ...(localAddress ? { localAddress } : {}) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The first `name=value` of a Set-Cookie header, fit for a Cookie header. */
export function cookiePair(setCookie: string | string[] | undefined): string {
  const first = [setCookie ?? ''].flat()[0] ?? '';
  return first.split(';')[0]!;
}
