/**
 * The chaos suite at CI size: 20 runs, 2 worker processes, seed 1. It must pass (exit 0) and must actually have
 * injected chaos (a worker kill, a server restart, API faults), so it cannot pass vacuously.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/dev/binaries';
import type { Summary } from '../scripts/chaos/check';

const TIMEOUT_MS = 8 * 60_000;

it(
  'chaos at --size 20: every run closes right, no unowned duplicate, nothing left running, nothing lost',
  async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'scripts/chaos.ts',
        '--size',
        '20',
        '--workers',
        '2',
        '--max-minutes',
        '6',
        '--seed',
        '1',
      ],
      { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
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
    expect(output).toMatch(/runs: started 20, closed 20, expected 20/);

    const file = /^results: (\S+chaos-results\.json)/m.exec(output)?.[1];
    expect(file, output).toBeDefined();
    const summary = JSON.parse(readFileSync(file!, 'utf8')) as Summary;
    expect(summary.ok).toBe(true);
    expect(summary.runs).toMatchObject({ expected: 20, started: 20, closed: 20 });
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
  },
  TIMEOUT_MS,
);
