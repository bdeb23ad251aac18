import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration files each start their own Temporal server and mostly wait on real time (jobs, timers, rate
    // limits): with two files at a time the suite kept 0.7 of the two cores busy; four at a time halves its wall time.
    maxWorkers: 4,
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup.ts'],
    // The output is the failures and a summary: logs and console output show only for failed tests, one dot per
    // test (`npx vitest run --reporter=verbose` lists every test).
    silent: 'passed-only',
    reporters: ['dot'],
  },
});
