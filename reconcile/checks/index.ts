/** The checks: what a check is, the checksum bisection they share, each check, and the registry by name. */
export * from './check.js';
export * from './topic-evidence.js';
export * from './bisection.js';
export * from './users-vs-points.js';
export * from './outbox-vs-consumed.js';
export * from './registry.js';
