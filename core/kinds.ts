/**
 * The discrepancy kinds, in one registry: which check finds each, what
 * entity it is about, whether a compensating job fixes it or it is only
 * reported, and what an operator reads about it. Everything else derives from
 * this table: the list of kinds, the compensable ones, the type of the
 * handler map (a complete `Record`, so a new compensable kind without a
 * handler does not compile), the notes of the report, the demo and the docs.
 *
 * Adding a kind: an entry here, the check that finds it, and (when
 * compensable) its handler; the compiler names anything else.
 */
import { CHECK_NAMES, type CheckName } from './types.js';

/** What a discrepancy is about; its `entity_id` is written and read by the codec in ./entities.ts. */
export const ENTITY_TYPES = ['user', 'event', 'dead_letter'] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

export interface KindSpec {
  check: CheckName;
  entity: EntityType;
  /** `true`: a compensating job restores the invariant; `false`: reported only. */
  compensable: boolean;
  /** What happens to it (compensable) or what to do about it (report only), for operators. */
  note: string;
}

export const DISCREPANCY_KIND_SPECS = {
  missing_grant: {
    check: CHECK_NAMES.usersVsPoints,
    entity: 'user',
    compensable: true,
    note: 'a committed user nets less than the signup bonus: granted, with the entry id the stream uses',
  },
  orphan_grant: {
    check: CHECK_NAMES.usersVsPoints,
    entity: 'user',
    compensable: true,
    note: 'ledger entries for a user who never committed: revoked by an appended entry, so the user nets 0',
  },
  excess_grant: {
    check: CHECK_NAMES.usersVsPoints,
    entity: 'user',
    compensable: true,
    note: 'a committed user nets more than the signup bonus: the excess is revoked by an appended entry',
  },
  grant_key_mismatch: {
    check: CHECK_NAMES.usersVsPoints,
    entity: 'user',
    compensable: false,
    note: "report only: a committed user's ledger entries are keyed at another time than its created_at (a producer whose occurredAt is not the user's); its net is judged over all its entries, so it is neither missing nor an orphan; fix the producer",
  },
  unpublished_event: {
    check: CHECK_NAMES.outboxVsConsumed,
    entity: 'event',
    compensable: true,
    note: 'an outbox event older than the grace is not on its topic (never sent, or, under the polling relay, marked published but lost from the topic): sent again with its original event id',
  },
  unconsumed_event: {
    check: CHECK_NAMES.outboxVsConsumed,
    entity: 'event',
    compensable: true,
    note: 'a published event its consumer group never applied: an inbox group gets it sent again (the consumer deduplicates by event id); for an offsets group it is on the topic, so it is reported only (the group will reach it) and resolved once the group commits past it',
  },
  phantom_event: {
    check: CHECK_NAMES.outboxVsConsumed,
    entity: 'event',
    compensable: false,
    note: 'report only: a message on the topic or a consumed event with no outbox row and no committed user or ledger entry (a producer sent, then rolled back); its effect is revoked as an orphan_grant',
  },
  dead_lettered_event: {
    check: CHECK_NAMES.outboxVsConsumed,
    entity: 'dead_letter',
    compensable: false,
    note: 'report only: the event sits in a dead-letter topic (a `dead_letters` row of an inbox group, or a letter of an offsets group in `<topic>.DLT`, entity `<db>:<group>:<event id>`); fix the cause, then `recon dlq replay`',
  },
} as const satisfies Record<string, KindSpec>;

type Specs = typeof DISCREPANCY_KIND_SPECS;
export type DiscrepancyKind = keyof Specs;
/** Kinds a compensating job fixes. */
export type CompensableKind = { [K in DiscrepancyKind]: Specs[K]['compensable'] extends true ? K : never }[DiscrepancyKind];

export const ALL_DISCREPANCY_KINDS = Object.keys(DISCREPANCY_KIND_SPECS) as DiscrepancyKind[];

export function isCompensable(kind: DiscrepancyKind): kind is CompensableKind {
  return DISCREPANCY_KIND_SPECS[kind].compensable;
}

/** Kinds a compensating job can fix, in registry order; the others are reported only. */
export const COMPENSABLE_KINDS: readonly CompensableKind[] = ALL_DISCREPANCY_KINDS.filter(isCompensable);

export function isDiscrepancyKind(value: unknown): value is DiscrepancyKind {
  return typeof value === 'string' && Object.hasOwn(DISCREPANCY_KIND_SPECS, value);
}

/** The kinds a check finds. */
export function kindsOf(check: CheckName): DiscrepancyKind[] {
  return ALL_DISCREPANCY_KINDS.filter((k) => DISCREPANCY_KIND_SPECS[k].check === check);
}
