/** `dlq_replays`: the letters of foreign groups that `recon dlq replay --group` sent back (see its migration). */
import type { Knex } from 'knex';

export interface DlqReplayRow {
  dlt_topic: string;
  dlt_partition: number;
  dlt_offset: number;
  consumer_group: string;
  topic: string;
  kafka_partition: number;
  kafka_offset: number;
  event_id: string | null;
  replay_count: number;
  replayed_partition: number;
  replayed_offset: number;
  replayed_at: Date;
}

function normalise(r: DlqReplayRow): DlqReplayRow {
  return { ...r, dlt_offset: Number(r.dlt_offset), kafka_offset: Number(r.kafka_offset), replayed_offset: Number(r.replayed_offset) };
}

/** Record replays; a letter already recorded keeps its first row (returns the rows inserted). */
export async function recordDlqReplays(db: Knex | Knex.Transaction, rows: readonly Omit<DlqReplayRow, 'replayed_at'>[]): Promise<number> {
  if (rows.length === 0) return 0;
  const inserted = await db('dlq_replays')
    .insert(rows.map((r) => ({ ...r })))
    .onConflict(['dlt_topic', 'dlt_partition', 'dlt_offset'])
    .ignore()
    .returning('dlt_offset');
  return inserted.length;
}

/** The replays of the given letters (positions in `dltTopic`). */
export async function dlqReplaysOfLetters(
  db: Knex | Knex.Transaction,
  dltTopic: string,
  letters: readonly { partition: number; offset: number }[],
): Promise<DlqReplayRow[]> {
  if (letters.length === 0) return [];
  const rows = (await db('dlq_replays')
    .where('dlt_topic', dltTopic)
    .whereIn(
      ['dlt_partition', 'dlt_offset'],
      letters.map((l) => [l.partition, l.offset]),
    )) as DlqReplayRow[];
  return rows.map(normalise);
}

/** The replays whose replayed record sits at one of the given positions of `topic` (a letter of such a record died again). */
export async function dlqReplaysLandedAt(
  db: Knex | Knex.Transaction,
  topic: string,
  positions: readonly { partition: number; offset: number }[],
): Promise<DlqReplayRow[]> {
  if (positions.length === 0) return [];
  const rows = (await db('dlq_replays')
    .where('topic', topic)
    .whereIn(
      ['replayed_partition', 'replayed_offset'],
      positions.map((p) => [p.partition, p.offset]),
    )) as DlqReplayRow[];
  return rows.map(normalise);
}
