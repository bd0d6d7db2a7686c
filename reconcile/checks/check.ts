/**
 * What a check is: a name, the source databases it reads (they bound its
 * windows), where its history starts, and a comparison of one window.
 */
import type { CheckName, Config, SourceDatabase, Window } from '../../core/index.js';
import type { Databases, DiscrepancyInput, LateSource, Supersession } from '../../db/index.js';
import type { BisectionOptions } from './bisection.js';
import type { DeadLetterReplays, TopicEvidence } from './topic-evidence.js';

export interface CheckContext {
  dbs: Pick<Databases, SourceDatabase>;
  config: Pick<Config, 'signupBonusPoints' | 'namespace' | 'subscriptions' | 'relay' | 'graceSeconds' | 'clockSkewSeconds'>;
  /**
   * The topics and consumer groups as evidence (see ./topic-evidence.ts).
   * Absent: the outbox check judges publication by the rows and consumption
   * by `inbox` groups only (groups with `offsets` evidence are not checked).
   */
  topics?: TopicEvidence;
  /**
   * Replays of foreign groups' letters (`recon dlq replay --group`): with
   * them, a letter whose replayed record the group consumed is not reported.
   */
  replays?: DeadLetterReplays;
  /** Tuning of the checksum bisection; defaults in {@link BisectionOptions}. */
  bisection?: Partial<BisectionOptions>;
}

export interface WindowComparison {
  /** Discrepancies found in the window, deduplicated by id. */
  found: DiscrepancyInput[];
  /** Rows the window holds on both sides together (from the checksums: not transferred). */
  rowsCompared: number;
  /** Segments whose checksums were compared, all levels together. */
  segmentsCompared: number;
  /** Rows actually fetched for row-by-row comparison (grows with the discrepancies, not the window). */
  rowsFetched: number;
  /**
   * Discrepancies recorded earlier that a finding of this window replaces
   * (an `unconsumed_event` whose event has since been dead-lettered): the
   * run closes them in the window's transaction.
   */
  supersedes?: Supersession[];
}

export interface Check {
  name: CheckName;
  /** Databases whose writers bound the safe upper bound of this check. */
  sources: readonly SourceDatabase[];
  /**
   * Tables whose rows may be written long after their window-key time (by a
   * consumer catching up, or dead-lettering what it finds poison when it
   * comes back). Each run re-checks the windows behind the watermark that
   * received such rows since its previous run.
   */
  lateSources: readonly { db: SourceDatabase; source: LateSource }[];
  /** Earliest window-key value over the check's sources, or null when they are empty. */
  earliest(ctx: CheckContext): Promise<Date | null>;
  /** Compare one window and classify what differs. Reads only rows of the window. */
  compare(ctx: CheckContext, window: Window): Promise<WindowComparison>;
}
