/** Local services for development and tests: the Kafka broker recon can start without Docker. */
export * from './local-kafka.js';
export * from './local-cluster.js';
