/**
 * Pipelines with fake activities on a dev server (a parent cancels its children under fail-fast, which the
 * time-skipping server can lose: ./test-server.test.ts): a step started too close to the pipeline's ceiling.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManifestEntry } from '../../src/activities/outputs';
import { PipelineFailureType } from '../../src/shared/failures';
import type { PredictionSnapshot } from '../../src/shared/types';
import { runPipeline, type PipelineResult } from '../../src/workflows';
import { type FakeActivities, failureOf, job } from './fakes';
import { devServer, workflowCode } from './env';

let env: TestWorkflowEnvironment;
let workflowBundle: { code: string };

beforeAll(async () => {
  [env, workflowBundle] = await Promise.all([devServer(), workflowCode()]);
});
afterAll(async () => {
  await env?.teardown();
});

/** Fast polling: the fake jobs below end at their first GET. */
const POLLING = { initialIntervalMs: 200, multiplier: 1, maxIntervalMs: 200 };

interface PipelineFakes {
  /** the GET's answer for job `id` (p-1, p-2, ... in create order) created with `input` */
  get?: (id: string, input: Record<string, unknown>) => PredictionSnapshot;
  /** the output store: persisting one prediction's output */
  persist?: (args: { step: string; index: number; predictionId: string }) => Promise<ManifestEntry[]>;
}

/** A scripted Replicate and output store for pipelines; every call recorded. */
function pipelineFakes({ get, persist }: PipelineFakes = {}) {
  const inputs = new Map<string, Record<string, unknown>>();
  const calls = { creates: [] as string[], cancels: [] as string[], persisted: [] as string[] };
  const activities: FakeActivities & Record<string, unknown> = {
    async createPrediction(args) {
      const id = `p-${inputs.size + 1}`;
      inputs.set(id, args.input as Record<string, unknown>);
      calls.creates.push(id);
      return job(id, 'starting');
    },
    async getPrediction(id) {
      return get ? get(id, inputs.get(id)!) : job(id, 'succeeded');
    },
    async cancelPrediction(id) {
      calls.cancels.push(id);
      return job(id, 'canceled');
    },
    async persistOutputs(args: { step: string; index: number; predictionId: string }) {
      calls.persisted.push(args.predictionId);
      return persist ? persist(args) : [];
    },
    async writeManifest() {
      return '/outputs/manifest.json';
    },
  };
  return { activities, calls };
}

async function runWith<T>(
  activities: object,
  body: (
    start: (spec: unknown, timeout?: string) => Promise<WorkflowHandle<typeof runPipeline>>,
  ) => Promise<T>,
): Promise<T> {
  const taskQueue = `pipeline-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle,
    activities,
  });
  return worker.runUntil(() =>
    body((spec, timeout = '10m') =>
      env.client.workflow.start(runPipeline, {
        taskQueue,
        workflowId: `pipeline-${randomUUID()}`,
        workflowExecutionTimeout: timeout,
        args: [{ spec, searchAttributes: false }],
      }),
    ),
  );
}

describe('a step started close to the pipeline ceiling', () => {
  it('fails at once with PipelineNoTimeLeft (no child with a zero or negative timeout), the pipeline reports it', async () => {
    // A 14 s pipeline: a's child ends within a second, then its output store is slow (9.5 s), leaving b under
    // nothing: the 5 s every child keeps before the pipeline's ceiling are already gone.
    const fakes = pipelineFakes({
      persist: async () => {
        await new Promise((resolve) => setTimeout(resolve, 9_500)); // the slow store, the scenario's fault
        return [];
      },
    });
    const spec = {
      name: 'tight',
      steps: {
        a: { model: 'acme/m', input: { prompt: 'x' }, polling: POLLING },
        b: { model: 'acme/m', input: { image: '{{ steps.a.output }}' }, polling: POLLING },
      },
    };
    const { error, elapsedMs } = await runWith(fakes.activities, async (start) => {
      const handle = await start(spec, '14s');
      const started = Date.now();
      const error = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      return { error, elapsedMs: Date.now() - started };
    });
    const failure = failureOf(error);
    expect(failure.type, failure.message).toBe(PipelineFailureType.Failed);
    const report = failure.details?.[0] as PipelineResult;
    expect(report.steps.a!.status).toBe('succeeded');
    expect(report.steps.b).toMatchObject({ status: 'failed', childWorkflowIds: [], predictionIds: [] });
    expect(report.steps.b!.error).toMatch(
      /^step b cannot start: the pipeline's ceiling is \d(\.\d)? s away, and a step needs at least 12 s of it \(7 s for its prediction, 5 s to spare\); give the pipeline a longer timeout \(its spec's `timeout`, or --timeout\)$/,
    );
    expect(fakes.calls.creates).toEqual(['p-1']);
    expect(elapsedMs).toBeLessThan(14_000); // reported before the ceiling, not timed out
  });
});
