/**
 * Shapes shared by the compensation handlers. A handler gets the open
 * discrepancies of one kind, re-reads the real state, writes what restores
 * the invariant (idempotently), checks it again and says, per discrepancy,
 * what happened. It never changes discrepancy statuses itself: the job does
 * that from the outcomes.
 */
import type { Config } from '../../core/index.js';
import type { Databases, DiscrepancyRow } from '../../db/index.js';

/** One message to produce again exactly as the outbox holds it. */
export interface OutgoingMessage {
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

/** Where a produced message landed (kafkajs `RecordMetadata` has this shape). */
export interface ProducedRecord {
  partition: number;
  baseOffset?: string;
  offset?: string;
}

/**
 * What the handlers need of a Kafka producer: reconcile/ does not import
 * streaming/, so batch/ or the CLI passes a connected producer in.
 */
export interface MessageSender {
  send(record: { topic: string; messages: OutgoingMessage[] }): Promise<ProducedRecord[]>;
}

export interface CompensationDeps {
  dbs: Databases;
  config: Pick<Config, 'signupBonusPoints' | 'namespace'> & Partial<Pick<Config, 'relay'>>;
  producer: MessageSender;
  /**
   * A consumer group's committed offsets on a topic (partition → the next
   * offset it reads; -1 none): how an `unconsumed_event` of a group with
   * `offsets` evidence is seen resolved once the group passes it. Absent:
   * such events stay open (retried) until a run no longer finds them.
   */
  groupOffsets?: (group: string, topic: string) => Promise<Map<number, number>>;
  /**
   * After re-sending an unconsumed event, how long to wait (ms) for the
   * consumer group to record it before leaving the check to a later attempt.
   * Default 5000.
   */
  consumeWaitMs?: number;
}

/**
 * Per discrepancy: `resolved` (the invariant holds now; `effect` says whether
 * this execution wrote anything), `failed` (permanent: no retry can fix it),
 * or `retry` (not resolved yet, a later attempt may).
 */
export type CompensationOutcome =
  { id: string; result: 'resolved'; effect: boolean } | { id: string; result: 'failed'; reason: string } | { id: string; result: 'retry'; reason: string };

/** State a job keeps between its attempts. */
export interface CompensationJobState {
  /** Event ids of unconsumed events this job has re-sent already (one re-send per job, then only checks). */
  resent: Set<string>;
}

export type CompensationHandler = (deps: CompensationDeps, rows: readonly DiscrepancyRow[], state: CompensationJobState) => Promise<CompensationOutcome[]>;
