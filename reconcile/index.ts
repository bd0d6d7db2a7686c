/**
 * The deciding layer: checks compare windows of two sources and classify what
 * differs; compensation handlers restore the invariants. Databases, producers
 * and queues are passed in.
 */
export * from './checks/index.js';
export * from './compensations/index.js';
