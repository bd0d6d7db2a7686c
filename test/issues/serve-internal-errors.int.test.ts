// Root cause: cursors were checked only by shape (36 characters of hex or dashes, any digits as a date), so Postgres was the first to refuse them, and the error handler answered 500 with the driver's text (SQL, database names).
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunQueue, type RunQueue } from '../../batch/index.js';
import { connectDatabases, closeDatabases, type Databases } from '../../db/index.js';
import { raw, serve, TOKEN, type Served } from './serve-helpers.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
const auth = { authorization: `Bearer ${TOKEN}` };

describe('issue 11.5: crafted cursors are 400s, and no 5xx shows SQL or driver text', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN } });
  });
  afterAll(async () => s?.close());

  it('refuses cursors with a fake UUID or an impossible instant, naming the field', async () => {
    const cursors = [
      b64(`2024-01-01T00:00:00.000000Z|${'-'.repeat(36)}`),
      b64(`2024-01-01T00:00:00.000000Z|${'0'.repeat(36)}`),
      b64('2024-02-30T00:00:00.000000Z|00000000-0000-4000-8000-000000000000'),
      b64('2024-01-01T25:61:00.000000Z|00000000-0000-4000-8000-000000000000'),
      b64('0000-01-01T00:00:00.000000Z|00000000-0000-4000-8000-000000000000'),
    ];
    for (const path of ['/api/runs', '/api/discrepancies']) {
      for (const cursor of cursors) {
        const res = await raw(s.port, { path: `${path}?cursor=${cursor}`, headers: auth });
        expect(res.status, `${path} ${Buffer.from(cursor, 'base64url').toString()}`).toBe(400);
        expect(res.json()).toMatchObject({ error: 'bad request', field: 'cursor' });
      }
      // A real cursor still pages.
      const ok = await raw(s.port, { path: `${path}?cursor=${b64('2024-01-01T00:00:00.000000Z|00000000-0000-4000-8000-000000000000')}`, headers: auth });
      expect(ok.status).toBe(200);
    }
  });
});

describe('issue 11.5: a failing database gives a 500 with a request id and nothing else', () => {
  let s: Served;
  let broken: Databases;
  const logged: Record<string, unknown>[] = [];
  beforeAll(async () => {
    const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
    // The server's recon database handle points at a database that does not exist.
    s = await serve({
      env: { RECON_API_TOKEN: TOKEN },
      log,
      deps: (env) => {
        const url = new URL(env.config.databases.recon);
        url.pathname = `${url.pathname}_missing`;
        broken = connectDatabases({ ...env.config, databases: { ...env.config.databases, recon: url.toString() } });
        return { dbs: broken };
      },
    });
  });
  afterAll(async () => {
    await s?.close();
    if (broken) await closeDatabases(broken);
  });

  it('answers {error, requestId} and logs the cause under that id', async () => {
    for (const path of ['/api/runs', '/api/discrepancies', `/api/runs/00000000-0000-4000-8000-000000000000`, '/']) {
      const res = await raw(s.port, { path, headers: auth });
      expect(res.status, path).toBe(500);
      const body = res.json<{ error: string; requestId: string }>();
      expect(Object.keys(body).sort()).toEqual(['error', 'requestId']);
      expect(body.error).toBe('internal error');
      expect(res.headers['x-request-id']).toBe(body.requestId);
      expect(res.text).not.toMatch(/_missing|does not exist|select|postgres/i);
      const line = logged.find((l) => l.requestId === body.requestId);
      expect(line?.err).toMatch(/does not exist/);
      expect(res.headers['content-security-policy']).toBeDefined();
    }
  });

  it('says in /healthz that postgres is down, not why', async () => {
    const res = await raw(s.port, { path: '/healthz' });
    expect(res.status).toBe(503);
    expect(res.json()).toEqual({ status: 'unavailable', down: ['postgres'] });
  });
});

describe('issue 11.5: bull-board errors go through the same handler', () => {
  let s: Served;
  let closed: RunQueue;
  beforeAll(async () => {
    s = await serve({ env: { RECON_API_TOKEN: TOKEN }, deps: (env) => ({ runQueue: (closed = createRunQueue(env.config)) }) });
    // A queue whose Redis connection is gone: bull-board's handlers throw ioredis's error.
    await closed.close();
  });
  afterAll(async () => s?.close());

  it("answers its 500s without the error's text", async () => {
    for (const path of ['/admin/queues/api/queues', '/admin/queues/api/redis/stats']) {
      const res = await raw(s.port, { path, headers: auth });
      expect(res.status, path).toBe(500);
      expect(res.json()).toEqual({ error: 'internal error', requestId: res.headers['x-request-id'] });
    }
  });
});
