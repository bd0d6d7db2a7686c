export * from './config.js';
export * from './errors.js';
export * from './ids.js';
export * from './log.js';
export * from './types.js';
export * from './wait.js';
export * from './events.js';
export * from './progress.js';
