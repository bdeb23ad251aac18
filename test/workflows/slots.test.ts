/**
 * Per-model concurrency (model-concurrency-v1) on Temporal's time-skipping test server, for what needs no limiter:
 * a model without a limit must cost its runs nothing. The limiter itself is tested on a dev server with the
 * simulator (test/integration/model-concurrency.test.ts): the time-skipping server loses track of its time locks
 * around signal-with-start and external signals ("Unbalanced lock and unlock calls") and then stops skipping.
 */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlotActivities, slotNeededFor } from '../../src/activities/slots';
import { runPrediction } from '../../src/workflows';
import { fakeReplicate, job as fakeJob, type FakeActivities } from './fakes';
import { timeSkipping } from './env';

let env: TestWorkflowEnvironment;
let workflowBundle: { code: string };

beforeAll(async () => ({ env, workflowBundle } = await timeSkipping()));
afterAll(async () => {
  await env?.teardown();
});

describe('per-model concurrency (time-skipping)', () => {
  it('a model without a limit costs its runs no event: no patch marker, no slot activity, no signal', async () => {
    const fake = fakeReplicate({
      get: (n, id) => (n < 2 ? fakeJob(id, 'processing') : fakeJob(id, 'succeeded')),
    });
    let slotAnswers = 0;
    const activities: FakeActivities = {
      ...fake.activities,
      // as the worker's create does with REPLICATE_MODEL_CONCURRENCY="other/model=1"
      async createPrediction(args) {
        const needed = args.checkConcurrency
          ? await slotNeededFor({ 'other/model': 1 }, args.model, false)
          : null;
        if (needed) slotAnswers++;
        return needed ?? fake.activities.createPrediction(args);
      },
    };
    const taskQueue = `slots-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      activities: { ...activities, ...createSlotActivities({ client: env.client }) },
    });
    const handle = await worker.runUntil(async () => {
      const h = await env.client.workflow.start(runPrediction, {
        taskQueue,
        workflowId: `wf-${randomUUID()}`,
        workflowExecutionTimeout: '10m',
        // persist: false: these fakes have no keepOutputs, whose NotFoundError would list `requestSlot` in the history
        args: [{ model: 'acme/model', input: { prompt: 'x' }, searchAttributes: false, persist: false }],
      });
      await h.result();
      return h;
    });
    const json = JSON.stringify((await handle.fetchHistory()).events);
    expect(json).not.toContain('model-concurrency-v1');
    expect(json).not.toContain('requestSlot');
    expect(json).not.toContain('signalExternalWorkflowExecution');
    expect(slotAnswers).toBe(0);
    expect(fake.calls.creates).toBe(1);
    expect(fake.calls.createArgs[0]!.checkConcurrency).toBe(true); // asked, and the worker had no limit for it
  });
});
