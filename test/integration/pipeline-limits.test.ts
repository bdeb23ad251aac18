/**
 * Pipelines that Temporal itself would refuse, on a dev server with its real limits: more than 2,000 pending
 * children in one workflow (`PendingChildWorkflowsLimitExceeded`: the workflow task fails forever), and more than
 * Temporal's 4 MB gRPC message in one workflow task (`GrpcMessageTooLarge`: the server terminates the pipeline).
 * The first must be refused at once, typed; the second must run, its children started in smaller tasks.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPipeline } from '../../src/client';
import { PipelineFailureType } from '../../src/shared/failures';
import { PipelineSpecError, validatePipelineSpec, type PipelineSpec } from '../../src/shared/pipeline';
import { runPipeline } from '../../src/workflows';
import { startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
  bed.sim.setModel('sim/quick', { startDelayMs: 50, durationMs: 200, output: 'ok' });
});
afterAll(async () => {
  await bed?.teardown();
});

function wide(name: string, steps: number, input: Record<string, unknown> = { prompt: 'p' }) {
  return {
    name,
    steps: Object.fromEntries(
      Array.from({ length: steps }, (_, i) => [`s${i}`, { model: 'sim/quick', input }]),
    ),
  };
}

function startRaw(spec: unknown) {
  return bed.client.workflow.start(runPipeline, {
    taskQueue: bed.config.taskQueue,
    workflowId: `pipeline-limits-${randomUUID()}`,
    args: [{ spec, persist: false, searchAttributes: false }],
    workflowExecutionTimeout: '3m',
  });
}

/** The pipeline's end within `ms`: its result, its failure, or 'still running'. */
async function endWithin(handle: { result(): Promise<unknown> }, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), ms);
  });
  try {
    return await Promise.race([
      handle.result().then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A history in pages of a few events: a page of several children's inputs is over gRPC's 4 MB. */
async function smallPages(workflowId: string): Promise<temporal.api.history.v1.IHistoryEvent[]> {
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await bed.client.workflowService.getWorkflowExecutionHistory({
      namespace: bed.config.namespace,
      execution: { workflowId },
      maximumPageSize: 2,
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return events;
}

describe('pipelines at the limits Temporal sets', () => {
  it('2,100 independent steps: refused by validation, startPipeline and the workflow, at once and typed', async () => {
    const spec = wide('too-wide', 2_100);
    const t0 = Date.now();
    const checked = validatePipelineSpec(spec);
    const validationMs = Date.now() - t0;
    expect('errors' in checked && checked.errors.map((e) => e.path)).toEqual(['steps']);
    expect(validationMs).toBeLessThan(2_000);
    await expect(
      startPipeline(bed.client, { spec: spec as PipelineSpec }, { taskQueue: bed.config.taskQueue }),
    ).rejects.toThrow(PipelineSpecError);

    // started anyway (another client): the workflow fails at once, typed, having started nothing
    const started = Date.now();
    const handle = await startRaw(spec);
    const end = await endWithin(handle, 20_000);
    const answeredMs = Date.now() - started;
    expect(end).not.toBe('still running');
    const error = (end as { error: unknown }).error;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const failure = (error as WorkflowFailedError).cause as ApplicationFailure;
    expect(failure.type).toBe(PipelineFailureType.InvalidSpec);
    expect(failure.message).toContain('2100 predictions');
    const history = JSON.stringify((await handle.fetchHistory()).events);
    expect(history).not.toContain('startChildWorkflowExecutionInitiatedEventAttributes');
    console.info(
      `2,100 steps: validation ${validationMs} ms, typed failure ${answeredMs} ms after the start`,
    );
    expect(answeredMs).toBeLessThan(10_000);
  });

  it('six independent steps taking the same 0.88 MB input (5.3 MB together): started in workflow tasks under 3 MB, all succeed', async () => {
    // a 0.88 MB spec: each step takes the same input (templates expand it in the workflow)
    const big = 'x'.repeat(880_000);
    const spec = { ...wide('heavy', 6, { prompt: 'p', blob: '{{ inputs.blob }}' }), inputs: { blob: big } };
    const handle = await startRaw(spec);
    const end = await endWithin(handle, 120_000);
    expect(end).toHaveProperty('result');
    expect(bed.sim.predictionIds().filter((id) => bed.sim.prediction(id)!.input?.blob === big)).toHaveLength(
      6,
    );
    // the children's starts, grouped by the workflow task that sent them: each group under 3 MB of input
    const events = await smallPages(handle.workflowId);
    const tasks = new Map<string, number>();
    for (const e of events) {
      const start = e.startChildWorkflowExecutionInitiatedEventAttributes;
      if (!start) continue;
      const bytes = (start.input?.payloads ?? []).reduce((n, p) => n + (p.data?.length ?? 0), 0);
      const task = String(start.workflowTaskCompletedEventId);
      tasks.set(task, (tasks.get(task) ?? 0) + bytes);
    }
    console.info(
      `six 0.88 MB steps: started in ${tasks.size} workflow tasks of ${[...tasks.values()].join(', ')} bytes`,
    );
    expect(tasks.size).toBeGreaterThanOrEqual(2);
    for (const bytes of tasks.values()) expect(bytes).toBeLessThan(3_000_000);
  }, 150_000);
});
