// Root cause: the login redirect went to `new URL(req.url).pathname`, which turns `/.//evil.example/` into the protocol-relative `//evil.example/`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
