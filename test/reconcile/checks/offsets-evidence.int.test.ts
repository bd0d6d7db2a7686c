/**
 * A foreign consumer group, Kafka's own console consumer (from the broker's
 * jars, fetched as a fresh clone fetches them: no code of ours consumes),
 * declared with `offsets` evidence and stopped half-way: a run reports
 * `unconsumed_event` for exactly the events past its committed offsets, as
 * the console consumer's own output says; once it has read to the end, a run
 * over the same windows finds nothing for it, and the compensation sees the
 * recorded ones resolved without sending anything.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun } from '../../../batch/index.js';
import { silentLogger } from '../../../core/index.js';
import { getDiscrepancies } from '../../../db/index.js';
import { compensate, type MessageSender } from '../../../reconcile/index.js';
import { fetchKafkaToolJars, kafkaToolClassPath, localKafkaPaths } from '../../../services/index.js';
import { createProducer, generateUsers, startRelay, type Producer } from '../../../streaming/index.js';
import { createTestEnv, waitFor, type TestEnv } from '../../helpers/env.js';

const GRACE = 2;
const GROUP = 'audit-console';

/** Run Kafka's console consumer in `group` for `max` messages; returns what it printed: partition, offset and the `id` header. */
function consoleConsume(env: TestEnv, group: string, max: number): Promise<{ partition: number; offset: number; id: string }[]> {
  const args = [
    '-cp',
    kafkaToolClassPath(localKafkaPaths()),
    'org.apache.kafka.tools.consumer.ConsoleConsumer',
    '--bootstrap-server',
    env.config.kafkaBrokers.join(','),
    '--topic',
    env.topics.userCreated,
    '--group',
    group,
    '--from-beginning',
    '--max-messages',
    String(max),
    // One record per poll: the position it commits when it stops is right after the last record it printed.
    '--consumer-property',
    'max.poll.records=1',
    '--timeout-ms',
    '60000',
    '--property',
    'print.partition=true',
    '--property',
    'print.offset=true',
    '--property',
    'print.headers=true',
    '--property',
    'print.value=false',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`console consumer exited ${code}: ${err.slice(-2000)}`));
      const lines = out.split('\n').filter((l) => l.startsWith('Partition:'));
      resolve(
        lines.map((l) => {
          const m = /^Partition:(\d+)\tOffset:(\d+)\t.*\bid:([0-9a-f-]{36})/.exec(l);
          if (!m) throw new Error(`unexpected console consumer line ${JSON.stringify(l)}`);
          return { partition: Number(m[1]), offset: Number(m[2]), id: m[3]! };
        }),
      );
    });
  });
}

describe('a foreign consumer group with offsets evidence (Kafka’s console consumer)', () => {
  let env: TestEnv;
  let producer: Producer;
  beforeAll(async () => {
    fetchKafkaToolJars(localKafkaPaths(), silentLogger);
    env = await createTestEnv({
      roles: true,
      env: { RECON_GRACE_SECONDS: String(GRACE), RECON_GRACE_FROM: 'start', RECON_SUBSCRIPTIONS: `user.created:${GROUP}:offsets` },
    });
    producer = createProducer(env.kafka);
    await producer.connect();
  }, 600_000);
  afterAll(async () => {
    await producer?.disconnect();
    await env?.cleanup();
  });

  it('is unconsumed exactly past its committed offsets, and nothing once it caught up', { timeout: 300_000 }, async () => {
    const total = 40;
    await generateUsers({ db: env.dbs.users, userCreatedTopic: env.topics.userCreated }, { count: total, mode: 'outbox' });
    const relay = await startRelay(env.adminConfig);
    try {
      await waitFor('the relay to publish', async () => Number((await env.dbs.users('outbox').whereNull('published_at').count({ n: '*' }))[0]!.n) === 0, {
        timeoutMs: 60_000,
      });
    } finally {
      await relay.stop();
    }
    const group = `${env.config.namespace}.${GROUP}`;
    const first = await consoleConsume(env, group, 15);
    expect(first).toHaveLength(15);
    const read = new Set(first.map((m) => m.id));
    const all: { event_id: string; kafka_partition: number; kafka_offset: string }[] = await env.dbs
      .users('outbox')
      .select('event_id', 'kafka_partition', 'kafka_offset');
    const behind = all.filter((r) => !read.has(r.event_id)).map((r) => r.event_id);
    expect(behind).toHaveLength(total - 15);
    // Wait until everything written is older than the grace.
    const now = async () => ((await env.dbs.users.raw<{ rows: { now: Date }[] }>('select clock_timestamp() as now')).rows[0]!.now as Date).getTime();
    const t = await now();
    await waitFor('the grace to pass', async () => (await now()) > t + GRACE * 1000 + 1500, { intervalMs: 200 });

    const deps = { config: env.config, dbs: env.app, log: silentLogger };
    const run = await executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test' });
    expect(run.counts['outbox-vs-consumed']).toEqual({ unconsumed_event: behind.length });
    const found: { id: string; details: Record<string, unknown> }[] = await env.dbs
      .recon('discrepancies')
      .where({ kind: 'unconsumed_event' })
      .select('id', 'details');
    expect(new Set(found.map((f) => f.details.eventId))).toEqual(new Set(behind));
    // Each says where the group stands on its partition, its lag per partition, and that it is report-only.
    const committed = await env.admin.fetchOffsets({ groupId: group, topics: [env.topics.userCreated] });
    const at = new Map(committed[0]!.partitions.map((p) => [p.partition, Number(p.offset)]));
    for (const f of found) {
      expect(f.details).toMatchObject({ group, evidence: 'offsets', compensation: 'report', onTopic: true });
      expect(f.details.committedOffset).toBe(at.get(f.details.partition as number));
      expect(Number(f.details.offset)).toBeGreaterThanOrEqual(Math.max(0, at.get(f.details.partition as number)!));
      expect(Object.keys(f.details.lag as object)).toHaveLength(6);
    }
    expect(run.queued).toEqual([]);

    // The group catches up; the same windows checked again find nothing for it.
    const rest = await consoleConsume(env, group, total - 15);
    expect(new Set(rest.map((m) => m.id))).toEqual(new Set(behind));
    const wm: Date = (await env.dbs.recon('watermarks').where({ check_name: 'outbox-vs-consumed' }).first('watermark')).watermark;
    const again = await executeRun(deps, { checks: ['outbox-vs-consumed'], trigger: 'test', from: new Date(wm.getTime() - 3 * 3600_000), to: wm });
    expect(again.counts['outbox-vs-consumed']).toEqual({});
    // The compensation sends nothing and sees them resolved: the group passed them.
    const groupOffsets = async (g: string, topic: string) =>
      new Map((await env.admin.fetchOffsets({ groupId: g, topics: [topic] }))[0]!.partitions.map((p) => [p.partition, Number(p.offset)] as [number, number]));
    const sent: unknown[] = [];
    const spy: MessageSender = { send: async (r) => (sent.push(r), []) };
    const rows = await getDiscrepancies(
      env.dbs.recon,
      found.map((f) => f.id),
    );
    const outcomes = await compensate({ dbs: env.app, config: env.config, producer: spy, groupOffsets }, rows);
    expect(outcomes.map((o) => o.result)).toEqual(rows.map(() => 'resolved'));
    expect(sent).toEqual([]);
  });
});
