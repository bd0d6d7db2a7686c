/**
 * `recon doctor`'s vocabulary. A **check** is one independent question about
 * the estate (does the users database connect, does the planner use the
 * window indexes, is Redis's eviction policy safe for BullMQ); its
 * **finding** says pass, warn or fail, what was measured and what to do.
 * Checks share the clients of a {@link DoctorContext}, never state.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../../core/index.js';
import type { Knex } from '../../db/index.js';
import type { Admin, KafkaClient, Producer } from '../../streaming/index.js';

/** `fail`: recon cannot be trusted until it is fixed (exit 1); `warn`: it works, with a caveat the detail names. */
export const DOCTOR_STATUSES = ['pass', 'warn', 'fail'] as const;
export type DoctorStatus = (typeof DOCTOR_STATUSES)[number];

export interface DoctorFinding {
  status: DoctorStatus;
  /** What was measured or found, with the numbers. */
  detail: string;
  /** What to do about it; empty when nothing is to be done. */
  fix: string;
  /** The numbers behind the detail, for `--json` readers (e.g. a clock's `skewMs` and `errorMs`). */
  measured?: Record<string, number>;
}

export interface DoctorCheck {
  /** Stable id, `<service>.<question>` (e.g. `users.window-indexes`): the table's first column, the JSON's `name`. */
  name: string;
  /** What it talks to, for the finding when that does not answer in time (e.g. `Redis at redis://127.0.0.1:6379 (REDIS_URL)`). */
  target: string;
  /** Checks of the list before this one that must not fail first; when one did, this one is not run and fails naming it. */
  requires?: readonly string[];
  run(ctx: DoctorContext): Promise<DoctorFinding>;
}

export interface DoctorResult extends DoctorFinding {
  name: string;
  /** How long the check took. */
  ms: number;
}

/**
 * The clients checks share, each created on first use, bounded by
 * `timeoutMs`, and closed by `close()`.
 */
export interface DoctorContext {
  readonly config: Config;
  /** Longest any check may take, ms; the clients' own waits are bounded by it too. */
  readonly timeoutMs: number;
  /** A small bounded pool for `url` (one per URL). */
  postgres(url: string): Knex;
  kafka(): KafkaClient;
  /** A connected admin client (connected once; a failure is remembered). */
  kafkaAdmin(): Promise<Admin>;
  /** A connected plain producer (for the clock probe). */
  kafkaProducer(): Promise<Producer>;
  /** A connected Redis client that does not retry or queue commands while disconnected. */
  redis(): Promise<Redis>;
  close(): Promise<void>;
}
