/**
 * The `model` label of the run metrics is bounded: a client chooses the model string, so 300 made-up models must
 * not make 300 series. A model keeps its name when the operator named it (METRICS_MODELS) or once one of its runs
 * succeeded on this worker; every other run is counted under `other`. A real `npm run worker` with METRICS_PORT.
 */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { freePort } from '../../src/dev/dev-server';
import type { PredictionRequest } from '../../src/shared/types';
import { runPrediction } from '../../src/workflows';
import {
  FAST_POLLING,
  spawnWorker,
  startTestbed,
  type Testbed,
  type WorkerProcess,
} from '../helpers/testbed';

let bed: Testbed;
let worker: WorkerProcess;
let metricsPort: number;
const taskQueue = `labels-${randomUUID()}`;

beforeAll(async () => {
  bed = await startTestbed();
  bed.sim.setModel('sim/flip', { startDelayMs: 20, durationMs: 50, output: 'ok' });
  bed.sim.setModel('sim/named-fails', { startDelayMs: 20, durationMs: 50, outcome: 'failed', error: 'boom' });
  metricsPort = await freePort();
  worker = spawnWorker(bed, taskQueue, {
    METRICS_PORT: String(metricsPort),
    METRICS_HOST: '127.0.0.1',
    METRICS_MODELS: 'sim/named-fails',
    RECONCILE_EVERY: 'off',
    REPLICATE_READ_RPM: 'off',
    OUTPUT_DIR: path.join(tmpdir(), `labels-${randomUUID()}`),
    SHUTDOWN_GRACE_SECONDS: '2',
  });
  await vi.waitFor(
    () => {
      if (worker.child.exitCode !== null) throw new Error(`worker exited: ${worker.output()}`);
      if (!worker.output().includes('worker polling task queue')) throw new Error('not polling yet');
    },
    { timeout: 90_000, interval: 200 },
  );
});

afterAll(async () => {
  if (worker && worker.child.exitCode === null) {
    worker.child.kill('SIGTERM');
    await worker.closed;
  }
  await bed?.teardown();
});

const run = (request: PredictionRequest) =>
  bed.env.client.workflow
    .execute(runPrediction, {
      taskQueue,
      workflowId: `labels-${randomUUID()}`,
      workflowExecutionTimeout: '1m',
      args: [{ ...request, polling: FAST_POLLING }],
    })
    .then(
      () => 'succeeded',
      () => 'failed',
    );

/** `replicate_predictions_total` by model label: value summed over the other labels. */
async function runsByModel(): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const byModel: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^replicate_predictions_total\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const model = /(?:^|,)model="((?:[^"\\]|\\.)*)"/.exec(m[1]!)?.[1] ?? '';
    byModel[model] = (byModel[model] ?? 0) + Number(m[2]);
  }
  return byModel;
}

it('30 made-up models are counted as `other`; named and succeeded models keep their names', async () => {
  const made = Array.from({ length: 30 }, (_, i) => `attacker/model-${i}-${randomUUID().slice(0, 8)}`);
  const outcomes = await Promise.all([
    ...made.map((model) => run({ model, input: {} })), // unknown at Replicate: 404, failed
    run({ model: 'sim/named-fails', input: {} }), // named by the operator: keeps its name though it fails
    run({ model: 'sim/flip', input: { n: 1 } }), // succeeds: keeps its name from now on
  ]);
  expect(outcomes.filter((o) => o === 'succeeded')).toHaveLength(1);
  await expect.poll(runsByModel, { timeout: 10_000 }).toEqual({
    other: 30,
    'sim/named-fails': 1,
    'sim/flip': 1,
  });
  // a later failure of a model that has succeeded here keeps its name
  bed.sim.setModel('sim/flip', { startDelayMs: 20, durationMs: 50, outcome: 'failed', error: 'boom' });
  expect(await run({ model: 'sim/flip', input: { n: 2 } })).toBe('failed');
  await expect.poll(runsByModel, { timeout: 10_000 }).toEqual({
    other: 30,
    'sim/named-fails': 1,
    'sim/flip': 2,
  });
});
