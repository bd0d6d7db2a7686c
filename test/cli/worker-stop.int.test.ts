import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunQueue, queueRun } from '../../batch/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../helpers/env.js';
import { exited, spawnCli } from '../helpers/cli.js';

/** `recon worker` told to stop while it executes a long queued run: it stops after the window in hand. */
describe('recon worker on SIGTERM during a run', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ topics: false, roles: true, env: { RECON_WINDOW_SECONDS: '1', RECON_GRACE_SECONDS: '0' } });
  });
  afterAll(async () => env?.cleanup());

  it('exits 0 without walking the rest of the run, which is recorded as aborted', async () => {
    const queue = createRunQueue(env.config);
    // Six hours of one-second windows: far longer than this test lets it run.
    const to = new Date(Date.now() - 60_000);
    const from = new Date(to.getTime() - 6 * 3600_000);
    const { runId } = await queueRun(queue, { checks: ['users-vs-points'], trigger: 'api', from, to, email: false });
    await queue.close();

    const worker = spawnCli(env.config, ['worker', '--progress-interval', '0', '--sweep-interval', '0'], {
      RECON_WINDOW_SECONDS: '1',
      RECON_GRACE_SECONDS: '0',
    });
    const done = exited(worker);
    try {
      await waitFor(
        'the run to walk some windows',
        async () => Number((await env.dbs.recon('run_windows').where({ run_id: runId }).count({ n: '*' }))[0]!.n) >= 5,
        {
          timeoutMs: 60_000,
        },
      );
    } catch (err) {
      worker.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${worker.output()}`, { cause: err });
    }
    worker.kill('SIGTERM');
    const { code } = await done;
    expect(code, worker.output()).toBe(0);
    const run = await env.dbs.recon('runs').where({ id: runId }).first('status', 'error');
    expect(run).toMatchObject({ status: 'failed', error: 'aborted' });
    const walked = Number((await env.dbs.recon('run_windows').where({ run_id: runId }).count({ n: '*' }))[0]!.n);
    expect(walked).toBeLessThan(6 * 3600);
  });
});
