/**
 * The console's forms without a browser: the CSRF token in the mode without
 * a token (no session: the token is the process's), the confirmation, the
 * form content type accepted by the console's routes only, the viewer's
 * bearer token refused on every state-changing route, and pages that name a
 * bad field or an unknown run.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, serve, TOKEN, type Served } from '../../issues/serve-helpers.js';

const READ = 'viewer-token-abcdef0123456789';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const jobs = async (s: Served) => Object.values(await s.queue.getJobCounts()).reduce((a, b) => a + b, 0);
const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];

describe('console forms without a token (loopback)', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('needs the page’s CSRF token and the confirmation to start a run, then redirects to it', async () => {
    const page = await raw(s.port, { path: '/actions/run' });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.text).not.toMatch(/<script|style="/);
    const token = csrfOf(page.text)!;
    expect(token).toMatch(/^[\w-]{43}$/);
    const post = (body: string) => raw(s.port, { method: 'POST', path: '/actions/run', headers: FORM, body });
    expect((await post('checks=all&dryRun=yes&confirm=yes')).status).toBe(403);
    expect((await post(`_csrf=${token.slice(1)}x&checks=all&dryRun=yes&confirm=yes`)).status).toBe(403);
    expect((await post(`_csrf=${token}&checks=all&dryRun=yes`)).status).toBe(400);
    const bad = await post(`_csrf=${token}&checks=all&from=2026-13-01&confirm=yes`);
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('from:');
    expect(await jobs(s)).toBe(0);
    const ok = await post(`_csrf=${token}&checks=users-vs-points&dryRun=yes&confirm=yes`);
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toMatch(/^\/runs\/[0-9a-f-]{36}$/);
    expect(await jobs(s)).toBe(1);
    const run = await raw(s.port, { path: ok.headers.location as string });
    expect(run.status).toBe(200);
    expect(run.text).toMatch(/dry run/);
  });

  it('keeps the API JSON-only: a form body to POST /api/runs is a 415', async () => {
    const r = await raw(s.port, { method: 'POST', path: '/api/runs', headers: FORM, body: 'dryRun=true' });
    expect(r.status).toBe(415);
  });

  it('answers a bad filter with 400 naming it, an unknown run with 404, as pages', async () => {
    const bad = await raw(s.port, { path: '/discrepancies?kind=nope' });
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toMatch(/text\/html/);
    expect(bad.text).toContain('kind: must be one of');
    const missing = await raw(s.port, { path: `/runs/${randomUUID()}` });
    expect(missing.status).toBe(404);
    expect((await raw(s.port, { path: '/runs/not-a-uuid' })).status).toBe(400);
  });
});

describe('the viewer token on every state-changing route', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN, RECON_API_READ_TOKEN: READ } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('reads with it and is refused every POST, PUT, PATCH and DELETE; the operator token is not', async () => {
    const viewer = { authorization: `Bearer ${READ}` };
    for (const path of ['/', '/runs', '/discrepancies', '/dead-letters', '/lag', '/actions/run', '/api/runs', '/api/discrepancies']) {
      expect((await raw(s.port, { path, headers: viewer })).status, path).toBe(200);
    }
    const id = randomUUID();
    for (const [method, path] of [
      ['POST', '/api/runs'],
      ['POST', `/api/runs/${id}/approve`],
      ['POST', `/api/runs/${id}/dismiss`],
      ['POST', '/actions/run'],
      ['POST', '/actions/retry'],
      ['POST', '/actions/replay'],
      ['POST', `/runs/${id}/approve`],
      ['POST', `/runs/${id}/dismiss`],
      ['PUT', '/admin/queues/api/queues/recon-runs/retry/failed'],
      ['PATCH', '/api/runs'],
      ['DELETE', '/api/runs'],
    ] as const) {
      // Node sends a DELETE's body without a length: a DELETE goes without one.
      const r = await raw(
        s.port,
        method === 'DELETE' ? { method, path, headers: viewer } : { method, path, headers: { ...viewer, 'content-type': 'application/json' }, body: '{}' },
      );
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.json().message, `${method} ${path}`).toContain('RECON_API_READ_TOKEN');
    }
    expect(await jobs(s)).toBe(0);
    const operator = await raw(s.port, {
      method: 'POST',
      path: '/api/runs',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{"dryRun":true}',
    });
    expect(operator.status).toBe(202);
  });

  it('a session opened with the viewer token stays a viewer', async () => {
    const login = await raw(s.port, { path: `/runs?token=${READ}` });
    expect(login.status).toBe(303);
    const cookie = String([login.headers['set-cookie']].flat()[0]).split(';')[0]!;
    const page = await raw(s.port, { path: '/actions/retry', headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.text).toContain('viewer: read only');
    expect(page.text).not.toContain('<form method="post"');
    const post = await raw(s.port, { method: 'POST', path: '/actions/retry', headers: { cookie, ...FORM, origin: s.base }, body: 'confirm=yes' });
    expect(post.status).toBe(403);
  });
});
