/**
 * Dead letters of foreign consumer groups (a Spring service beside recon's
 * consumers): such a group writes nothing recon reads but its `<topic>.DLT`,
 * so `recon dlq list` and `recon dlq replay --group` read its letters from
 * the dead-letter topics, bounded by the broker's time index (from `since`
 * to now, never the whole topic), and record what was replayed in the recon
 * database's `dlq_replays`.
 *
 * A replayed record carries `x-recon-replayed-from: <dlt>:<partition>:<offset>`
 * and `x-recon-replay-count`; Spring's recoverer copies a failed record's
 * headers onto its letter, so a letter that died again after a replay says
 * so (and `dlq_replays` knows the replayed record's position too). Such a
 * letter is not replayed again without `force`.
 */
import type { Knex } from 'knex';
import { CONSUMER_GROUPS, TOPICS, namespaced, silentLogger, type Config, type Logger } from '../core/index.js';
import { dlqReplaysLandedAt, dlqReplaysOfLetters, recordDlqReplays, type DlqReplayRow } from '../db/index.js';
import { CONNECT_DLT_HEADERS } from './dlt-headers.js';
import { REPLAYED_AT_HEADER, isDeadLetterHeader } from './dead-letter.js';
import type { IHeaders, KafkaClient, Producer, ReadMessage } from './kafka.js';
import { sendLocated } from './publish.js';
import { createTopicEvidence, type TopicDeadLetter } from './topic-evidence.js';

export const REPLAYED_FROM_HEADER = 'x-recon-replayed-from';
export const REPLAY_COUNT_HEADER = 'x-recon-replay-count';
/** How far back `dlq list` / `dlq replay --group` read the DLT topics without `--since`. */
export const DEFAULT_FOREIGN_DLQ_AGE_MS = 7 * 86_400_000;

/** recon's own consumer groups (full names): their letters are in the databases. */
export function ownGroups(config: Pick<Config, 'namespace'>): string[] {
  return Object.values(CONSUMER_GROUPS).map((g) => namespaced(config, g));
}

export interface ForeignLetter extends TopicDeadLetter {
  dltTopic: string;
  /** How many replays the letter's record had already been through (its `x-recon-replay-count`, or what `dlq_replays` knows). */
  priorReplays: number;
  /** The record's `x-recon-replayed-from` (the letter it was replayed from) when it died again after a replay. */
  replayedFrom: string | undefined;
  /** This letter's own replay, when it was replayed. */
  replay: DlqReplayRow | undefined;
  message: ReadMessage;
}

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  if (one === undefined || one === null) return undefined;
  return Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
}

/** The letters in `<topic>.DLT` for every recon topic (or `topics`, full names), from `since` to now, of groups that are not recon's own (or of `group`). */
export async function readForeignLetters(
  { config, kafka, recon }: { config: Config; kafka: KafkaClient; recon: Knex },
  { since, group, topics }: { since: Date; group?: string; topics?: readonly string[] },
): Promise<ForeignLetter[]> {
  const own = new Set(ownGroups(config));
  const reader = await createTopicEvidence(kafka);
  const out: ForeignLetter[] = [];
  try {
    for (const topic of topics ?? Object.values(TOPICS).map((t) => namespaced(config, t))) {
      const dltTopic = `${topic}.DLT`;
      const read = await reader.readDeadLetterMessages(dltTopic, since, new Date(Date.now() + 60_000));
      const mine = read.filter(({ letter }) => letter.group !== undefined && !own.has(letter.group) && (group === undefined || letter.group === group));
      const [replays, landed] = await Promise.all([
        dlqReplaysOfLetters(
          recon,
          dltTopic,
          mine.map(({ letter }) => ({ partition: letter.dltPartition, offset: letter.dltOffset })),
        ),
        dlqReplaysLandedAt(
          recon,
          topic,
          mine.map(({ letter }) => ({ partition: letter.partition, offset: letter.offset })),
        ),
      ]);
      const replayOf = new Map(replays.map((r) => [`${r.dlt_partition}:${r.dlt_offset}`, r]));
      const landedAt = new Map(landed.map((r) => [`${r.replayed_partition}:${r.replayed_offset}`, r]));
      for (const { letter, message } of mine) {
        const counted = Number(headerText(message.headers, REPLAY_COUNT_HEADER) ?? 0);
        const known = landedAt.get(`${letter.partition}:${letter.offset}`)?.replay_count ?? 0;
        out.push({
          ...letter,
          dltTopic,
          replayedFrom: headerText(message.headers, REPLAYED_FROM_HEADER),
          priorReplays: Math.max(Number.isSafeInteger(counted) ? counted : 0, known),
          replay: replayOf.get(`${letter.dltPartition}:${letter.dltOffset}`),
          message,
        });
      }
    }
  } finally {
    await reader.close();
  }
  return out.sort((a, b) => a.timestamp - b.timestamp);
}

export interface GroupReplayResult {
  replayed: number;
  /** Replayed by an earlier `dlq replay`. */
  alreadyReplayed: number;
  /** Letters of records that had been replayed before and died again: left alone without `force`. */
  refused: ForeignLetter[];
}

/** What a replayed record carries: the letter's headers minus every dead-letter header, plus the replay's own. */
export function replayHeaders(letter: ForeignLetter, count: number): IHeaders {
  const headers: IHeaders = {};
  const connect = new Set<string>(Object.values(CONNECT_DLT_HEADERS));
  for (const [name, value] of Object.entries(letter.message.headers ?? {})) {
    if (value === undefined || isDeadLetterHeader(name) || connect.has(name) || name.startsWith('__connect.errors.')) continue;
    if (name === REPLAYED_FROM_HEADER || name === REPLAY_COUNT_HEADER || name === REPLAYED_AT_HEADER) continue;
    headers[name] = value;
  }
  headers[REPLAYED_FROM_HEADER] = `${letter.dltTopic}:${letter.dltPartition}:${letter.dltOffset}`;
  headers[REPLAY_COUNT_HEADER] = String(count);
  return headers;
}

/**
 * `recon dlq replay --group`: send the group's letters (from `since`) back to
 * their original topic and partition, once each (recorded in `dlq_replays`
 * before returning), never a letter whose record was replayed before unless
 * `force`.
 */
export async function replayGroupLetters(
  deps: { config: Config; kafka: KafkaClient; producer: Producer; recon: Knex },
  { group, since, topics, force = false, log = silentLogger }: { group: string; since: Date; topics?: readonly string[]; force?: boolean; log?: Logger },
): Promise<GroupReplayResult> {
  const letters = await readForeignLetters(deps, { since, group, ...(topics ? { topics } : {}) });
  const result: GroupReplayResult = { replayed: 0, alreadyReplayed: 0, refused: [] };
  const toSend: ForeignLetter[] = [];
  for (const l of letters) {
    if (l.replay) result.alreadyReplayed += 1;
    else if (l.priorReplays > 0 && !force) result.refused.push(l);
    else toSend.push(l);
  }
  if (toSend.length) {
    const landed = await sendLocated(
      deps.producer,
      toSend.map((l) => ({
        topic: l.topic,
        message: { key: l.message.key, value: l.message.value, partition: l.partition, headers: replayHeaders(l, l.priorReplays + 1) },
      })),
    );
    await recordDlqReplays(
      deps.recon,
      toSend.map((l, i) => ({
        dlt_topic: l.dltTopic,
        dlt_partition: l.dltPartition,
        dlt_offset: l.dltOffset,
        consumer_group: group,
        topic: l.topic,
        kafka_partition: l.partition,
        kafka_offset: l.offset,
        event_id: l.eventId ?? null,
        replay_count: l.priorReplays + 1,
        replayed_partition: landed[i]!.partition,
        replayed_offset: landed[i]!.offset,
      })),
    );
    result.replayed = toSend.length;
  }
  log.info(
    { group, replayed: result.replayed, alreadyReplayed: result.alreadyReplayed, refused: result.refused.length },
    'dlq replay of a foreign group finished',
  );
  return result;
}
