/**
 * The chaos suite at CI size: 20 runs, 2 worker processes, seed 1; and again with lean answers (no
 * `deadline` or `webhook` in list and get answers) at 12 runs, to keep `npm test`'s wall time in check (the full
 * size runs with `npm run chaos -- --lean list-and-get`). It must pass (exit 0) and must actually have injected
 * chaos (a worker kill, a server restart, API faults), so it cannot pass vacuously.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/dev/binaries';
import type { Summary } from '../scripts/chaos/check';
import { sharedWorkflowBundlePath } from './helpers/shared-bundle';

const TIMEOUT_MS = 8 * 60_000;

async function chaos(size: number, extra: string[]): Promise<{ output: string; summary: Summary }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'scripts/chaos.ts',
      '--size',
      String(size),
      '--workers',
      '2',
      '--max-minutes',
      '6',
      '--seed',
      '1',
      ...extra,
    ],
    {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      // the run's one bundle for its workers (the script would build its own: seconds of CPU)
      env: { ...process.env, WORKFLOW_BUNDLE: sharedWorkflowBundlePath() ?? '' },
    },
  );
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  // If vitest gives up first, SIGINT lets the suite clean up its workers and dev server.
  const guard = setTimeout(() => child.kill('SIGINT'), TIMEOUT_MS - 20_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(guard);

  expect(code, output).toBe(0);
  expect(output).toContain('=== chaos summary: PASS ===');
  expect(output).toMatch(new RegExp(`runs: started ${size}, closed ${size}, expected ${size}`));

  const file = /^results: (\S+chaos-results\.json)/m.exec(output)?.[1];
  expect(file, output).toBeDefined();
  const summary = JSON.parse(readFileSync(file!, 'utf8')) as Summary;
  expect(summary.ok).toBe(true);
  expect(summary.runs).toMatchObject({ expected: size, started: size, closed: size });
  expect(summary.invariants.map((i) => [i.id, i.ok])).toEqual([1, 2, 3, 4, 5].map((id) => [id, true]));
  // Not vacuous: chaos really happened.
  expect(summary.faults.workerKills, output).toBeGreaterThanOrEqual(1);
  expect(summary.faults.serverRestarts, output).toBeGreaterThanOrEqual(1);
  expect(summary.faults.faultWindowsTotal, output).toBeGreaterThanOrEqual(1);
  const answeredFaults =
    summary.faults.answered5xx +
    summary.faults.answered429 +
    summary.faults.createResetsBeforeStore +
    summary.faults.createResetsAfterStore;
  expect(answeredFaults, output).toBeGreaterThan(0);
  // Nothing left running at the simulator, no duplicate left uncanceled (invariants 2 and 3, stated once more).
  expect(summary.predictions.duplicatesUncanceled, output).toBe(0);
  return { output, summary };
}

it(
  'chaos at --size 20: every run closes right, no unowned duplicate, nothing left running, nothing lost',
  async () => {
    await chaos(20, []);
  },
  TIMEOUT_MS,
);

it(
  'chaos at --size 12 with lean answers (no deadline or webhook in list and get) and lost create answers: every lost create adopted, 0 duplicates',
  async () => {
    // A quarter of the creates lose their answer after the prediction was stored: the retries must adopt them
    // from listings and GETs that echo neither deadline nor webhook.
    const { output, summary } = await chaos(12, ['--lean', 'list-and-get', '--resets-after-store', '0.25']);
    expect(output).toMatch(
      /^\[chaos\] seed 1, size 12, .*lean answers: list-and-get, resets after store 0.25$/m,
    );
    expect(summary.faults.createResetsAfterStore, output).toBeGreaterThanOrEqual(1);
    expect(summary.predictions.runsWithResetAfterStoreAdopted, output).toBe(
      summary.predictions.runsWithResetAfterStore,
    );
  },
  TIMEOUT_MS,
);
