// Root cause: the login cookie was the raw API token, for ever (no Max-Age) and never Secure, so anything that saw the cookie (another service on any port of the host) held the token; and a cookie-authenticated POST from another site was taken like one from the dashboard.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../core/index.js';
import { cookiePair, raw, serve, TOKEN, type Served } from './serve-helpers.js';

const json = { 'content-type': 'application/json' };

describe('issue 11.2: the login cookie is a session, not the token', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN }, limits: { sessionSeconds: 2 } });
  });
  afterAll(async () => s?.close());

  const login = async () => {
    const res = await raw(s.port, { path: `/?token=${TOKEN}` });
    expect(res.status).toBe(303);
    return res;
  };

  it('carries a random session id that expires, never the token', async () => {
    const a = await login();
    const setCookie = String(a.headers['set-cookie']);
    expect(setCookie).toMatch(/^recon_session=[\w-]{43}; Max-Age=2; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(TOKEN);
    expect(setCookie).not.toContain(encodeURIComponent(TOKEN));
    const b = await login();
    expect(cookiePair(b.headers['set-cookie'])).not.toBe(cookiePair(a.headers['set-cookie']));

    const cookie = cookiePair(a.headers['set-cookie']);
    expect((await raw(s.port, { path: '/api/runs', headers: { cookie } })).status).toBe(200);
    // The old cookie (the token itself) and a made-up session id open nothing.
    expect((await raw(s.port, { path: '/api/runs', headers: { cookie: `recon_token=${TOKEN}` } })).status).toBe(401);
    expect((await raw(s.port, { path: '/api/runs', headers: { cookie: `recon_session=${TOKEN}` } })).status).toBe(401);
    await sleep(2500);
    expect((await raw(s.port, { path: '/api/runs', headers: { cookie } })).status).toBe(401);
  });

  it('refuses a cookie-authenticated POST from another origin; bearer from curl and the own page pass', async () => {
    const cookie = cookiePair((await login()).headers['set-cookie']);
    const evil = await raw(s.port, {
      method: 'POST',
      path: '/api/runs',
      headers: { ...json, cookie, origin: 'https://evil.example' },
      body: '{"dryRun":true}',
    });
    expect(evil.status).toBe(403);
    const sameSite = await raw(s.port, {
      method: 'POST',
      path: '/api/runs',
      headers: { ...json, cookie, 'sec-fetch-site': 'same-site' },
      body: '{"dryRun":true}',
    });
    expect(sameSite.status).toBe(403);
    const own = await raw(s.port, { method: 'POST', path: '/api/runs', headers: { ...json, cookie, origin: s.base }, body: '{"dryRun":true}' });
    expect(own.status).toBe(202);
    const curl = await raw(s.port, { method: 'POST', path: '/api/runs', headers: { ...json, authorization: `Bearer ${TOKEN}` }, body: '{"dryRun":true}' });
    expect(curl.status).toBe(202);
  });
});

describe('issue 11.2: behind TLS (RECON_PUBLIC_URL=https://…) the cookie is Secure and __Host- prefixed', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN, RECON_PUBLIC_URL: 'https://recon.example.com' } });
  });
  afterAll(async () => s?.close());

  it('sets __Host-recon_session with Secure, 12 h, and accepts POSTs from the public origin only', async () => {
    const res = await raw(s.port, { path: `/api/runs?token=${TOKEN}` });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/api/runs');
    expect(String(res.headers['set-cookie'])).toMatch(/^__Host-recon_session=[\w-]{43}; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict; Secure$/);
    expect(res.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
    const cookie = cookiePair(res.headers['set-cookie']);
    expect((await raw(s.port, { path: '/api/runs', headers: { cookie } })).status).toBe(200);
    // Over https the plain name is not read: a cookie set by plain http on this host cannot stand in.
    expect((await raw(s.port, { path: '/api/runs', headers: { cookie: cookie.replace('__Host-', '') } })).status).toBe(401);

    const post = (origin: string) => raw(s.port, { method: 'POST', path: '/api/runs', headers: { ...json, cookie, origin }, body: '{"dryRun":true}' });
    expect((await post('https://recon.example.com')).status).toBe(202);
    expect((await post('http://recon.example.com')).status).toBe(403);
    expect((await post('https://evil.example')).status).toBe(403);
  });
});
