import type { Knex } from 'knex';

/** One delivered (or written) report of a run. */
export interface ReportRow {
  id: string;
  run_id: string;
  created_at: Date;
  html_path: string | null;
  eml_path: string | null;
  emailed_to: string[];
  message_id: string | null;
  subject: string;
}

export type ReportInsert = Omit<ReportRow, 'created_at'>;

export async function insertReport(db: Knex, row: ReportInsert): Promise<void> {
  await db('reports').insert(row);
}

/** Reports of a run, newest first. */
export async function listReports(db: Knex, runId: string): Promise<ReportRow[]> {
  return (await db('reports').where({ run_id: runId }).orderBy('created_at', 'desc')) as ReportRow[];
}
