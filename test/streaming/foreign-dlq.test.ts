import { describe, expect, it } from 'vitest';
import { REPLAY_COUNT_HEADER, REPLAYED_FROM_HEADER, int32BE, int64BE, replayHeaders, type ForeignLetter } from '../../streaming/index.js';

function letter(headers: Record<string, string | Buffer>): ForeignLetter {
  return {
    dltTopic: 'ns.user.created.DLT',
    dltPartition: 2,
    dltOffset: 17,
    dialect: 'spring',
    topic: 'ns.user.created',
    partition: 2,
    offset: 40,
    group: 'ns.welcome-mail',
    eventId: undefined,
    errorClass: 'java.lang.IllegalStateException',
    errorMessage: 'boom',
    timestamp: 0,
    priorReplays: 1,
    replayedFrom: undefined,
    replay: undefined,
    message: { partition: 2, offset: 17, timestamp: 0, key: Buffer.from('k'), value: Buffer.from('{}'), headers },
  };
}

describe('replayHeaders', () => {
  it('keeps the record’s own headers, drops every dialect’s dead-letter headers and the previous replay’s, and records this replay', () => {
    const out = replayHeaders(
      letter({
        id: 'e1',
        traceparent: 't',
        'kafka_dlt-original-topic': 'ns.user.created',
        'kafka_dlt-original-partition': int32BE(2),
        'kafka_dlt-original-offset': int64BE(40),
        'kafka_dlt-exception-stacktrace': 'long',
        'x-original-topic': 'ns.user.created',
        'x-error-class': 'X',
        '__connect.errors.topic': 'ns.user.created',
        '__connect.errors.exception.message': 'm',
        [REPLAYED_FROM_HEADER]: 'ns.user.created.DLT:2:3',
        [REPLAY_COUNT_HEADER]: '1',
        'x-replayed-at': '2026-01-01T00:00:00Z',
      }),
      2,
    );
    expect(out).toEqual({ id: 'e1', traceparent: 't', [REPLAYED_FROM_HEADER]: 'ns.user.created.DLT:2:17', [REPLAY_COUNT_HEADER]: '2' });
  });
});
