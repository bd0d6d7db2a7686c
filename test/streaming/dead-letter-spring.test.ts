import { describe, expect, it } from 'vitest';
import { DLT_HEADER_LIMITS, deadLetterMessage, readDeadLetterHeaders, SPRING_DLT_HEADERS, type IHeaders } from '../../streaming/index.js';

const info = {
  topic: 'ns.user.created',
  partition: 5,
  message: {
    key: Buffer.from('k'),
    value: Buffer.from('{}'),
    headers: {
      id: 'e',
      'x-original-topic': 'old',
      'x-attempts': '4',
      'kafka_dlt-original-offset': Buffer.alloc(8),
      '__connect.errors.topic': 'older',
      traceparent: 't',
    } as IHeaders,
    offset: '9007199254740',
    timestamp: '1767225600000',
    attributes: 0,
  },
  group: 'ns.point-service',
  errorClass: 'InvalidMessage',
  errorMessage: 'é'.repeat(600),
  attempts: 2,
};

describe("deadLetterMessage in Spring's dialect", () => {
  it('writes the names and big-endian encodings DeadLetterPublishingRecoverer writes, and nothing of an earlier pass', () => {
    const { topic, message } = deadLetterMessage(info, new Date(), 'spring');
    const h = message.headers!;
    expect(topic).toBe('ns.user.created.DLT');
    expect(message.partition).toBe(5);
    expect((h[SPRING_DLT_HEADERS.originalPartition] as Buffer).equals(Buffer.from([0, 0, 0, 5]))).toBe(true);
    expect((h[SPRING_DLT_HEADERS.originalOffset] as Buffer).readBigInt64BE(0)).toBe(9007199254740n);
    expect((h[SPRING_DLT_HEADERS.originalTimestamp] as Buffer).readBigInt64BE(0)).toBe(1767225600000n);
    expect(Buffer.byteLength(String(h[SPRING_DLT_HEADERS.exceptionMessage]))).toBeLessThanOrEqual(DLT_HEADER_LIMITS.errorMessage);
    expect(Buffer.byteLength(String(h[SPRING_DLT_HEADERS.exceptionStacktrace]))).toBeLessThanOrEqual(DLT_HEADER_LIMITS.stacktrace);
    expect(Object.keys(h).sort()).toEqual([...Object.values(SPRING_DLT_HEADERS), 'id', 'traceparent'].sort());
    expect(readDeadLetterHeaders(h)).toMatchObject({
      dialect: 'spring',
      topic: 'ns.user.created',
      partition: 5,
      offset: 9007199254740,
      originalTimestamp: 1767225600000,
      group: 'ns.point-service',
      errorClass: 'InvalidMessage',
    });
  });

  it("recon's dialect drops Spring's and Kafka Connect's headers of an earlier pass too", () => {
    const { message } = deadLetterMessage(info, new Date('2026-12-01T00:00:00Z'));
    expect(Object.keys(message.headers!).filter((n) => n.startsWith('kafka_dlt-') || n.startsWith('__connect.errors.'))).toEqual([]);
    expect(readDeadLetterHeaders(message.headers)).toMatchObject({ dialect: 'recon', topic: 'ns.user.created', partition: 5, attempts: 2 });
  });
});
