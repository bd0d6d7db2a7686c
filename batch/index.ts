/**
 * The batch layer: runs over windows and their queue and schedule, the
 * compensation queue and its worker, the report, the HTTP server, and the
 * checks of `recon doctor`.
 */
export * from './bullmq.js';
export * from './runs/index.js';
export * from './compensation/index.js';
export * from './report/index.js';
export * from './http/index.js';
export * from './doctor/index.js';
export * from './alerts/index.js';
export * from './prune/index.js';
