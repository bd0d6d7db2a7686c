// Root causes: the login redirect went to `new URL(req.url).pathname`, which turns `/.//evil.example/` into the protocol-relative `//evil.example/`; /healthz awaited BullMQ, which waits for a Redis that is down without limit; and GET /api/runs/:id read a run without a row (a dry run keeps none) as queued whatever its job's state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunQueue, executeRun, type RunQueue } from '../../batch/index.js';
import { unusedPort, waitFor } from '../helpers/env.js';
import { raw, serve, TOKEN, type Served } from './serve-helpers.js';

describe('issue 11.8: the login redirect stays on this server', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN } });
  });
  afterAll(async () => s?.close());

  it.each([
    ['/.//evil.example/', '/evil.example/'],
    ['//evil.example/', '/evil.example/'],
    ['/\\evil.example/', '/evil.example/'],
    ['/\\/evil.example', '/evil.example'],
    ['/%2F%2Fevil.example/', '/%2F%2Fevil.example/'],
    ['/a/../..//evil.example', '/evil.example'],
    ['/admin/queues', '/admin/queues'],
  ])('GET %s?token=… redirects to %s', async (path, location) => {
    const res = await raw(s.port, { path: `${path}?token=${TOKEN}&x=1` });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`${location}?x=1`);
    expect(String(res.headers.location)).not.toMatch(/^[/\\]{2}/);
  });
});

describe('issue 11.8: /healthz while Redis is down', () => {
  let s: Served;
  let deadQueue: RunQueue;
  beforeAll(async () => {
    const port = await unusedPort();
    s = await serve({
      env: { RECON_API_TOKEN: TOKEN },
      limits: { healthCheckTimeoutMs: 1000 },
      deps: (env) => ({ runQueue: (deadQueue = createRunQueue({ ...env.config, redisUrl: `redis://127.0.0.1:${port}` })) }),
    });
  });
  afterAll(async () => {
    await s?.close();
    await deadQueue?.close();
  });

  it('answers 503 naming redis within the check timeout, not after 25 s', async () => {
    const started = Date.now();
    const res = await raw(s.port, { path: '/healthz' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(res.status).toBe(503);
    expect(res.json()).toEqual({ status: 'unavailable', down: ['redis'] });
    expect(res.text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
  });
});

describe('issue 11.8: a finished dry run is shown finished', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN }, deps: { executeRun } });
  });
  afterAll(async () => s?.close());

  it('GET /api/runs/:id answers the result of its job', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const res = await raw(s.port, {
      method: 'POST',
      path: '/api/runs',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"checks":["users-vs-points"],"dryRun":true}',
    });
    expect(res.status).toBe(202);
    const { runId } = res.json<{ runId: string }>();
    const run = await waitFor(
      'the dry run to be shown completed',
      async () => {
        const r = (await raw(s.port, { path: `/api/runs/${runId}`, headers: auth })).json<{ status: string }>();
        return r.status === 'completed' ? r : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(run).toMatchObject({ id: runId, status: 'completed', dryRun: true, checks: ['users-vs-points'], trigger: 'api', total: 0 });
    expect(await s.env.dbs.recon('runs').where({ id: runId }).first()).toBeUndefined();
  });
});
