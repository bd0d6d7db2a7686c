/**
 * Fault injection for the load generator and tests, off by default. This is
 * the only module that knows about faults; the user service asks it what to
 * do with each user and hands it the producer for what happens after commit.
 *
 * - `rollback` (direct mode): send `user.created`, then roll the user back.
 *   The consumer still grants: an orphan grant, and a phantom event.
 * - `lose`: commit the user but make sure its event never reaches the
 *   consumer. Outbox mode writes the outbox row already marked published
 *   (partition/offset null: "acknowledged, then lost on a failover"), so the
 *   relay never sends it; direct mode commits without sending.
 * - `duplicate`: after commit, produce the very same message again (key,
 *   `id` header, value): two deliveries of one event.
 * - `poison`: produce an undecodable value to `user.created`, keyed by a
 *   user id.
 *
 * `rollback`, `lose` and `duplicate` exclude each other per user (one draw);
 * `poison` is drawn on its own.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { outboxRowsById } from '../db/index.js';
import type { Producer } from './kafka.js';
import { outboxMessage, sendLocated } from './publish.js';

export const FAULT_KINDS = ['rollback', 'lose', 'duplicate', 'poison'] as const;

/**
 * Faults of a consumer of ours, for tests and demonstrations (off by default):
 *
 * - `commit-before-effect`: commit each batch's offsets, then drop its effect
 *   (no ledger entry, no `consumed_events` row): the classic auto-commit bug
 *   of a consumer that commits what it polled and dies before its
 *   transaction commits. Committed offsets then say "consumed"; only an
 *   inbox (and the ledger check) can tell it was not.
 */
export const CONSUMER_FAULTS = ['commit-before-effect'] as const;
export type ConsumerFault = (typeof CONSUMER_FAULTS)[number];
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultOptions {
  /** Probability per user of each fault, in [0, 1]. Default 0 (off). */
  rollback?: number;
  lose?: number;
  duplicate?: number;
  poison?: number;
  /** Seed of the pseudo-random draws, for reproducible runs. Default: random. */
  seed?: number;
}

/** What happens to one user. */
export interface FaultDecision {
  rollback: boolean;
  lose: boolean;
  duplicate: boolean;
  poison: boolean;
}

export const NO_FAULT: FaultDecision = Object.freeze({ rollback: false, lose: false, duplicate: false, poison: false });

/** mulberry32: small, fast, good enough to spread faults; seeded for reproducibility. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultInjector {
  /** What was actually injected so far, per kind. */
  readonly injected: Record<FaultKind, number> = { rollback: 0, lose: 0, duplicate: 0, poison: 0 };
  private readonly random: () => number;
  private readonly rates: Record<FaultKind, number>;

  constructor(options: FaultOptions = {}) {
    this.rates = { rollback: options.rollback ?? 0, lose: options.lose ?? 0, duplicate: options.duplicate ?? 0, poison: options.poison ?? 0 };
    for (const [kind, p] of Object.entries(this.rates)) {
      if (!(p >= 0 && p <= 1)) throw new RangeError(`fault rate ${kind} must be in [0, 1], got ${p}`);
    }
    this.random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  get enabled(): boolean {
    return FAULT_KINDS.some((k) => this.rates[k] > 0);
  }

  /** Draw the fate of one user. `rollback` only exists in direct mode (an outbox write rolls back with its user). */
  decide(mode: 'outbox' | 'direct'): FaultDecision {
    if (!this.enabled) return NO_FAULT;
    const r = this.random();
    const rollback = mode === 'direct' ? this.rates.rollback : 0;
    const decision: FaultDecision = {
      rollback: r < rollback,
      lose: r >= rollback && r < rollback + this.rates.lose,
      duplicate: r >= rollback + this.rates.lose && r < rollback + this.rates.lose + this.rates.duplicate,
      poison: this.random() < this.rates.poison,
    };
    return decision;
  }

  /** Count a fault the caller applied itself (rollback, lose). */
  count(kind: FaultKind, n = 1): void {
    this.injected[kind] += n;
  }

  /**
   * After commit: produce the duplicates (the outbox rows of `duplicateEventIds`,
   * sent exactly as the relay sends them) and `poisonKeys.length` undecodable
   * messages to `userCreatedTopic`.
   */
  async afterCommit(
    { db, producer, userCreatedTopic }: { db: Knex; producer: Producer; userCreatedTopic: string },
    { duplicateEventIds, poisonKeys }: { duplicateEventIds: readonly string[]; poisonKeys: readonly string[] },
  ): Promise<void> {
    if (duplicateEventIds.length === 0 && poisonKeys.length === 0) return;
    const rows = await outboxRowsById(db, duplicateEventIds);
    const poison = poisonKeys.map((key) => ({
      topic: userCreatedTopic,
      // Not JSON at all: the consumer cannot even tell which event it was meant to be.
      message: { key, value: `\u0000poison ${randomUUID()} {not json`, headers: { id: randomUUID() } },
    }));
    await sendLocated(producer, [...rows.map(outboxMessage), ...poison]);
    this.injected.duplicate += rows.length;
    this.injected.poison += poison.length;
  }

  /** "rollback 3, lose 0, duplicate 12, poison 1". */
  summary(): string {
    return FAULT_KINDS.map((k) => `${k} ${this.injected[k]}`).join(', ');
  }
}
