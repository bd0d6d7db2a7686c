/**
 * Reading dead letters written by any of the three dialects recon meets, so
 * a letter in `<topic>.DLT` says which message it was, whoever wrote it:
 *
 * | dialect | topic / partition / offset | group | error |
 * |---|---|---|---|
 * | recon (`streaming/dead-letter.ts`) | `x-original-topic`, `-partition`, `-offset` (decimal strings) | `x-consumer-group` | `x-error-class`, `x-error-message` |
 * | Spring `DeadLetterPublishingRecoverer` | `kafka_dlt-original-topic` (string), `-partition` (int32 big-endian), `-offset` (int64 big-endian) | `kafka_dlt-original-consumer-group` | `kafka_dlt-exception-fqcn`, `kafka_dlt-exception-message` |
 * | Kafka Connect (`errors.deadletterqueue.context.headers.enable`) | `__connect.errors.topic`, `.partition`, `.offset` (decimal strings) | none (Connect names the connector) | `__connect.errors.exception.class.name`, `.exception.message` |
 *
 * Spring's numbers are binary; a value of another width is read as a
 * decimal string, so a letter re-encoded by some tool still reads. The
 * original timestamp is `x-original-timestamp` (decimal) or
 * `kafka_dlt-original-timestamp` (int64 big-endian). Reading never throws: a
 * message without a complete origin (topic, partition, offset) gives
 * `undefined`.
 */
import type { IHeaders } from './kafka.js';

export const SPRING_DLT_HEADERS = {
  originalTopic: 'kafka_dlt-original-topic',
  originalPartition: 'kafka_dlt-original-partition',
  originalOffset: 'kafka_dlt-original-offset',
  originalTimestamp: 'kafka_dlt-original-timestamp',
  originalTimestampType: 'kafka_dlt-original-timestamp-type',
  originalConsumerGroup: 'kafka_dlt-original-consumer-group',
  exceptionFqcn: 'kafka_dlt-exception-fqcn',
  exceptionMessage: 'kafka_dlt-exception-message',
  exceptionStacktrace: 'kafka_dlt-exception-stacktrace',
} as const;

export const CONNECT_DLT_HEADERS = {
  topic: '__connect.errors.topic',
  partition: '__connect.errors.partition',
  offset: '__connect.errors.offset',
  connectorName: '__connect.errors.connector.name',
  exceptionClass: '__connect.errors.exception.class.name',
  exceptionMessage: '__connect.errors.exception.message',
} as const;

/** recon's own names (the writer is streaming/dead-letter.ts, whose `DLT_HEADERS` these equal). */
const RECON = {
  originalTopic: 'x-original-topic',
  originalPartition: 'x-original-partition',
  originalOffset: 'x-original-offset',
  originalTimestamp: 'x-original-timestamp',
  consumerGroup: 'x-consumer-group',
  errorClass: 'x-error-class',
  errorMessage: 'x-error-message',
  attempts: 'x-attempts',
  deadLetteredAt: 'x-dead-lettered-at',
} as const;

export type DeadLetterDialect = 'recon' | 'spring' | 'connect';

/** Where a dead letter came from and why, whichever dialect wrote it. */
export interface DeadLetterHeaders {
  dialect: DeadLetterDialect;
  topic: string;
  partition: number;
  offset: number;
  /** Broker timestamp of the original message, ms since the epoch. */
  originalTimestamp: number | undefined;
  /** The consumer group that gave up on it (recon, Spring; Connect names no group). */
  group: string | undefined;
  errorClass: string | undefined;
  errorMessage: string | undefined;
  /** recon only. */
  attempts: number | undefined;
  /** recon only. */
  deadLetteredAt: Date | undefined;
}

function raw(headers: IHeaders | undefined, name: string): Buffer | undefined {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  if (one === undefined || one === null) return undefined;
  return Buffer.isBuffer(one) ? one : Buffer.from(String(one), 'utf8');
}

function text(headers: IHeaders | undefined, name: string): string | undefined {
  return raw(headers, name)?.toString('utf8');
}

/** A decimal string as a safe integer, else undefined. */
function decimal(value: string | undefined): number | undefined {
  if (value === undefined || !/^-?\d+$/.test(value.trim())) return undefined;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A big-endian int32 (4 bytes) or int64 (8 bytes) as a number; other widths as a decimal string. */
export function binaryInt(value: Buffer | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value.length === 4) return value.readInt32BE(0);
  if (value.length === 8) {
    const n = value.readBigInt64BE(0);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
  }
  return decimal(value.toString('utf8'));
}

function date(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** What a dead letter's headers say about its origin, or undefined when no dialect gives a complete origin. */
export function readDeadLetterHeaders(headers: IHeaders | undefined): DeadLetterHeaders | undefined {
  const reconTopic = text(headers, RECON.originalTopic);
  if (reconTopic !== undefined) {
    const partition = decimal(text(headers, RECON.originalPartition));
    const offset = decimal(text(headers, RECON.originalOffset));
    if (reconTopic && partition !== undefined && offset !== undefined) {
      return {
        dialect: 'recon',
        topic: reconTopic,
        partition,
        offset,
        originalTimestamp: decimal(text(headers, RECON.originalTimestamp)),
        group: text(headers, RECON.consumerGroup),
        errorClass: text(headers, RECON.errorClass),
        errorMessage: text(headers, RECON.errorMessage),
        attempts: decimal(text(headers, RECON.attempts)),
        deadLetteredAt: date(text(headers, RECON.deadLetteredAt)),
      };
    }
  }
  const springTopic = text(headers, SPRING_DLT_HEADERS.originalTopic);
  if (springTopic !== undefined) {
    const partition = binaryInt(raw(headers, SPRING_DLT_HEADERS.originalPartition));
    const offset = binaryInt(raw(headers, SPRING_DLT_HEADERS.originalOffset));
    if (springTopic && partition !== undefined && offset !== undefined) {
      return {
        dialect: 'spring',
        topic: springTopic,
        partition,
        offset,
        originalTimestamp: binaryInt(raw(headers, SPRING_DLT_HEADERS.originalTimestamp)),
        group: text(headers, SPRING_DLT_HEADERS.originalConsumerGroup),
        errorClass: text(headers, SPRING_DLT_HEADERS.exceptionFqcn),
        errorMessage: text(headers, SPRING_DLT_HEADERS.exceptionMessage),
        attempts: undefined,
        deadLetteredAt: undefined,
      };
    }
  }
  const connectTopic = text(headers, CONNECT_DLT_HEADERS.topic);
  if (connectTopic !== undefined) {
    const partition = decimal(text(headers, CONNECT_DLT_HEADERS.partition));
    const offset = decimal(text(headers, CONNECT_DLT_HEADERS.offset));
    if (connectTopic && partition !== undefined && offset !== undefined) {
      return {
        dialect: 'connect',
        topic: connectTopic,
        partition,
        offset,
        originalTimestamp: undefined,
        group: undefined,
        errorClass: text(headers, CONNECT_DLT_HEADERS.exceptionClass),
        errorMessage: text(headers, CONNECT_DLT_HEADERS.exceptionMessage),
        attempts: undefined,
        deadLetteredAt: undefined,
      };
    }
  }
  return undefined;
}

/** Spring's binary encodings (the writer of Spring's dialect is ./dead-letter.ts). */
export function int32BE(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

export function int64BE(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n), 0);
  return b;
}
