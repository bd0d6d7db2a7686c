// Root cause: the auth hook exempted /healthz by `new URL(req.url).pathname`, which collapses `..` and reads `\` as `/`, while fastify routes the raw path: `/admin/queues/queue/x\..\..\..\..\healthz` was public to the hook and bull-board to the router.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../../batch/index.js';
import { raw, serve, TOKEN, type Served } from './serve-helpers.js';

/** Ways of spelling "/healthz" at the end of a path that a URL parser resolves and a router does not. */
const TRAVERSALS = [
  'x\\..\\..\\..\\..\\..\\..\\..\\healthz',
  'x/..\\..\\..\\..\\..\\..\\healthz',
  '..%2f..%2f..%2f..%2f..%2fhealthz',
  '%2e%2e\\%2e%2e\\%2e%2e\\healthz',
];

/** Paths that reach `route` (a fastify pattern) with a traversal in its last parameter or wildcard, or appended. */
function probes(route: string): string[] {
  const params = [...route.matchAll(/:\w+|\*/g)];
  return TRAVERSALS.flatMap((t) => {
    if (params.length === 0) return [`${route}\\..\\..\\..\\..\\..\\..\\healthz`, `${route}/${t}`];
    let i = 0;
    return [route.replace(/:\w+|\*/g, () => (++i === params.length ? t : 'recon-runs'))];
  });
}

describe('issue 11.3: authentication follows the route the request matched', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN } });
  });
  afterAll(async () => s?.close());

  it("refuses the probe's two requests", async () => {
    const page = await raw(s.port, { path: '/admin/queues/queue/x\\..\\..\\..\\..\\healthz' });
    expect(page.status).toBe(401);
    expect(page.text).not.toContain('<html');
    const clean = await raw(s.port, { method: 'PUT', path: '/admin/queues/api/queues/recon-runs/clean/completed\\..\\..\\..\\..\\..\\..\\..\\healthz' });
    expect(clean.status).toBe(401);
    expect((await raw(s.port, { path: '/healthz' })).status).toBe(200);
  });

  it('answers 401 on every bull-board route, whatever its parameters spell', async () => {
    const board = registeredRoutes(s.app).filter((r) => r.url.startsWith('/admin/queues'));
    // The list is the server's own: a route bull-board adds one day is probed too.
    expect(board.length).toBeGreaterThan(30);
    expect(board).toContainEqual({ method: 'PUT', url: '/admin/queues/api/queues/:queueName/clean/:queueStatus' });
    const failures: string[] = [];
    for (const route of board) {
      for (const path of [route.url, ...probes(route.url)]) {
        const res = await raw(s.port, { method: route.method, path });
        if (res.status !== 401) failures.push(`${route.method} ${path} → ${res.status}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('answers 401 to unknown paths too (no route is public)', async () => {
    for (const path of ['/healthz/', '/healthz/..', '/./healthz/../api/runs', '/nothing-here']) {
      expect((await raw(s.port, { path })).status, path).toBe(401);
    }
  });
});
