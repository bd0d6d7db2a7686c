/**
 * Dead-letter topics: `<topic>.DLT`, same partition as the original, key and
 * value untouched, original headers kept, plus these headers:
 *
 * | header                 | value                                                       |
 * |------------------------|-------------------------------------------------------------|
 * | `x-original-topic`     | topic the message was consumed from                         |
 * | `x-original-partition` | its partition                                               |
 * | `x-original-offset`    | its offset                                                  |
 * | `x-original-timestamp` | its broker timestamp (ms since the epoch)                   |
 * | `x-consumer-group`     | the group that gave up on it                                |
 * | `x-error-class`        | e.g. `InvalidMessage`, `error` class name (≤ 128 bytes)     |
 * | `x-error-message`      | why: decode failure, constraint violated, … (≤ 512 bytes)   |
 * | `x-attempts`           | how many times the group tried it                           |
 * | `x-dead-lettered-at`   | ISO-8601 instant it was dead-lettered                       |
 *
 * A dead letter the DLT can never take (too large, ...) stays in `dead_letters`
 * with `dlt_error` and is not on the DLT; its message is still in the
 * original topic at the recorded partition and offset (until retention).
 *
 * With `RECON_DLT_HEADERS=spring` the consumers write Spring for Apache
 * Kafka's dialect instead (DeadLetterPublishingRecoverer's names and binary
 * encodings), so Spring tooling reads recon's dead letters:
 *
 * | header                                | value                                   |
 * |---------------------------------------|-----------------------------------------|
 * | `kafka_dlt-original-topic`            | UTF-8                                   |
 * | `kafka_dlt-original-partition`        | int32, big-endian (4 bytes)             |
 * | `kafka_dlt-original-offset`           | int64, big-endian (8 bytes)             |
 * | `kafka_dlt-original-timestamp`        | int64, big-endian, ms since the epoch   |
 * | `kafka_dlt-original-timestamp-type`   | `CreateTime` or `LogAppendTime`         |
 * | `kafka_dlt-original-consumer-group`   | UTF-8                                   |
 * | `kafka_dlt-exception-fqcn`            | error class (≤ 128 bytes)               |
 * | `kafka_dlt-exception-message`         | why (≤ 512 bytes)                       |
 * | `kafka_dlt-exception-stacktrace`      | class and message (≤ 1024 bytes)        |
 *
 * Either way, the dead-letter headers a message already carries (from an
 * earlier dead-lettering, in either dialect) are dropped before the new ones
 * are written, so a letter dead-lettered again does not grow.
 *
 * `recon dlq replay` sends a dead letter back to its original topic with its
 * original key, value and headers, plus `x-replayed-at`.
 */
import { isUuid } from '../core/index.js';
import type { IHeaders, KafkaMessage, Message } from './kafka.js';
import { headerString } from './kafka.js';
import type { Outgoing } from './publish.js';
import { int32BE, int64BE, readDeadLetterHeaders, SPRING_DLT_HEADERS } from './dlt-headers.js';

export const DLT_HEADERS = {
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

/** The dialects of dead-letter headers recon writes (`RECON_DLT_HEADERS`). */
export const DLT_DIALECTS = ['recon', 'spring'] as const;
export type DltDialect = (typeof DLT_DIALECTS)[number];

/** The header that carries the event id (DESIGN.md: header `id` = event id). */
export const EVENT_ID_HEADER = 'id';

/**
 * Most bytes (UTF-8) of the headers whose values recon does not bound
 * otherwise. With the others (topic and group names of at most 249 bytes,
 * numbers, an instant) recon adds at most about 1.3 KB to a dead letter.
 */
export const DLT_HEADER_LIMITS = { errorClass: 128, errorMessage: 512, stacktrace: 1024 } as const;

/** `value` cut to at most `maxBytes` bytes of UTF-8, on a character boundary, ending in `…` when cut. */
export function capBytes(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value) <= maxBytes) return value;
  const ellipsis = '…';
  let room = maxBytes - Buffer.byteLength(ellipsis);
  let out = '';
  for (const ch of value) {
    room -= Buffer.byteLength(ch);
    if (room < 0) break;
    out += ch;
  }
  return out + ellipsis;
}

/** Added by `recon dlq replay` to the message it sends back. */
export const REPLAYED_AT_HEADER = 'x-replayed-at';

/**
 * Every dead-letter header either dialect writes, Spring's other `kafka_dlt-`
 * ones and Kafka Connect's `__connect.errors.*`: dropped before a message is
 * dead-lettered again or replayed, so a letter's origin is always its last one.
 */
export function isDeadLetterHeader(name: string): boolean {
  return DLT_HEADER_NAMES.has(name) || name.startsWith('kafka_dlt-') || name.startsWith('__connect.errors.');
}

const DLT_HEADER_NAMES = new Set<string>([...Object.values(DLT_HEADERS), ...Object.values(SPRING_DLT_HEADERS)]);

/** Error class recorded for a message that could not be decoded or validated. */
export const INVALID_MESSAGE_CLASS = 'InvalidMessage';

export interface DeadLetterInfo {
  topic: string;
  partition: number;
  message: KafkaMessage;
  group: string;
  errorClass: string;
  errorMessage: string;
  attempts: number;
  /**
   * The event id the message carries, when it carries a valid one (see
   * {@link deadLetterEventId}): it ties the dead letter to its outbox event, so
   * the batch layer reports it as dead-lettered instead of unconsumed. Only a
   * message with no valid id anywhere has none; the batch layer reports those
   * on their own.
   */
  eventId?: string | undefined;
}

/**
 * The event id of a message that failed validation: the payload's `eventId`
 * when it is a valid UUID (`decodedEventId`, what a valid message would be
 * recorded under in `consumed_events`), else the `id` header when it is one
 * (the outbox's event id, which the relay puts there), else none. One bad
 * field elsewhere in the message does not make a valid id untrustworthy.
 */
export function deadLetterEventId(message: Pick<KafkaMessage, 'headers'>, decodedEventId: string | undefined): string | undefined {
  if (isUuid(decodedEventId)) return decodedEventId.toLowerCase();
  const header = headerString(message.headers, EVENT_ID_HEADER);
  return isUuid(header) ? header.toLowerCase() : undefined;
}

/**
 * The `.DLT` message for one consumed message, with the dead-letter headers
 * of `dialect` (default recon's). Headers of an earlier dead-lettering are
 * replaced, never stacked.
 */
export function deadLetterMessage(info: DeadLetterInfo, at = new Date(), dialect: DltDialect = 'recon'): Outgoing {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(info.message.headers ?? {})) {
    if (!isDeadLetterHeader(name) && value !== undefined) headers[name] = value;
  }
  // Bounded in bytes: a message near the topic's size limit must still fit on the DLT with
  // recon's headers (the whole error stays in `dead_letters`).
  const errorClass = capBytes(info.errorClass, DLT_HEADER_LIMITS.errorClass);
  const errorMessage = capBytes(info.errorMessage, DLT_HEADER_LIMITS.errorMessage);
  if (dialect === 'spring') {
    const h = SPRING_DLT_HEADERS;
    headers[h.originalTopic] = info.topic;
    headers[h.originalPartition] = int32BE(info.partition);
    headers[h.originalOffset] = int64BE(BigInt(info.message.offset));
    headers[h.originalTimestamp] = int64BE(BigInt(info.message.timestamp));
    // kafkajs does not expose a record's timestamp type; recon's topics use the producer's time.
    headers[h.originalTimestampType] = 'CreateTime';
    headers[h.originalConsumerGroup] = info.group;
    headers[h.exceptionFqcn] = errorClass;
    headers[h.exceptionMessage] = errorMessage;
    headers[h.exceptionStacktrace] = capBytes(`${info.errorClass}: ${info.errorMessage}`, DLT_HEADER_LIMITS.stacktrace);
  } else {
    headers[DLT_HEADERS.originalTopic] = info.topic;
    headers[DLT_HEADERS.originalPartition] = String(info.partition);
    headers[DLT_HEADERS.originalOffset] = info.message.offset;
    headers[DLT_HEADERS.originalTimestamp] = info.message.timestamp;
    headers[DLT_HEADERS.consumerGroup] = info.group;
    headers[DLT_HEADERS.errorClass] = errorClass;
    headers[DLT_HEADERS.errorMessage] = errorMessage;
    headers[DLT_HEADERS.attempts] = String(info.attempts);
    headers[DLT_HEADERS.deadLetteredAt] = at.toISOString();
  }
  const message: Message = { key: info.message.key, value: info.message.value, headers, partition: info.partition };
  return { topic: `${info.topic}.DLT`, message };
}

/** What a DLT message says about itself. */
export interface DeadLetterOrigin {
  topic: string;
  partition: number;
  offset: number;
  group: string | undefined;
  errorClass: string | undefined;
  errorMessage: string | undefined;
  attempts: number | undefined;
  deadLetteredAt: Date | undefined;
}

/** Where a DLT message came from, in any dialect recon reads (see ./dlt-headers.ts). */
export function deadLetterOrigin(message: KafkaMessage): DeadLetterOrigin | undefined {
  const read = readDeadLetterHeaders(message.headers);
  if (!read) return undefined;
  return {
    topic: read.topic,
    partition: read.partition,
    offset: read.offset,
    group: read.group,
    errorClass: read.errorClass,
    errorMessage: read.errorMessage,
    attempts: read.attempts,
    deadLetteredAt: read.deadLetteredAt,
  };
}

/** The message to send back to the original topic: original key, value and headers, plus `x-replayed-at`. */
export function replayMessage(message: KafkaMessage, origin: DeadLetterOrigin, at = new Date()): Outgoing {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (!isDeadLetterHeader(name) && value !== undefined) headers[name] = value;
  }
  headers[REPLAYED_AT_HEADER] = at.toISOString();
  return { topic: origin.topic, message: { key: message.key, value: message.value, headers } };
}
