/** The CDC relay: Kafka Connect's REST API, its topics, and the Debezium outbox connectors. */
export * from './connect-rest.js';
export * from './connect-topics.js';
export * from './debezium.js';
