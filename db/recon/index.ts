/** The recon database: runs and their windows, check locks, watermarks, discrepancies and their claims, reports. */
export * from './runs.js';
export * from './check-locks.js';
export * from './watermarks.js';
export * from './discrepancies.js';
export * from './compensation-claims.js';
export * from './reports.js';
export type { Page } from './pages.js';
export { decodeCursor } from './pages.js';
export * from './decisions.js';
export * from './dlq-replays.js';
export * from './prune.js';
export * from './run-windows.js';
