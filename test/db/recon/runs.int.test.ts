import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failInterruptedRuns } from '../../../db/index.js';
import { createTestEnv, type TestEnv } from '../../helpers/env.js';

describe('failInterruptedRuns', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ topics: false });
  });
  afterAll(async () => env?.cleanup());

  it('closes only runs that held the check, never a live run that had skipped it', async () => {
    const dead = randomUUID();
    const skipper = randomUUID();
    const finished = randomUUID();
    await env.dbs.recon('runs').insert([
      { id: dead, trigger: 'cron', checks: ['users-vs-points'], status: 'running' },
      // Asked for both, skipped users-vs-points (another run held it), runs outbox-vs-consumed.
      {
        id: skipper,
        trigger: 'api',
        checks: ['users-vs-points', 'outbox-vs-consumed'],
        status: 'running',
        options: JSON.stringify({ skipped: ['users-vs-points'] }),
      },
      { id: finished, trigger: 'cli', checks: ['users-vs-points'], status: 'completed' },
    ]);
    const me = randomUUID();
    expect(await failInterruptedRuns(env.dbs.recon, ['users-vs-points'], me)).toEqual([dead]);
    const status = async (id: string) => (await env.dbs.recon('runs').where({ id }).first('status', 'error')) as { status: string; error: string | null };
    expect(await status(dead)).toMatchObject({ status: 'failed', error: expect.stringMatching(/^interrupted/) });
    expect((await status(skipper)).status).toBe('running');
    expect((await status(finished)).status).toBe('completed');
    // Taking the check the skipper did hold: now it is the one left over.
    expect(await failInterruptedRuns(env.dbs.recon, ['outbox-vs-consumed'], me)).toEqual([skipper]);
  });
});
