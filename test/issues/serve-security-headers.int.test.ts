// Root cause: recon serve set no security headers at all: any site could frame the dashboard or bull-board (clickjacking their buttons), and nothing restricted what a page of theirs could load or run.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, serve, TOKEN, type RawAnswer, type Served } from './serve-helpers.js';

const auth = { authorization: `Bearer ${TOKEN}` };

function expectHeaders(res: RawAnswer, what: string) {
  const csp = String(res.headers['content-security-policy'] ?? '');
  expect(csp, what).toMatch(/(^|; )default-src 'none'(;|$)/);
  expect(csp, what).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
  expect(csp, what).toMatch(/(^|; )script-src 'self'(;|$)/);
  expect(csp, what).toMatch(/(^|; )form-action 'self'(;|$)/);
  expect(res.headers['x-frame-options'], what).toBe('DENY');
  expect(res.headers['x-content-type-options'], what).toBe('nosniff');
  expect(res.headers['referrer-policy'], what).toBe('no-referrer');
  return csp;
}

describe('issue 11.6: security headers on every answer', () => {
  let s: Served;
  let open: Served;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN } });
    open = await serve();
  });
  afterAll(async () => {
    await s?.close();
    await open?.close();
  });

  it('on pages, API answers, redirects, errors and 404s', async () => {
    const board = await raw(s.port, { path: '/admin/queues', headers: auth });
    const stylesheet = /href="(static\/css\/[^"]+\.css)"/.exec(board.text)?.[1];
    expect(stylesheet).toBeDefined();
    const answers: [string, RawAnswer, number][] = [
      ['dashboard', await raw(s.port, { path: '/', headers: auth }), 200],
      ['runs', await raw(s.port, { path: '/api/runs', headers: auth }), 200],
      ['metrics', await raw(s.port, { path: '/metrics', headers: auth }), 200],
      ['bull-board', board, 200],
      ['bull-board queue page', await raw(s.port, { path: '/admin/queues/queue/recon-runs', headers: auth }), 200],
      ['bull-board api', await raw(s.port, { path: '/admin/queues/api/queues', headers: auth }), 200],
      ['bull-board static', await raw(s.port, { path: `/admin/queues/${stylesheet}`, headers: auth }), 200],
      ['healthz', await raw(s.port, { path: '/healthz' }), 200],
      ['login redirect', await raw(s.port, { path: `/?token=${TOKEN}` }), 303],
      ['400', await raw(s.port, { path: '/api/runs?limit=0', headers: auth }), 400],
      ['401', await raw(s.port, { path: '/api/runs' }), 401],
      ['404', await raw(s.port, { path: '/nothing-here', headers: auth }), 404],
      ['bull-board 404', await raw(s.port, { path: '/admin/queues/static/nothing.js', headers: auth }), 404],
      ['bad json', await raw(s.port, { method: 'POST', path: '/api/runs', headers: { ...auth, 'content-type': 'application/json' }, body: '{' }), 400],
      ['415', await raw(s.port, { method: 'POST', path: '/api/runs', headers: { ...auth, 'content-type': 'text/plain' }, body: '{}' }), 415],
      ['malformed url', await raw(s.port, { path: '/%zz', headers: auth }), 400],
      ['no-token 403 (foreign host)', await raw(open.port, { path: '/', headers: { host: 'evil.example' } }), 403],
      ['no-token 403 (cross-site)', await raw(open.port, { method: 'POST', path: '/api/runs', headers: { origin: 'https://evil.example' } }), 403],
    ];
    for (const [what, res, status] of answers) {
      expect(res.status, what).toBe(status);
      const csp = expectHeaders(res, what);
      expect(csp, what).toMatch(what.startsWith('bull-board') ? /(^|; )base-uri 'self'(;|$)/ : /(^|; )base-uri 'none'(;|$)/);
      if (!what.startsWith('bull-board') && !what.startsWith('dashboard')) expect(csp, what).not.toContain("'unsafe-inline'");
    }
  });

  it("allows the dashboard's one inline style by its hash, and nothing else inline", async () => {
    const res = await raw(s.port, { path: '/', headers: auth });
    const styles = [...res.text.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect(styles).toHaveLength(1);
    expect(res.text).not.toMatch(/<script|\sstyle="|\son\w+="/);
    const hash = createHash('sha256').update(styles[0]!, 'utf8').digest('base64');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain(`style-src 'self' 'sha256-${hash}'`);
    expect(csp).not.toContain('unsafe-inline');
  });
});
