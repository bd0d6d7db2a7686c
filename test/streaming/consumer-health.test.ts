import { describe, expect, it } from 'vitest';
import { healthMetrics, healthReport, type ConsumerHealth } from '../../streaming/index.js';

const group = (name: string, state: ConsumerHealth['state'], extra: Partial<ConsumerHealth> = {}): ConsumerHealth => ({
  group: name,
  state,
  since: new Date('2026-12-01T10:00:00Z'),
  lastBatchAt: null,
  consumed: 3,
  duplicates: 1,
  deadLettered: 2,
  dltSendFailures: 1,
  batches: 4,
  ...extra,
});

describe('consumer health', () => {
  it('is ok while every consumer runs, starts or is being restarted by kafkajs', () => {
    expect(healthReport([group('a', 'running'), group('b', 'restarting'), group('c', 'starting')]).ok).toBe(true);
  });

  it('fails once one crashed for good or stopped, saying which and why', () => {
    const report = healthReport([
      group('a', 'running'),
      group('b', 'crashed', { error: { errorClass: 'error', message: 'relation "dead_letters" does not exist' } }),
    ]);
    expect(report.ok).toBe(false);
    expect(report.body).toMatchObject({
      status: 'failing',
      groups: { b: { state: 'crashed', since: '2026-12-01T10:00:00.000Z', error: { errorClass: 'error' } } },
    });
    expect(healthReport([group('a', 'stopped')]).ok).toBe(false);
    expect(healthReport([]).ok).toBe(false);
  });

  it('exposes the counters and liveness in Prometheus text format', () => {
    const text = healthMetrics([group('g', 'crashed', { lastBatchAt: new Date(1_700_000_000_000) })]);
    expect(text).toContain('# TYPE recon_consumer_up gauge\nrecon_consumer_up{group="g"} 0\n');
    expect(text).toContain('recon_consumer_last_batch_timestamp_seconds{group="g"} 1700000000\n');
    expect(text).toContain('# TYPE recon_consumer_dead_letters_total counter\nrecon_consumer_dead_letters_total{group="g"} 2\n');
    expect(text).toContain('recon_consumer_dlt_send_failures_total{group="g"} 1\n');
  });
});
