// Root cause: fastify's requestTimeout defaults to 0 (never) and a refused request's connection stayed open, so a client announcing a large body and sending a byte now and then held a connection for ever.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HTTP_LIMITS } from '../../batch/index.js';
import { serve, TOKEN, type Served } from './serve-helpers.js';

interface SlowPost {
  /** What the server sent, if anything. */
  answer: string;
  answeredAfterMs: number | undefined;
  closedAfterMs: number | undefined;
}

/** POST announcing 100 kB, then one byte every `byteEveryMs`, until the server closes or `giveUpMs`. */
function slowPost(port: number, headers: readonly string[], { byteEveryMs = 400, giveUpMs = 10_000 } = {}): Promise<SlowPost> {
  return new Promise((resolve) => {
    const started = Date.now();
    const result: SlowPost = { answer: '', answeredAfterMs: undefined, closedAfterMs: undefined };
    const socket = connect(port, '127.0.0.1');
    let drip: NodeJS.Timeout | undefined;
    const finish = () => {
      clearInterval(drip);
      clearTimeout(giveUp);
      socket.destroy();
      resolve(result);
    };
    const giveUp = setTimeout(finish, giveUpMs);
    socket.on('connect', () => {
      socket.write(
        [`POST /api/runs HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Content-Type: application/json', 'Content-Length: 102400', ...headers, '', ''].join('\r\n'),
      );
      drip = setInterval(() => socket.write('x'), byteEveryMs);
    });
    socket.on('data', (chunk) => {
      result.answeredAfterMs ??= Date.now() - started;
      result.answer += chunk.toString('utf8');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      result.closedAfterMs = Date.now() - started;
      finish();
    });
  });
}

const REQUEST_TIMEOUT_MS = 1500;

describe('issue 11.4: a slow body cannot hold a connection', () => {
  let withToken: Served;
  let withoutToken: Served;
  beforeAll(async () => {
    withToken = await serve({ env: { RECON_API_TOKEN: TOKEN }, limits: { requestTimeoutMs: REQUEST_TIMEOUT_MS } });
    withoutToken = await serve({ limits: { requestTimeoutMs: REQUEST_TIMEOUT_MS } });
  });
  afterAll(async () => {
    await withToken?.close();
    await withoutToken?.close();
  });

  it('an unauthenticated one is answered 401 at once and its connection closed', async () => {
    const r = await slowPost(withToken.port, []);
    expect(r.answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(r.answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(r.answeredAfterMs).toBeLessThan(1000);
    expect(r.closedAfterMs).toBeLessThan(1500);
  });

  it('an authenticated one, or one without a token, gets 408 and a closed connection within the request timeout', async () => {
    for (const [server, headers] of [
      [withToken, [`Authorization: Bearer ${TOKEN}`]],
      [withoutToken, []],
    ] as const) {
      const r = await slowPost(server.port, headers);
      expect(r.answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(r.closedAfterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
      expect(r.closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + 2000);
    }
  });

  it('has bounded production defaults', () => {
    expect(DEFAULT_HTTP_LIMITS).toMatchObject({ requestTimeoutMs: 30_000, idleTimeoutMs: 60_000, keepAliveTimeoutMs: 10_000 });
  });
});
