/** Compensations: the BullMQ queue of compensating jobs, its worker, the sweeper, waiting for them, and operator retries. */
export * from './queue.js';
export * from './worker.js';
export * from './sweeper.js';
export * from './retry.js';
