import type { Knex } from 'knex';

/** Per check: insert time from which the next run looks for rows written late behind the watermark. */
export async function up(db: Knex): Promise<void> {
  await db.raw('alter table watermarks add column late_scan_from timestamptz null');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('alter table watermarks drop column late_scan_from');
}
