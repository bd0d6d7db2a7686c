/**
 * The batch layer: runs over windows and their queue and schedule, the
 * compensation queue and its worker, the report, and the HTTP server.
 */
export * from './bullmq.js';
export * from './runs/index.js';
export * from './compensation/index.js';
export * from './report/index.js';
export * from './http/index.js';
