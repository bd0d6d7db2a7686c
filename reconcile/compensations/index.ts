/** The compensation handlers (grants, revocations, republish), their shared types and ledger writes, and the handler registry. */
export * from './types.js';
export * from './grants.js';
export * from './ledger-writes.js';
export * from './revocations.js';
export * from './republish.js';
export * from './registry.js';
