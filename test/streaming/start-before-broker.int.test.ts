import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER_GROUPS, namespaced, sleep } from '../../core/index.js';
import { countConsumedEvents } from '../../db/index.js';
import { generateUsers, startRelay, type RelayProcess } from '../../streaming/index.js';
import { createTestEnv, unusedPort, waitFor, type TestEnv } from '../helpers/env.js';
import { exited, spawnCli } from '../helpers/cli.js';

/** Forward `port` to the real broker: the broker "comes up" at that address. */
async function forward(port: number, target: string): Promise<Server & { sockets: Set<Socket> }> {
  const [host, targetPort] = target.split(':') as [string, string];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(Number(targetPort), host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return Object.assign(server, { sockets });
}

describe('a consumer started while the broker is down', () => {
  let env: TestEnv;
  let relay: RelayProcess | undefined;
  let proxy: Awaited<ReturnType<typeof forward>> | undefined;
  let child: ReturnType<typeof spawnCli> | undefined;

  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (child) await exited(child);
    await relay?.stop();
    for (const s of proxy?.sockets ?? []) s.destroy();
    await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
    await env?.cleanup();
  });

  it('waits, saying so, and consumes once the broker answers', async () => {
    const port = await unusedPort();
    child = spawnCli(env.config, ['stream', 'consume', '--progress-interval', '0'], { KAFKA_BROKERS: `127.0.0.1:${port}`, LOG_LEVEL: 'info' });
    await waitFor('the waiting line', () => child!.output().includes(`127.0.0.1:${port} does not answer; waiting`), { timeoutMs: 30_000 });
    // Longer than the client's own retries (about 16 s), after which it used to exit 1.
    await sleep(20_000);
    expect(child.exitCode, child.output().slice(-2000)).toBeNull();

    proxy = await forward(port, env.config.kafkaBrokers[0]!);
    relay = await startRelay(env.config);
    const load = await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, { count: 20 });
    expect(load.committed).toBe(20);
    const group = namespaced(env.config, CONSUMER_GROUPS.pointService);
    await waitFor('20 grants', async () => (await countConsumedEvents(env.dbs.points, group)) >= 20, { timeoutMs: 90_000, intervalMs: 200 });
    expect(child.output()).toContain('kafka: brokers answer');

    child.kill('SIGTERM');
    expect(await exited(child)).toEqual({ code: 0, signal: null });
  });
});
