import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration files each start their own Temporal server; two cores fit two at a time.
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
  },
});
