/**
 * Outputs larger than Temporal's 2 MB payload limit: kept out of band (claim check) so the run succeeds, the
 * history stays small, and `run --json` prints the whole output.
 */
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileClaimStore } from '../../src/activities/claims';
import { runCli } from '../../src/cli';
import { isClaimRef } from '../../src/shared/claims';
import { startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
const HUGE = 'x'.repeat(3_000_000);

beforeAll(async () => {
  bed = await startTestbed();
  bed.sim.setModel('sim/huge', { startDelayMs: 100, durationMs: 500, output: HUGE });
});
afterAll(async () => {
  await bed?.teardown();
});

it('a 3 MB output: the run succeeds, the history carries a reference, `run --json` prints all of it', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    [
      'run',
      '--model',
      'sim/huge',
      '--input',
      '{}',
      '--json',
      '--workflow-id',
      'huge-output',
      '--timeout',
      '1m',
    ],
    {
      client: async () => bed.env.client,
      taskQueue: bed.config.taskQueue,
      out: (line) => out.push(line),
      err: (line) => err.push(line),
      claims: fileClaimStore(path.join(bed.config.outputDir, '.claims')),
    },
  );
  expect(err).toEqual([]);
  expect(code).toBe(0);
  const summary = JSON.parse(out.at(-1)!) as { status: string; output: string; predictionId: string };
  expect(summary.status).toBe('succeeded');
  expect(summary.output).toHaveLength(HUGE.length);
  expect(summary.output === HUGE).toBe(true);
  // Replicate saw one create, a few GETs and no cancel: the run noticed the end and did not time out.
  expect(bed.sim.counters(summary.predictionId).cancels).toBe(0);
  expect(bed.sim.counters(summary.predictionId).gets).toBeLessThan(15);

  // The workflow's result (and so its history) holds a small reference, not the 3 MB.
  const handle = bed.env.client.workflow.getHandle('huge-output');
  const result = await handle.result();
  expect(isClaimRef(result.output)).toBe(true);
  const historyBytes = JSON.stringify((await handle.fetchHistory()).events).length;
  expect(historyBytes).toBeLessThan(200_000);
});
