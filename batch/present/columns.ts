/**
 * How a discrepancy reads to a person: the columns of each kind, from its
 * `details` (user id, expected, net, correction; event id, topic, group,
 * partition, offset, age) and its state (status, attempts, last error). One
 * definition for every place that shows discrepancies (the console's tables
 * and the run report's examples), so they never disagree. Values are plain
 * text: each renderer escapes them (HTML) or pads them (text).
 */
import { DISCREPANCY_KIND_SPECS, type DiscrepancyKind, type EntityType } from '../../core/index.js';

/** What the columns read of a discrepancy row. */
export interface PresentedDiscrepancy {
  id: string;
  kind: DiscrepancyKind;
  entity_id: string;
  status: string;
  details: Record<string, unknown>;
  detected_at: Date | string;
  attempts?: number;
  last_error?: string | null;
}

export interface Column {
  /** Stable name (a CSS class, a test hook). */
  key: string;
  /** Header text. */
  label: string;
  /** The cell's text; `now` makes ages reproducible. */
  value(d: PresentedDiscrepancy, now: Date): string;
  /** Right-aligned numbers. */
  numeric?: boolean;
  /** Names the entity: the console links it to the discrepancy's page. */
  identifies?: boolean;
}

const text = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v as string | number));
const detail = (key: string) => (d: PresentedDiscrepancy) => text(d.details[key]);

/** `45s`, `12m`, `3h`, `2d`: how long ago, for tables. */
export function formatAge(since: Date | string | null | undefined, now: Date): string {
  if (!since) return '';
  const t = (since instanceof Date ? since : new Date(since)).getTime();
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.round((now.getTime() - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** `+1000`, `-1000`: a signed correction. */
function signed(v: unknown): string {
  const n = Number(v);
  if (v === undefined || v === null || !Number.isFinite(n)) return '';
  return n > 0 ? `+${n}` : String(n);
}

const USER_COLUMNS: Column[] = [
  { key: 'user', label: 'user id', value: detail('userId'), identifies: true },
  { key: 'expected', label: 'expected', value: detail('expected'), numeric: true },
  { key: 'net', label: 'net', value: detail('net'), numeric: true },
  { key: 'correction', label: 'correction', value: (d) => signed(d.details.amount), numeric: true },
  {
    key: 'entries',
    label: 'entries',
    value: (d) => {
      const keys = d.details.ledgerKeys;
      return Array.isArray(keys) ? `${keys.length} keyed at ${keys.map(text).join(', ')}` : '';
    },
  },
];

const EVENT_COLUMNS: Column[] = [
  { key: 'event', label: 'event id', value: detail('eventId'), identifies: true },
  { key: 'topic', label: 'topic', value: detail('topic') },
  { key: 'group', label: 'group', value: detail('group') },
  { key: 'source', label: 'outbox in', value: detail('sourceDb') },
  { key: 'age', label: 'age', value: (d, now) => formatAge(text(d.details.occurredAt) || undefined, now) },
];

const DEAD_LETTER_COLUMNS: Column[] = [
  { key: 'event', label: 'event id', value: (d) => text(d.details.eventId) || `dead letter ${text(d.details.deadLetterId)}`, identifies: true },
  { key: 'topic', label: 'topic', value: detail('topic') },
  { key: 'partition', label: 'partition', value: detail('partition'), numeric: true },
  { key: 'offset', label: 'offset', value: detail('offset'), numeric: true },
  { key: 'group', label: 'group', value: detail('group') },
  { key: 'error', label: 'error class', value: detail('errorClass') },
  { key: 'age', label: 'age', value: (d, now) => formatAge(text(d.details.deadLetteredAt) || undefined, now) },
];

const BY_ENTITY: Record<EntityType, Column[]> = { user: USER_COLUMNS, event: EVENT_COLUMNS, dead_letter: DEAD_LETTER_COLUMNS };

/** What became of it: shown after the kind's own columns. */
export const STATE_COLUMNS: Column[] = [
  { key: 'status', label: 'status', value: (d) => d.status },
  { key: 'attempts', label: 'attempts', value: (d) => (d.attempts ? String(d.attempts) : ''), numeric: true },
  { key: 'last-error', label: 'last error', value: (d) => d.last_error ?? '' },
];

/**
 * The columns of a kind: its entity's columns (the `entries` column only
 * for `grant_key_mismatch`, the one kind whose entries are keyed apart),
 * then {@link STATE_COLUMNS}.
 */
export function columnsOf(kind: DiscrepancyKind): Column[] {
  const own = BY_ENTITY[DISCREPANCY_KIND_SPECS[kind].entity].filter((c) => c.key !== 'entries' || kind === 'grant_key_mismatch');
  return [...own, ...STATE_COLUMNS];
}

/** The columns shared by a table that mixes kinds: the entity's when they share one, else generic ones. */
export function columnsOfKinds(kinds: readonly DiscrepancyKind[]): Column[] {
  const unique = [...new Set(kinds)];
  if (unique.length === 1) return columnsOf(unique[0]!);
  const entities = new Set(unique.map((k) => DISCREPANCY_KIND_SPECS[k].entity));
  const base: Column[] = [{ key: 'kind', label: 'kind', value: (d) => d.kind }];
  if (entities.size === 1) {
    const [entity] = entities;
    return [...base, ...BY_ENTITY[entity!].filter((c) => c.key !== 'entries'), ...STATE_COLUMNS];
  }
  return [
    ...base,
    { key: 'entity', label: 'user / event', value: (d) => text(d.details.userId ?? d.details.eventId ?? d.entity_id), identifies: true },
    { key: 'summary', label: 'what', value: summary },
    ...STATE_COLUMNS,
  ];
}

/** One line about a discrepancy, whatever its kind (mixed tables, the text report). */
export function summary(d: PresentedDiscrepancy): string {
  const x = d.details;
  switch (DISCREPANCY_KIND_SPECS[d.kind].entity) {
    case 'user':
      return `net ${text(x.net)} of ${text(x.expected)} (correction ${signed(x.amount)})`;
    case 'event':
      return `${text(x.topic)}${x.group ? ` for ${text(x.group)}` : ''}`;
    case 'dead_letter':
      return `${text(x.topic)} [${text(x.partition)}] @${text(x.offset)} by ${text(x.group)}: ${text(x.errorClass)}`;
  }
}
