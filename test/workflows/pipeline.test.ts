/**
 * Pipelines with fake activities on a dev server (a parent cancels its children under fail-fast, which the
 * time-skipping server can lose: ./test-server.test.ts): a step started too close to the pipeline's ceiling, and
 * a report whose outputs would pass Temporal's 2 MB payload limit.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fileClaimStore } from '../../src/activities/claims';
import type { ManifestEntry } from '../../src/activities/outputs';
import { pipelineOutcome } from '../../src/client';
import { isClaimRef, jsonBytes } from '../../src/shared/claims';
import { PipelineFailureType } from '../../src/shared/failures';
import type { PredictionSnapshot } from '../../src/shared/types';
import { runPipeline, type PipelineResult } from '../../src/workflows';
import { type FakeActivities, failureOf, job } from './fakes';
import { devServer, workflowCode } from './env';

let env: TestWorkflowEnvironment;
let workflowBundle: { code: string };

beforeAll(async () => {
  workflowBundle = await workflowCode();
});
// A fresh server per test: every run claims its job per server, and these fakes reuse job ids (p-1, p-2, ...).
beforeEach(async () => {
  env = await devServer();
});
afterEach(async () => {
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

/** A scripted Replicate and output store (with its claim checks) for pipelines; every call recorded. */
function pipelineFakes({ get, persist }: PipelineFakes = {}) {
  const inputs = new Map<string, Record<string, unknown>>();
  const calls = { creates: [] as string[], cancels: [] as string[], persisted: [] as string[], claims: 0 };
  const claims = fileClaimStore(mkdtempSync(path.join(tmpdir(), 'pipeline-claims-')));
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
    async storeClaim(value: unknown) {
      calls.claims++;
      return claims.put(value);
    },
  };
  return { activities, calls, claims };
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

describe('a report whose outputs would pass the 2 MB payload limit (count: 10, 250 KB each)', () => {
  // each output is under the 256 KiB a run keeps inline, ten of them are 2.5 MB: the pipeline's result and its
  // failure details must keep references to most of them instead
  const bigOutput = (id: string) => `${id}:${'x'.repeat(250_000)}`;
  const get = (id: string, input: Record<string, unknown>) =>
    input.prompt === 'fail'
      ? job(id, 'failed', { error: 'CUDA out of memory' })
      : job(id, 'succeeded', { output: bigOutput(id) });
  const big = { model: 'acme/big', count: 10, input: { prompt: 'x' }, polling: POLLING };
  const expected = Array.from({ length: 10 }, (_, i) => bigOutput(`p-${i + 1}`));

  it('succeeding: the result stays under 2 MB (most outputs as claim references), pipelineOutcome resolves them', async () => {
    const fakes = pipelineFakes({ get });
    const { result, summary } = await runWith(fakes.activities, async (start) => {
      const handle = await start({ name: 'big', steps: { a: big } });
      const result = await handle.result();
      return { result, summary: await pipelineOutcome(handle, { claims: fakes.claims }) };
    });
    expect(jsonBytes(result)).toBeLessThan(1_000_000);
    const outputs = result.steps.a!.outputs;
    expect(outputs).toHaveLength(10);
    // the first two fit the report's 512 KiB, the other eight are claim references, in fan-out order
    expect(outputs.map((o) => isClaimRef(o))).toEqual([false, false, ...Array<boolean>(8).fill(true)]);
    expect(fakes.calls.claims).toBe(8);
    expect(summary.status).toBe('succeeded');
    expect([...summary.steps.a!.outputs].sort()).toEqual([...expected].sort());
    expect(summary.steps.a!.outputs).toEqual(result.steps.a!.predictionIds.map(bigOutput));
  });

  it('failing: the failure details stay under 2 MB, pipelineOutcome resolves the outputs of what succeeded', async () => {
    const fakes = pipelineFakes({ get });
    const spec = {
      name: 'big-failing',
      steps: { a: big, b: { model: 'acme/fail', needs: ['a'], input: { prompt: 'fail' }, polling: POLLING } },
    };
    const { error, summary } = await runWith(fakes.activities, async (start) => {
      const handle = await start(spec);
      const error = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      return { error, summary: await pipelineOutcome(handle, { claims: fakes.claims }) };
    });
    const failure = failureOf(error);
    expect(failure.type, failure.message).toBe(PipelineFailureType.Failed);
    const report = failure.details?.[0] as PipelineResult;
    expect(jsonBytes(report)).toBeLessThan(1_000_000);
    expect(report.steps.b).toMatchObject({
      status: 'failed',
      error: 'prediction p-11 failed: CUDA out of memory',
    });
    expect(summary).toMatchObject({ status: 'failed', error: { type: PipelineFailureType.Failed } });
    expect(summary.steps.a!.outputs).toEqual(report.steps.a!.predictionIds.map(bigOutput));
    expect(summary.steps.b!.status).toBe('failed');
  });
});
