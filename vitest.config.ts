import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The JSON report lets .ci/run print a plain "N passed, N failed" line and refuse skipped tests.
    reporters: ['default', ['json', { outputFile: '.data/test-results.json' }]],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          // chDB binds one data directory per process: every file runs in its own forked worker, and
          // files run one at a time because Kafka, ClickHouse and the tests share two cores.
          pool: 'forks',
          fileParallelism: false,
          globalSetup: ['test/support/globalSetup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
