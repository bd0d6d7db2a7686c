/** Local services for development and tests: the Kafka broker and the Kafka Connect worker recon can start without Docker. */
export * from './local-kafka.js';
export * from './local-connect.js';
export * from './local-cluster.js';
