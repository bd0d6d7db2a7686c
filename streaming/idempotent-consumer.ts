/**
 * The shape every consumer of ours shares: `eachBatch`, one database
 * transaction per batch, offsets committed only after that transaction
 * commits, dead letters for what can never succeed.
 *
 * Per batch:
 * 1. decode every message; an undecodable or invalid one is dead-lettered
 *    (with the event id it carries, when its payload or `id` header has a valid one);
 * 2. in ONE transaction: record the valid ones in `consumed_events`
 *    (`on conflict do nothing`: an event seen before is a no-op), apply the
 *    effect of the new ones, record the dead letters;
 * 3. commit the offset after the batch's last message, heartbeat.
 *
 * A retryable failure (`isRetryable`) retries the batch with exponential
 * backoff and full jitter, `maxAttempts` times, then throws without
 * committing: kafkajs restarts the consumer and redelivery is deduplicated.
 * A non-retryable failure falls back to one transaction per message to find
 * the culprit, dead-letters it with its error, and moves on, so one poison
 * message never holds a partition back. Nor does a dead letter the DLT can
 * never take (too large): it stays in `dead_letters` with `dlt_error`.
 * A failure even dead-lettering cannot get past stops the consumer for good
 * ({@link BatchFailure}); its handle's `crashed` settles.
 */
import type { Knex } from 'knex';
import { backoffDelay, describeError, isRetryable, silentLogger, sleep, type DecodeResult, type Logger } from '../core/index.js';
import { insertConsumedEvents, insertDeadLetters } from '../db/index.js';
import { deadLetterEventId, deadLetterMessage, INVALID_MESSAGE_CLASS, type DeadLetterInfo, type DltDialect } from './dead-letter.js';
import { createConsumer, type Consumer, type EachBatchPayload, type KafkaClient, type KafkaMessage, type Producer } from './kafka.js';
import { sendLocated } from './publish.js';
import type { ConsumerFault } from './faults.js';

/** A decoded message, with where it came from. */
export interface ConsumedMessage<T> {
  event: T;
  eventId: string;
  occurredAt: Date;
  partition: number;
  offset: number;
  message: KafkaMessage;
}

/** What one consumer does with its topic. */
export interface BatchHandler<T> {
  /** Full consumer group name (namespace applied). */
  group: string;
  /** Full topic name (namespace applied). */
  topic: string;
  /** The consuming service's database (holds `consumed_events` and `dead_letters`). */
  db: Knex;
  decode(value: Buffer | null): DecodeResult<T>;
  identify(event: T): { eventId: string; occurredAt: Date };
  /** Apply the effect of events consumed for the first time, inside `trx`. Each event id appears once. */
  apply(trx: Knex.Transaction, fresh: readonly ConsumedMessage<T>[]): Promise<void>;
}

export interface BatchConsumerOptions {
  /** Partitions consumed concurrently (each batch holds one connection). Default 1. */
  concurrency?: number;
  /** Tries of a batch that fails with a retryable error before giving up on it. Default 5. */
  maxAttempts?: number;
  /** Backoff base and ceiling, ms. Default 100 and 5000. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Producer for the dead-letter topic (idempotent, acks=all). */
  producer: Producer;
  /** Header dialect of the dead letters this consumer writes (`RECON_DLT_HEADERS`). Default `recon`. */
  dltHeaders?: DltDialect;
  /** A fault to inject (see `CONSUMER_FAULTS` in ./faults.ts). Default none. */
  fault?: ConsumerFault;
  log?: Logger;
}

export interface ConsumerStats {
  /** Events consumed for the first time. */
  consumed: number;
  /** Deliveries of events consumed before (deduplicated). */
  duplicates: number;
  deadLettered: number;
  /** Dead letters the DLT could never take (too large, ...): kept in `dead_letters` with `dlt_error` only. */
  dltSendFailures: number;
  batches: number;
  /** Messages whose offsets were committed and whose effect was dropped (the `commit-before-effect` fault only). */
  dropped?: number;
}

/**
 * Where a consumer is: `starting` until it first joins its group, `running`,
 * `restarting` while kafkajs restarts it after a failure a retry may fix,
 * `crashed` once kafkajs gave up on it for good (it will not consume again in
 * this process), `stopped` after `stop()`.
 */
export type ConsumerState = 'starting' | 'running' | 'restarting' | 'crashed' | 'stopped';

export interface ConsumerHealth extends ConsumerStats {
  group: string;
  state: ConsumerState;
  /** When it entered `state`. */
  since: Date;
  /** When it last committed a batch; null before the first. */
  lastBatchAt: Date | null;
  /** The failure that made it restart or crash. */
  error?: { errorClass: string; message: string };
}

/** A consumer kafkajs will not restart: the failure that stopped it. */
export interface ConsumerCrash {
  group: string;
  error: unknown;
}

export interface ConsumerHandle {
  group: string;
  stats(): ConsumerStats;
  health(): ConsumerHealth;
  /**
   * Settles when kafkajs gave up on the consumer for good (a crash it will not
   * restart from); never, otherwise. The process should then exit non-zero so
   * that its supervisor restarts it: staying alive and idle hides growing lag.
   */
  crashed: Promise<ConsumerCrash>;
  /** Finish the batch in hand, commit, disconnect. */
  stop(): Promise<void>;
}

/**
 * What a batch's failure is thrown to kafkajs as: its class name and message,
 * and `retriable` as {@link isRetryable} judges it. kafkajs retries a batch and
 * then restarts the consumer after any failure not flagged `retriable: false`,
 * so a failure no retry can fix (the dead-letter table missing, a privilege
 * refused) restarted it in a loop for ever, consuming nothing. With the flag,
 * a retryable failure (a database outage) is still retried and restarted
 * from, and a permanent one stops the consumer for good at once (kafkajs's
 * crash with `restart: false`): `recon stream consume` then exits non-zero for
 * its supervisor to restart it. No `cause`: kafkajs judges a crash by the
 * innermost cause's flag; the original stays in `failure`.
 */
export class BatchFailure extends Error {
  readonly retriable: boolean;
  constructor(readonly failure: unknown) {
    const { errorClass, message } = describeError(failure);
    super(message);
    this.name = errorClass;
    this.retriable = isRetryable(failure);
  }
}

/**
 * Inside `trx`: record `valid` in `consumed_events` and apply the effect of
 * the events consumed for the first time (each event id once). Returns those.
 */
export async function applyOnce<T>(trx: Knex.Transaction, handler: BatchHandler<T>, valid: readonly ConsumedMessage<T>[]): Promise<ConsumedMessage<T>[]> {
  const inserted = await insertConsumedEvents(
    trx,
    valid.map((v) => ({
      event_id: v.eventId,
      consumer_group: handler.group,
      topic: handler.topic,
      kafka_partition: v.partition,
      kafka_offset: v.offset,
      event_occurred_at: v.occurredAt,
    })),
  );
  const seen = new Set<string>();
  const fresh = valid.filter((v) => inserted.has(v.eventId) && !seen.has(v.eventId) && seen.add(v.eventId));
  if (fresh.length) await handler.apply(trx, fresh);
  return fresh;
}

/** Connect, subscribe (new groups start at the earliest offset) and run until `stop()`. */
export async function runBatchConsumer<T>(kafka: KafkaClient, handler: BatchHandler<T>, options: BatchConsumerOptions): Promise<ConsumerHandle> {
  const { concurrency = 1, maxAttempts = 5, backoffBaseMs = 100, backoffMaxMs = 5000, producer, log = silentLogger } = options;
  const stats: ConsumerStats = { consumed: 0, duplicates: 0, deadLettered: 0, dltSendFailures: 0, batches: 0 };
  const consumer: Consumer = createConsumer(kafka, handler.group, { maxWaitTimeInMs: 200 });
  let state: ConsumerState = 'starting';
  let since = new Date();
  let lastBatchAt: Date | null = null;
  let lastError: { errorClass: string; message: string } | undefined;
  const enter = (next: ConsumerState) => {
    if (state === next || state === 'stopped' || state === 'crashed') return;
    state = next;
    since = new Date();
  };
  let onCrash: (crash: ConsumerCrash) => void = () => undefined;
  const crashed = new Promise<ConsumerCrash>((resolve) => (onCrash = resolve));
  consumer.on(consumer.events.GROUP_JOIN, () => enter('running'));
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    lastError = describeError(payload.error);
    if (payload.restart) {
      log.warn({ group: handler.group, err: lastError }, 'consumer: failed; kafkajs restarts it');
      enter('restarting');
      return;
    }
    log.fatal({ group: handler.group, err: lastError }, 'consumer: stopped for good; kafkajs will not restart it');
    enter('crashed');
    onCrash({ group: handler.group, error: payload.error });
  });

  /** Run `fn`, retrying retryable failures with backoff; a non-retryable one is thrown at once. */
  async function withRetry(what: string, fn: () => Promise<void>): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        await fn();
        return attempt;
      } catch (err) {
        if (!isRetryable(err) || attempt >= maxAttempts) {
          (err as { attempts?: number }).attempts = attempt;
          throw err;
        }
        const delay = backoffDelay(attempt - 1, backoffBaseMs, backoffMaxMs);
        log.warn({ group: handler.group, what, attempt, retryInMs: delay, err: describeError(err) }, 'consumer: retryable failure');
        await sleep(delay);
      }
    }
  }

  /**
   * Put `unsent` on the DLT and note each one's outcome in `sent` (offset →
   * null when sent, else why it can never be). A retryable failure (broker
   * down) is thrown, to be retried: the dead letter must reach the DLT. A send
   * that fails for good (non-retryable, e.g. MESSAGE_TOO_LARGE) must not hold
   * the partition back: the dead letter is kept in `dead_letters` with the
   * reason, the consumer moves on, and it says so (error log, `dltSendFailures`).
   */
  async function sendDeadLetters(unsent: readonly DeadLetterInfo[], sent: Map<string, string | null>): Promise<void> {
    try {
      await sendLocated(
        producer,
        unsent.map((d) => deadLetterMessage(d, new Date(), options.dltHeaders)),
      );
      for (const d of unsent) sent.set(d.message.offset, null);
      return;
    } catch (err) {
      if (isRetryable(err)) throw err;
      if (unsent.length === 1) return dltFailedForGood(unsent[0]!, err, sent);
    }
    // One request failed for good: find which of them the DLT cannot take, one at a time.
    for (const d of unsent) {
      try {
        await sendLocated(producer, [deadLetterMessage(d, new Date(), options.dltHeaders)]);
        sent.set(d.message.offset, null);
      } catch (err) {
        if (isRetryable(err)) throw err;
        dltFailedForGood(d, err, sent);
      }
    }
  }

  function dltFailedForGood(d: DeadLetterInfo, err: unknown, sent: Map<string, string | null>): void {
    const { errorClass, message } = describeError(err);
    sent.set(d.message.offset, `${errorClass}: ${message}`);
    log.error(
      { group: handler.group, topic: d.topic, partition: d.partition, offset: d.message.offset, err: { errorClass, message } },
      'consumer: a dead letter could not be sent to the dead-letter topic; kept in dead_letters (dlt_error) only, moving on',
    );
  }

  /** Step 2 of the module comment for `valid` and `dead`. */
  async function commitEffect(valid: readonly ConsumedMessage<T>[], dead: readonly DeadLetterInfo[], sent: Map<string, string | null>): Promise<void> {
    // A retried batch, or the isolation of a culprit, must not put the same dead letter on the DLT twice.
    const unsent = dead.filter((d) => !sent.has(d.message.offset));
    if (unsent.length) await sendDeadLetters(unsent, sent);
    if (valid.length === 0 && dead.length === 0) return;
    let fresh: ConsumedMessage<T>[] = [];
    await handler.db.transaction(async (trx) => {
      if (valid.length) fresh = await applyOnce(trx, handler, valid);
      if (dead.length) {
        await insertDeadLetters(
          trx,
          dead.map((d) => ({
            consumer_group: d.group,
            topic: d.topic,
            kafka_partition: d.partition,
            kafka_offset: Number(d.message.offset),
            event_id: d.eventId ?? null,
            error_class: d.errorClass,
            error_message: d.errorMessage,
            attempts: d.attempts,
            message_timestamp: d.message.timestamp ? new Date(Number(d.message.timestamp)) : null,
            dlt_error: sent.get(d.message.offset) ?? null,
          })),
        );
      }
    });
    stats.consumed += fresh.length;
    stats.duplicates += valid.length - fresh.length;
    stats.deadLettered += dead.length;
    stats.dltSendFailures += dead.filter((d) => sent.get(d.message.offset)).length;
  }

  async function eachBatch({ batch, resolveOffset, heartbeat }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0) return;
    if (options.fault === 'commit-before-effect') {
      // The bug on purpose: the offsets go first, and the effect never follows.
      const polled = batch.messages[batch.messages.length - 1]!.offset;
      resolveOffset(polled);
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(BigInt(polled) + 1n) }]);
      stats.batches += 1;
      stats.dropped = (stats.dropped ?? 0) + batch.messages.length;
      lastBatchAt = new Date();
      await heartbeat();
      return;
    }
    const valid: ConsumedMessage<T>[] = [];
    const dead: DeadLetterInfo[] = [];
    /** Offsets (of this partition) already sent to the DLT while handling this batch → null, or why the DLT can never take it. */
    const sentDead = new Map<string, string | null>();
    const deadInfo = (message: KafkaMessage, errorClass: string, errorMessage: string, attempts: number): DeadLetterInfo => ({
      topic: batch.topic,
      partition: batch.partition,
      message,
      group: handler.group,
      errorClass,
      errorMessage,
      attempts,
    });
    for (const message of batch.messages) {
      const decoded = handler.decode(message.value);
      if (decoded.ok) {
        const { eventId, occurredAt } = handler.identify(decoded.event);
        valid.push({ event: decoded.event, eventId, occurredAt, partition: batch.partition, offset: Number(message.offset), message });
      } else {
        dead.push({ ...deadInfo(message, INVALID_MESSAGE_CLASS, decoded.reason, 1), eventId: deadLetterEventId(message, decoded.eventId) });
      }
    }
    const commitBatch = async () => {
      try {
        await withRetry('batch', () => commitEffect(valid, dead, sentDead));
      } catch (err) {
        if (isRetryable(err)) throw err;
        // Something in the batch can never succeed: find it, one message per transaction.
        log.warn({ group: handler.group, partition: batch.partition, err: describeError(err) }, 'consumer: batch failed for good; isolating the culprit');
        const culprits: DeadLetterInfo[] = [...dead];
        for (const v of valid) {
          try {
            await withRetry('message', () => commitEffect([v], [], sentDead));
          } catch (one) {
            if (isRetryable(one)) throw one;
            const { errorClass, message } = describeError(one);
            culprits.push({ ...deadInfo(v.message, errorClass, message, (one as { attempts?: number }).attempts ?? 1), eventId: v.eventId });
          }
        }
        await withRetry('dead letters', () => commitEffect([], culprits, sentDead));
      }
    };
    // Our failures reach kafkajs judged by isRetryable; its own (the commit and heartbeat below: a rebalance) as they are.
    await commitBatch().catch((err: unknown) => {
      throw new BatchFailure(err);
    });
    const last = batch.messages[batch.messages.length - 1]!.offset;
    resolveOffset(last);
    await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(BigInt(last) + 1n) }]);
    stats.batches += 1;
    lastBatchAt = new Date();
    await heartbeat();
  }

  await consumer.connect();
  await consumer.subscribe({ topic: handler.topic, fromBeginning: true });
  await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: concurrency, eachBatch });
  let stopped: Promise<void> | undefined;
  return {
    group: handler.group,
    stats: () => ({ ...stats }),
    health: () => ({ group: handler.group, state, since, lastBatchAt, ...(lastError ? { error: lastError } : {}), ...stats }),
    crashed,
    stop() {
      enter('stopped');
      // kafkajs lets the batch in hand finish (and commit) before it leaves the group.
      stopped ??= consumer.disconnect();
      return stopped;
    },
  };
}
