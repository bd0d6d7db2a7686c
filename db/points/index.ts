/** The points database: the append-only ledger and the points side of the checks. */
export * from './ledger.js';
export * from './window-queries.js';
