/** Compensations: the BullMQ queue of compensating jobs, its worker, the sweeper, waiting for them, operator retries, the blast-radius guard and the decisions on what it holds. */
export * from './queue.js';
export * from './worker.js';
export * from './sweeper.js';
export * from './retry.js';
export * from './decisions.js';
