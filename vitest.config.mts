import { defineConfig } from 'vitest/config';
import SlowestFirst from './test/sequencer.mjs';

/** Pure modules and the simulator: no server, no Worker; they share their processes (below). */
const UNIT = ['test/unit/**/*.test.ts', 'test/simulator/**/*.test.ts'];

export default defineConfig({
  test: {
    // Integration files each start their own Temporal server and mostly wait on real time (jobs, timers, rate
    // limits): with two files at a time the suite kept 0.7 of the two cores busy; five at a time made timing tests flaky
    // (two of four fresh-clone runs failed on load), so four.
    maxWorkers: 4,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The output is the failures and a summary: logs and console output show only for failed tests, one dot per
    // test (`npx vitest run --reporter=verbose` lists every test).
    silent: 'passed-only',
    reporters: ['dot'],
    // the slowest files first, also on a fresh checkout without vitest's cache
    sequence: { sequencer: SlowestFirst },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: UNIT,
          // A fresh process per file cost about a second each (loading the SDK in test/setup.ts): 40 s → 17 s for
          // these 61 files, which leave no state behind.
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: UNIT,
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
    setupFiles: ['test/setup.ts'],
  },
});
