import { describe, expect, it } from 'vitest';
import { binaryInt, deadLetterMessage, int32BE, int64BE, readDeadLetterHeaders } from '../../streaming/index.js';

describe('readDeadLetterHeaders', () => {
  it("reads Spring's DeadLetterPublishingRecoverer headers, numbers in big-endian binary", () => {
    const read = readDeadLetterHeaders({
      'kafka_dlt-original-topic': Buffer.from('ns.user.created'),
      'kafka_dlt-original-partition': Buffer.from([0, 0, 0, 5]),
      // 2^32 + 7: an offset past 32 bits must survive.
      'kafka_dlt-original-offset': Buffer.from([0, 0, 0, 1, 0, 0, 0, 7]),
      'kafka_dlt-original-timestamp': int64BE(1767225600123),
      'kafka_dlt-original-timestamp-type': Buffer.from('CreateTime'),
      'kafka_dlt-original-consumer-group': Buffer.from('mail-service'),
      'kafka_dlt-exception-fqcn': Buffer.from('org.springframework.kafka.listener.ListenerExecutionFailedException'),
      'kafka_dlt-exception-message': Buffer.from('Listener failed; no mailbox'),
    });
    expect(read).toEqual({
      dialect: 'spring',
      topic: 'ns.user.created',
      partition: 5,
      offset: 2 ** 32 + 7,
      originalTimestamp: 1767225600123,
      group: 'mail-service',
      errorClass: 'org.springframework.kafka.listener.ListenerExecutionFailedException',
      errorMessage: 'Listener failed; no mailbox',
      attempts: undefined,
      deadLetteredAt: undefined,
    });
  });

  it("reads Kafka Connect's error headers (decimal strings, no group)", () => {
    expect(
      readDeadLetterHeaders({
        '__connect.errors.topic': 'ns.user.created',
        '__connect.errors.partition': '2',
        '__connect.errors.offset': '9001',
        '__connect.errors.exception.class.name': 'org.apache.kafka.connect.errors.DataException',
        '__connect.errors.exception.message': 'Converting byte[] to Kafka Connect data failed',
      }),
    ).toMatchObject({
      dialect: 'connect',
      topic: 'ns.user.created',
      partition: 2,
      offset: 9001,
      group: undefined,
      errorClass: 'org.apache.kafka.connect.errors.DataException',
    });
  });

  it("reads recon's own letters as streaming/dead-letter.ts writes them", () => {
    const at = new Date('2026-12-01T10:00:00.000Z');
    const { message } = deadLetterMessage(
      {
        topic: 'ns.point.granted',
        partition: 4,
        message: { key: Buffer.from('k'), value: Buffer.from('{}'), headers: { id: 'x' }, offset: '77', timestamp: '1767225600000', attributes: 0 },
        group: 'ns.user-service-balances',
        errorClass: 'InvalidMessage',
        errorMessage: 'bad',
        attempts: 3,
      },
      at,
    );
    expect(readDeadLetterHeaders(message.headers)).toEqual({
      dialect: 'recon',
      topic: 'ns.point.granted',
      partition: 4,
      offset: 77,
      originalTimestamp: 1767225600000,
      group: 'ns.user-service-balances',
      errorClass: 'InvalidMessage',
      errorMessage: 'bad',
      attempts: 3,
      deadLetteredAt: at,
    });
  });

  it('gives undefined for a message without a complete origin, and never throws', () => {
    expect(readDeadLetterHeaders(undefined)).toBeUndefined();
    expect(readDeadLetterHeaders({ id: 'x' })).toBeUndefined();
    expect(readDeadLetterHeaders({ 'kafka_dlt-original-topic': 't', 'kafka_dlt-original-partition': Buffer.from([1, 2]) })).toBeUndefined();
    expect(readDeadLetterHeaders({ 'x-original-topic': 't', 'x-original-partition': 'one', 'x-original-offset': '1' })).toBeUndefined();
  });

  it('reads binary ints of both widths, and decimal text of any other width', () => {
    expect(binaryInt(int32BE(-1))).toBe(-1);
    expect(binaryInt(int32BE(2147483647))).toBe(2147483647);
    expect(binaryInt(int64BE(42n))).toBe(42);
    expect(binaryInt(Buffer.from('123'))).toBe(123);
    expect(binaryInt(int64BE(2n ** 62n))).toBeUndefined();
  });
});
