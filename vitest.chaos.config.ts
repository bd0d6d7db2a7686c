import { defineConfig } from 'vitest/config';

/** `npm run test:chaos`: the convergence suite under process kills, a broker restart and a Redis flush. */
export default defineConfig({
  test: {
    name: 'chaos',
    include: ['test/chaos/**/*.chaos.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 900_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    env: { KAFKAJS_NO_PARTITIONER_WARNING: '1', LOG_LEVEL: 'warn' },
  },
});
