/**
 * Subscriptions as configuration (`RECON_SUBSCRIPTIONS`): which consumer
 * group reads which topic, and what evidence says it consumed an event.
 *
 * - `inbox`: the group writes a `consumed_events` row in its effect's
 *   transaction (recon's own groups). Recon compares those rows with the
 *   outbox, and so also sees an offset committed without its effect.
 * - `offsets`: the group keeps nothing recon can read (another team's
 *   service, Kafka's console consumer, a Spring listener): an event at
 *   partition p, offset o is consumed when the group's committed offset on p
 *   is above o.
 *
 * Names are base names; the namespace prefix is applied where they are used.
 */
import { TOPICS, type SourceDatabase, type TopicName } from './types.js';

export const RELAYS = ['polling', 'debezium'] as const;
/** How the outbox is relayed: recon's polling relay (writes positions back) or Debezium (never does). */
export type Relay = (typeof RELAYS)[number];

export const EVIDENCE_KINDS = ['inbox', 'offsets'] as const;
export type Evidence = (typeof EVIDENCE_KINDS)[number];

export interface Subscription {
  /** Base topic name. */
  topic: TopicName;
  /** Base consumer-group name. */
  group: string;
  evidence: Evidence;
  /** The database whose outbox feeds the topic. */
  outboxDb: SourceDatabase;
  /** Where an `inbox` group's `consumed_events` live (the other database). */
  consumedDb: SourceDatabase;
}

/** The database whose outbox feeds each topic, and the database of its consumer's inbox. */
const TOPIC_SIDES: Record<TopicName, { outboxDb: SourceDatabase; consumedDb: SourceDatabase }> = {
  [TOPICS.userCreated]: { outboxDb: 'users', consumedDb: 'points' },
  [TOPICS.pointGranted]: { outboxDb: 'points', consumedDb: 'users' },
};

export const DEFAULT_SUBSCRIPTIONS_TEXT = 'user.created:point-service:inbox,point.granted:user-service-balances:inbox';

/** Consumer-group names: Kafka allows any string, recon keeps to what is safe in names, logs and SQL literals. */
const GROUP_NAME = /^[A-Za-z0-9._-]{1,200}$/;

/**
 * Parse `topic:group:evidence[,...]`. Returns the subscriptions, or a
 * one-line reason naming the first bad entry.
 */
export function parseSubscriptions(text: string): Subscription[] | string {
  const entries = text.split(',').map((e) => e.trim());
  if (entries.every((e) => e === '')) return 'must list at least one topic:group:evidence entry';
  const out: Subscription[] = [];
  const groups = new Set<string>();
  for (const entry of entries) {
    if (entry === '') return 'has an empty entry (two commas in a row, or a trailing comma)';
    const parts = entry.split(':');
    if (parts.length !== 3) return `entry "${entry}" must be topic:group:evidence`;
    const [topic, group, evidence] = parts.map((x) => x.trim()) as [string, string, string];
    if (!Object.hasOwn(TOPIC_SIDES, topic)) return `entry "${entry}": unknown topic "${topic}" (known: ${Object.keys(TOPIC_SIDES).join(', ')})`;
    if (!GROUP_NAME.test(group)) return `entry "${entry}": group "${group}" must be 1-200 characters of letters, digits, ., _ or -`;
    if (!(EVIDENCE_KINDS as readonly string[]).includes(evidence)) return `entry "${entry}": evidence "${evidence}" must be inbox or offsets`;
    if (groups.has(group)) return `entry "${entry}": group "${group}" is listed twice`;
    groups.add(group);
    out.push({ topic: topic as TopicName, group, evidence: evidence as Evidence, ...TOPIC_SIDES[topic as TopicName] });
  }
  return out;
}

/** The inverse of {@link parseSubscriptions}. */
export function formatSubscriptions(subs: readonly Subscription[]): string {
  return subs.map((s) => `${s.topic}:${s.group}:${s.evidence}`).join(',');
}

export const DEFAULT_SUBSCRIPTIONS: readonly Subscription[] = parseSubscriptions(DEFAULT_SUBSCRIPTIONS_TEXT) as Subscription[];

/** The subscriptions with `inbox` evidence (their groups write `consumed_events`). */
export function inboxSubscriptions(subs: readonly Subscription[]): Subscription[] {
  return subs.filter((s) => s.evidence === 'inbox');
}
