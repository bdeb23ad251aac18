/**
 * One prediction per run, proven by Temporal rather than by visibility: identical runs started together never
 * share a prediction, whether their worker is ours (`npm run worker`'s setup) or an embedding app's (only
 * `createActivities`, no search attributes), under 429s that create nothing and under lost answers.
 * Against a dev server and the simulator.
 */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import type { PredictionRequest, PredictionResult } from '../../src/shared/types';
import { runPipeline, runPrediction } from '../../src/workflows';
import { workflowsPath } from '../../src/worker';
import { FAST_POLLING, SECRET_TOKEN, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
});
afterAll(async () => {
  await bed?.teardown();
});

const creates = () => bed.sim.requests.filter((r) => r.route.endsWith('predictions.create'));

/** An embedding app's worker: our workflows and `createActivities`, nothing else (README, "Use it in your app"). */
async function withEmbeddedWorker<T>(fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `embedded-${randomUUID()}`;
  const worker = await Worker.create({
    connection: bed.env.nativeConnection,
    namespace: bed.config.namespace,
    taskQueue,
    workflowsPath,
    activities: createActivities({
      token: SECRET_TOKEN,
      baseUrl: bed.sim.baseUrl,
      outputDir: path.join(tmpdir(), `ownership-${randomUUID()}`),
    }),
  });
  return worker.runUntil(fn(taskQueue));
}

function twins(n: number, taskQueue: string, request: PredictionRequest) {
  return Promise.all(
    Array.from({ length: n }, () =>
      bed.env.client.workflow.start(runPrediction, {
        taskQueue,
        workflowId: `twin-${randomUUID()}`,
        workflowExecutionTimeout: '2m',
        args: [request],
      }),
    ),
  );
}

describe.each(['embedded', 'worker'] as const)('identical runs started together (%s worker)', (setup) => {
  const withWorker = <T>(fn: (taskQueue: string) => Promise<T>) =>
    setup === 'embedded' ? withEmbeddedWorker(fn) : bed.withWorker({}, fn);

  it('two twins, the first create answered 429 (nothing created): two predictions, one each', async () => {
    bed.sim.reset();
    await withWorker(async (taskQueue) => {
      bed.sim.setFaults({ rateLimitNext: 1, rateLimitRoutes: 'create', rateLimitStyle: 'header' });
      const request = {
        model: 'sim/echo',
        input: { twin: setup, n: 2 },
        polling: FAST_POLLING,
        searchAttributes: setup === 'worker',
      };
      const handles = await twins(2, taskQueue, request);
      const results: PredictionResult[] = await Promise.all(handles.map((h) => h.result()));
      expect(bed.sim.predictionIds()).toHaveLength(2);
      expect(new Set(results.map((r) => r.id)).size).toBe(2); // before: both followed the one prediction
      expect(results.map((r) => r.adopted)).toEqual([false, false]);
      // the 429 created nothing, so the retry never listed: nothing to adopt
      expect(bed.sim.requests.filter((r) => r.route === 'predictions.list')).toHaveLength(0);
    });
  });

  it('six twins, the first three creates answered 429: six predictions, one each', async () => {
    bed.sim.reset();
    await withWorker(async (taskQueue) => {
      bed.sim.setFaults({ rateLimitNext: 3, rateLimitRoutes: 'create', rateLimitStyle: 'header' });
      const request = {
        model: 'sim/echo',
        input: { twin: setup, n: 6 },
        polling: FAST_POLLING,
        searchAttributes: setup === 'worker',
      };
      const handles = await twins(6, taskQueue, request);
      const results: PredictionResult[] = await Promise.all(handles.map((h) => h.result()));
      expect(bed.sim.predictionIds()).toHaveLength(6);
      expect(new Set(results.map((r) => r.id))).toEqual(new Set(bed.sim.predictionIds()));
      expect(creates().filter((r) => r.status === 429)).toHaveLength(3);
    });
  });
});

describe('a fan-out of identical siblings', () => {
  it('count: 3 with the first creates answered 429: three predictions, one per sibling', async () => {
    bed.sim.reset();
    bed.sim.setFaults({ rateLimitNext: 2, rateLimitRoutes: 'create', rateLimitStyle: 'header' });
    const handle = await bed.env.client.workflow.start(runPipeline, {
      taskQueue: bed.config.taskQueue,
      workflowId: `siblings-${randomUUID()}`,
      workflowExecutionTimeout: '2m',
      args: [
        {
          spec: {
            name: 'siblings',
            steps: {
              same: { model: 'sim/echo', count: 3, input: { prompt: 'same' }, polling: FAST_POLLING },
            },
          },
          persist: false,
        },
      ],
    });
    const result = await handle.result();
    const ids = result.steps.same!.predictionIds;
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    expect(bed.sim.predictionIds()).toHaveLength(3);
  });
});

describe('lost answers: both twins made a prediction and learned neither id', () => {
  it('each adopts exactly one, and never the same one', async () => {
    bed.sim.reset();
    await withEmbeddedWorker(async (taskQueue) => {
      // every create is stored, then its connection is destroyed: the client never learns the id
      bed.sim.setFaults({ resetAfterStoreRate: 1 });
      const request = {
        model: 'sim/echo',
        input: { lost: true },
        polling: FAST_POLLING,
        searchAttributes: false,
      };
      const handles = await twins(2, taskQueue, request);
      await expect.poll(() => bed.sim.predictionIds().length, { timeout: 20_000 }).toBe(2);
      bed.sim.setFaults({});
      const results: PredictionResult[] = await Promise.all(handles.map((h) => h.result()));
      expect(results.map((r) => r.adopted)).toEqual([true, true]);
      expect(new Set(results.map((r) => r.id))).toEqual(new Set(bed.sim.predictionIds()));
      expect(bed.sim.predictionIds()).toHaveLength(2);
    });
  });
});
