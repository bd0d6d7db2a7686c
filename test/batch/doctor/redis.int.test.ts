/**
 * Doctor's Redis checks on a Redis server of this test's own (the shared one
 * must never be reconfigured): an evicting `maxmemory-policy` fails (BullMQ
 * would lose jobs), persistence off warns, a Redis that is gone fails in
 * bounded time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDoctorContext, redisChecks, runDoctor, type DoctorResult } from '../../../batch/index.js';
import type { Config } from '../../../core/index.js';
import { exited } from '../../helpers/cli.js';
import { testConfig, unusedPort, waitFor } from '../../helpers/env.js';

async function redisDoctor(config: Config, timeoutMs = 3000): Promise<Map<string, DoctorResult>> {
  const ctx = createDoctorContext(config, { timeoutMs });
  try {
    return new Map((await runDoctor(redisChecks(config), ctx)).map((r) => [r.name, r]));
  } finally {
    await ctx.close();
  }
}

describe('recon doctor: Redis', () => {
  let server: ChildProcess;
  let redis: Redis;
  let config: Config;
  let dir: string | undefined;

  beforeAll(async () => {
    const port = await unusedPort();
    dir = await mkdtemp(join(tmpdir(), 'recon-doctor-redis-'));
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir], {
      stdio: 'ignore',
    });
    config = testConfig({ REDIS_URL: `redis://127.0.0.1:${port}` });
    redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    await waitFor('our redis-server to answer', async () => {
      if (redis.status !== 'ready') await redis.connect().catch(() => undefined);
      return (await redis.ping()) === 'PONG';
    });
  });
  afterAll(async () => {
    redis?.disconnect();
    if (server && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGKILL');
      await exited(server);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('passes noeviction and warns that persistence is off', async () => {
    const results = await redisDoctor(config);
    expect(results.get('redis.connect')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/: Redis \d+\.\d+/) });
    expect(results.get('redis.eviction')).toMatchObject({ status: 'pass', detail: 'maxmemory-policy is noeviction' });
    expect(results.get('redis.persistence')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/persistence is off/) });
  });

  it('fails an evicting maxmemory-policy, and passes persistence once the append-only file is on', async () => {
    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await redis.config('SET', 'appendonly', 'yes');
    const results = await redisDoctor(config);
    expect(results.get('redis.eviction')).toMatchObject({
      status: 'fail',
      detail: 'maxmemory-policy is allkeys-lru: under memory pressure Redis evicts keys, and BullMQ loses jobs',
      fix: expect.stringMatching(/^CONFIG SET maxmemory-policy noeviction/),
    });
    expect(results.get('redis.persistence')).toMatchObject({ status: 'pass', detail: 'persistence: append-only file on' });
  });

  it('fails in bounded time when Redis is gone, and does not run the checks that need it', async () => {
    // SIGKILL: a SIGTERM is refused while Redis writes its first append-only file.
    server.kill('SIGKILL');
    await exited(server);
    const started = Date.now();
    const results = await redisDoctor(config, 2000);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(results.get('redis.connect')).toMatchObject({ status: 'fail', fix: 'start Redis, or correct REDIS_URL' });
    expect(results.get('redis.connect')!.detail).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:\d+ \(REDIS_URL\)/);
    expect(results.get('redis.eviction')).toMatchObject({ status: 'fail', detail: 'not checked: redis.connect failed' });
  });
});
