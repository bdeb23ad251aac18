/** Long jobs: continue-as-new keeps histories small without losing the job; trainings use the same machinery. */
import { randomUUID } from 'node:crypto';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { PredictionState } from '../../src/shared/types';
import { defaultVersionFor } from '../../simulator';
import { runTraining, statusQuery } from '../../src/workflows';
import { startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
  bed.sim.setModel('sim/long', { startDelayMs: 200, durationMs: 4_000, output: '$input' });
});
afterAll(async () => {
  await bed?.teardown();
});

const STEADY = { initialIntervalMs: 200, multiplier: 1, maxIntervalMs: 200 };

it('continues as new every few polls, keeping the prediction id, the deadline and the status query', async () => {
  const creates = bed.sim.creates();
  const handle = await bed.start({
    model: 'sim/long',
    input: { long: 1 },
    polling: STEADY,
    maxPollsPerRun: 3,
  });
  const states: PredictionState[] = [];
  await expect
    .poll(
      async () => {
        states.push(await handle.query(statusQuery));
        return states.at(-1)!.runs;
      },
      { timeout: 10_000, interval: 100 },
    )
    .toBeGreaterThanOrEqual(2);
  const result = await handle.result(); // follows the chain of runs

  expect(result).toMatchObject({ status: 'succeeded', output: { long: 1 } });
  expect(bed.sim.creates() - creates).toBe(1);
  const later = states.filter((s) => s.predictionId !== null);
  expect(new Set(later.map((s) => s.predictionId))).toEqual(new Set([result.id]));
  expect(new Set(states.map((s) => s.deadline)).size).toBe(1);
  expect(new Set(states.map((s) => s.startedAt)).size).toBe(1);

  // The first run ended by continuing as new, after at most 3 polls' worth of events.
  const first = bed.env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
  const events = (await first.fetchHistory()).events ?? [];
  const continued = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes;
  expect(continued?.newExecutionRunId).toMatch(/^[0-9a-f-]{36}$/);
  // The next run carried the job on: it continued from the first, created nothing, and its first call to
  // Replicate polled the same prediction.
  const next = bed.env.client.workflow.getHandle(handle.workflowId, continued!.newExecutionRunId!);
  const nextEvents = (await next.fetchHistory()).events ?? [];
  expect(nextEvents[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId).toBe(
    handle.firstExecutionRunId,
  );
  const activityTypes = nextEvents.flatMap((e) => {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    return name ? [name] : [];
  });
  expect(activityTypes).not.toContain('createPrediction');
  const calls = bed.sim.requests.filter((r) => r.predictionId === result.id).map((r) => r.route);
  expect(calls.filter((r) => r.endsWith('.create'))).toHaveLength(1);
  expect(calls.slice(1).every((r) => r.endsWith('.get'))).toBe(true);
  // Polls are local activities: one marker each, no activity task events.
  expect(
    events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity'),
  ).toHaveLength(3);
  expect(
    events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'getPrediction'),
  ).toHaveLength(0);
  expect(result.polls).toBeGreaterThan(3); // the dev server fires timers about once a second
  const final = await handle.query(statusQuery);
  expect(final.runs).toBe(Math.ceil(result.polls / 3));
  expect(final.polls).toBe(result.polls);
});

it('runs a training to its trained version, and cancels a training at Replicate when the run is canceled', async () => {
  const version = defaultVersionFor('sim/echo');
  const result = await bed.env.client.workflow.execute(runTraining, {
    taskQueue: bed.config.taskQueue,
    workflowId: `training-${randomUUID()}`,
    workflowExecutionTimeout: '1m',
    args: [
      { model: `sim/echo:${version}`, destination: 'acme/tuned', input: { steps: 10 }, polling: STEADY },
    ],
  });
  expect(result.status).toBe('succeeded');
  expect(result.output).toMatchObject({ version: expect.stringMatching(/^acme\/tuned:[a-f0-9]{64}$/) });
  expect(bed.sim.training(result.id)).toMatchObject({ id: result.id, status: 'succeeded' });
  expect(bed.sim.requests.filter((r) => r.predictionId === result.id).map((r) => r.route)[0]).toBe(
    'trainings.create',
  );

  const handle = await bed.env.client.workflow.start(runTraining, {
    taskQueue: bed.config.taskQueue,
    workflowId: `training-${randomUUID()}`,
    workflowExecutionTimeout: '1m',
    args: [
      {
        model: `sim/never:${defaultVersionFor('sim/never')}`,
        destination: 'acme/tuned',
        input: {},
        polling: STEADY,
      },
    ],
  });
  await expect
    .poll(async () => (await handle.query(statusQuery)).status, { timeout: 10_000 })
    .toBe('processing');
  const id = (await handle.query(statusQuery)).predictionId!;
  await handle.cancel();
  const error = await handle.result().catch((e: unknown) => e);
  expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  expect(bed.sim.training(id)!.status).toBe('canceled');
  expect(bed.sim.counters(id).cancels).toBe(1);
});

it('rejects a training without a version or a destination before calling Replicate', async () => {
  const seen = bed.sim.requests.length;
  const error = await bed.env.client.workflow
    .execute(runTraining, {
      taskQueue: bed.config.taskQueue,
      workflowId: `training-${randomUUID()}`,
      args: [{ model: 'sim/echo', destination: 'nope', input: {} }],
    })
    .catch((e: unknown) => e);
  const message = String((error as WorkflowFailedError).cause?.message);
  expect(message).toContain('must name a version to train');
  expect(message).toContain('destination: must be the owner/name');
  expect(bed.sim.requests.length).toBe(seen);
});
