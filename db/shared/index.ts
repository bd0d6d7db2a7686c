/** The tables both source databases have: outbox, consumed events, dead letters, and their side of the checks. */
export * from './outbox.js';
export * from './consumed-events.js';
export * from './dead-letters.js';
export * from './window-queries.js';
export * from './prune.js';
