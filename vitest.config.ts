import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (pure logic, no services, `*.test.ts`) and
 * `integration` (`*.int.test.ts`, real Postgres, Redis and Kafka; each file
 * gets its own databases, topics and queues). `npm test` runs both.
 */
export default defineConfig({
  test: {
    env: { KAFKAJS_NO_PARTITIONER_WARNING: '1' },
    projects: [
      {
        test: {
          name: 'unit',
          // Unit tests first, then integration tests (projects with different worker limits need distinct groups).
          sequence: { groupOrder: 0 },
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'test/chaos/**', 'node_modules/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/**/*.int.test.ts'],
          exclude: ['test/chaos/**', 'node_modules/**'],
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // Two cores: two files at a time keeps the broker and Postgres responsive.
          maxWorkers: 2,
          env: { KAFKAJS_NO_PARTITIONER_WARNING: '1', LOG_LEVEL: 'warn' },
        },
      },
    ],
  },
});
