/**
 * The storage layer: connections and migrations, then the SQL of every
 * operation sorted by the database it runs on. Functions take the db handle
 * first and are written for batches.
 */
export * from './connections.js';
export * from './create-database.js';
export * from './migrate.js';
export * from './source-bounds.js';
export * from './diagnostics.js';
export * from './users/index.js';
export * from './points/index.js';
export * from './shared/index.js';
export * from './recon/index.js';
export * from './roles.js';
export * from './commit-times.js';
export * from './replication.js';
