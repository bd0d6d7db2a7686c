// Root cause: without a token the server trusted every request that reached loopback, so a web page (cross-site no-cors POST, or DNS rebinding with a foreign Host) could queue runs, and a body-less POST was read as {} ("run everything").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, serve, type Served } from './serve-helpers.js';

describe('issue 11.1: recon serve without a token refuses web pages and foreign hosts', () => {
  let s: Served;
  const queued = async () => Object.values(await s.queue.getJobCounts()).reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    s = await serve();
  });
  afterAll(async () => s?.close());

  it("refuses a cross-site no-cors POST (the probe's request) and queues nothing", async () => {
    // What `fetch('http://127.0.0.1:<port>/api/runs', {method: 'POST', mode: 'no-cors'})` sends from another origin.
    const res = await raw(s.port, {
      method: 'POST',
      path: '/api/runs',
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'content-type': 'text/plain;charset=UTF-8' },
    });
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: 'forbidden' });
    expect(res.headers.connection).toBe('close');
    // The same with a body, and a same-site page (another port of this host) without an Origin.
    expect((await raw(s.port, { method: 'POST', path: '/api/runs', headers: { origin: 'null', 'content-type': 'text/plain' }, body: '{}' })).status).toBe(403);
    expect(
      (await raw(s.port, { method: 'POST', path: '/api/runs', headers: { 'sec-fetch-site': 'same-site', 'content-type': 'application/json' }, body: '{}' }))
        .status,
    ).toBe(403);
    expect(await queued()).toBe(0);
  });

  it('serves only loopback Host names (DNS rebinding sends the foreign name)', async () => {
    for (const host of ['anything.example', `anything.example:${s.port}`, `127.0.0.1.nip.io:${s.port}`]) {
      const res = await raw(s.port, { path: '/api/runs', headers: { host } });
      expect(res.status, host).toBe(403);
      expect(res.text).not.toContain('items');
    }
    expect((await raw(s.port, { path: '/', headers: { host: 'anything.example' } })).status).toBe(403);
    for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, `LOCALHOST:${s.port}`, `[::1]:${s.port}`, 'localhost']) {
      expect((await raw(s.port, { path: '/api/runs', headers: { host } })).status, host).toBe(200);
    }
  });

  it('takes only JSON bodies (415 otherwise) and never reads a missing body as "run everything"', async () => {
    const text = await raw(s.port, { method: 'POST', path: '/api/runs', headers: { 'content-type': 'text/plain' }, body: '{"dryRun":true}' });
    expect(text.status).toBe(415);
    expect(text.json()).toMatchObject({ error: 'bad request', field: 'body' });
    const form = await raw(s.port, {
      method: 'POST',
      path: '/api/runs',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'dryRun=true',
    });
    expect(form.status).toBe(415);

    const empty = await raw(s.port, { method: 'POST', path: '/api/runs' });
    expect(empty.status).toBe(400);
    expect(empty.json()).toMatchObject({ error: 'bad request', field: 'body' });
    expect(await queued()).toBe(0);
  });

  it('still queues a run from its own page or from curl', async () => {
    const json = { 'content-type': 'application/json' };
    const own = await raw(s.port, {
      method: 'POST',
      path: '/api/runs',
      headers: { ...json, origin: s.base, 'sec-fetch-site': 'same-origin' },
      body: '{"dryRun":true}',
    });
    expect(own.status).toBe(202);
    const curl = await raw(s.port, { method: 'POST', path: '/api/runs', headers: json, body: '{}' });
    expect(curl.status).toBe(202);
    expect(await queued()).toBe(2);
  });
});
