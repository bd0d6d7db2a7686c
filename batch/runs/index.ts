/** Runs: windows and the safe upper bound, the orchestration of one run, the run queue and the cron scheduler. */
export * from './types.js';
export * from './windows.js';
export * from './execute.js';
export * from './queue.js';
export * from './scheduler.js';
export * from './guard.js';
export * from './prefix.js';
export * from './window-jobs.js';
export * from './distribute.js';
export { WORKER_IDENTITY } from './context.js';
