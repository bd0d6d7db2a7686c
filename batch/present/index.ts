/** How discrepancies read to people: the per-kind columns shared by the console and the report. */
export * from './columns.js';
