/** `recon doctor`: independent checks of the databases, Kafka and Redis an estate runs recon on, each with its finding and fix. */
export * from './types.js';
export * from './context.js';
export * from './run.js';
export * from './clock.js';
export * from './postgres.js';
export * from './kafka.js';
export * from './redis.js';
export * from './replication.js';
export * from './checks.js';
