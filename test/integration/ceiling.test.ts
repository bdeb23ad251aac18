/**
 * The default 10-minute ceiling with the default poll intervals, on Temporal's time-skipping test server:
 * ten minutes of workflow time in seconds of real time.
 */
import { randomUUID } from 'node:crypto';
import { sharedWorkflowBundle } from '../helpers/shared-bundle';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { ensureBinary, TEMPORAL_TEST_SERVER } from '../../src/dev/binaries';
import { DEFAULT_POLLING, pollSchedule } from '../../src/shared/polling';
import { PredictionFailureType } from '../../src/shared/failures';
import type { PredictionFailureDetails } from '../../src/shared/types';
import { ReplicateSimulator } from '../../simulator';
import { runPrediction } from '../../src/workflows';
import { SECRET_TOKEN, failureOf } from '../helpers/testbed';

let env: TestWorkflowEnvironment;
const sim = new ReplicateSimulator({ token: SECRET_TOKEN });

beforeAll(async () => {
  await sim.start();
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: ensureBinary(TEMPORAL_TEST_SERVER) } },
  });
});
afterAll(async () => {
  await env?.teardown();
  await sim.stop();
});

it('a prediction that never finishes is canceled at the default deadline (10 min - 15 s), polled on the default schedule', async () => {
  const taskQueue = `ceiling-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await sharedWorkflowBundle(),
    activities: createActivities({ token: SECRET_TOKEN, baseUrl: sim.baseUrl }),
  });
  const realStart = Date.now();
  const { failure, startTime, closeTime } = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(runPrediction, {
      taskQueue,
      workflowId: `ceiling-${randomUUID()}`,
      workflowExecutionTimeout: '10m',
      // the Java test server cannot register search attributes
      args: [{ model: 'sim/never', input: { prompt: 'forever' }, searchAttributes: false }],
    });
    const outcome = await failureOf(handle);
    const description = await handle.describe();
    return { ...outcome, startTime: description.startTime, closeTime: description.closeTime! };
  });

  expect(failure.type).toBe(PredictionFailureType.TimedOut);
  const { predictionId } = failure.details?.[0] as PredictionFailureDetails;
  expect(sim.counters(predictionId!).cancels).toBe(1);
  expect(sim.prediction(predictionId!)!.status).toBe('canceled');

  // Workflow time: closed at the deadline, 15 s before the 10-minute ceiling.
  const workflowMs = closeTime.getTime() - startTime.getTime();
  expect(workflowMs).toBeGreaterThanOrEqual(585_000);
  expect(workflowMs).toBeLessThan(600_000);
  // One GET per wait of the default schedule (3 s, x1.5, capped at 30 s) that fits before the deadline.
  expect(sim.counters(predictionId!).gets).toBe(pollSchedule(585_000, DEFAULT_POLLING).length);
  // Replicate was told to stop the job by itself at the ceiling, in case every worker died.
  const create = sim.requests.find((r) => r.predictionId === predictionId && r.route.endsWith('create'))!;
  expect(create.headers['cancel-after']).toMatch(/^(59\d|600)s$/);
  // ...all in a few seconds of real time.
  expect(Date.now() - realStart).toBeLessThan(30_000);
});
