// Root cause: the API checked a re-check range only by shape (zod's range refinement even saw the raw strings when a field failed, a 500), and nothing bounded how many runs one client could start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookiePair, raw, serve, TOKEN, type Served } from './serve-helpers.js';

const json = { 'content-type': 'application/json' };
const DRY = '{"dryRun":true}';

describe('issue 11.7: the API refuses the ranges the README refuses', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN } });
  });
  afterAll(async () => s?.close());

  it('400 naming from for a range of millions of windows; a bad instant is a 400, not a 500', async () => {
    const post = (body: string) => raw(s.port, { method: 'POST', path: '/api/runs', headers: { ...json, authorization: `Bearer ${TOKEN}` }, body });
    const huge = await post('{"from":"0001-01-01T00:00:00Z","to":"9999-12-31T00:00:00Z","dryRun":true}');
    expect(huge.status).toBe(400);
    expect(huge.json()).toMatchObject({ error: 'bad request', field: 'from', message: expect.stringMatching(/at most 100000/) });
    const bad = await post('{"from":"yesterday","to":"2026-01-02T00:00:00Z"}');
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ field: 'from' });
    expect((await post('{"from":"2026-02-30T00:00:00Z","to":"2026-03-02T00:00:00Z"}')).json()).toMatchObject({ field: 'from' });
    expect(Object.values(await s.queue.getJobCounts()).reduce((a, b) => a + b, 0)).toBe(0);
  });
});

describe('issue 11.7: run creation is rate limited per credential', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN, RECON_API_RUNS_PER_MINUTE: '3' } });
  });
  afterAll(async () => s?.close());

  it('429 with Retry-After once the token started its runs of the minute, whether by bearer or by session', async () => {
    const bearer = { ...json, authorization: `Bearer ${TOKEN}` };
    const cookie = cookiePair((await raw(s.port, { path: `/?token=${TOKEN}` })).headers['set-cookie']);
    const answers = [];
    for (const headers of [bearer, bearer, { ...json, cookie, origin: s.base }, bearer, { ...json, cookie, origin: s.base }]) {
      answers.push(await raw(s.port, { method: 'POST', path: '/api/runs', headers, body: DRY }));
    }
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 429, 429]);
    const limited = answers[3]!;
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(20);
    expect(limited.json()).toMatchObject({ error: 'too many requests' });
    // Refused and invalid requests cost nothing; reads are not limited.
    expect((await raw(s.port, { method: 'POST', path: '/api/runs', headers: bearer, body: '{"checks":"nope"}' })).status).toBe(400);
    expect((await raw(s.port, { path: '/api/runs', headers: bearer })).status).toBe(200);
    expect(Object.values(await s.queue.getJobCounts()).reduce((a, b) => a + b, 0)).toBe(3);
  });
});

describe('issue 11.7: without a token, per remote address', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_RUNS_PER_MINUTE: '1' } });
  });
  afterAll(async () => s?.close());

  it('each address has its own budget', async () => {
    const post = (localAddress: string) => raw(s.port, { method: 'POST', path: '/api/runs', headers: json, body: DRY, localAddress });
    expect((await post('127.0.0.1')).status).toBe(202);
    expect((await post('127.0.0.1')).status).toBe(429);
    // 127.0.0.2 is another client of the same loopback server.
    expect((await post('127.0.0.2')).status).toBe(202);
  });
});
