/**
 * runPrediction's edge cases on Temporal's time-skipping test server with fake activities (the samples' style):
 * each test runs minutes of workflow time in about a second and asserts what the workflow asked Replicate to do.
 */
import { randomUUID } from 'node:crypto';
import { CancelledFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { PipelineFailureType, PredictionFailureType, ReplicateErrorType } from '../../src/shared/failures';
import type { PredictionFailureDetails, PredictionRequest } from '../../src/shared/types';
import { runPrediction, statusQuery, webhookSignal } from '../../src/workflows';
import { type FakeActivities, failureOf, fakeReplicate, gate, job, replicateError } from './fakes';
import { timeSkippingPerTest } from './env';

const t = timeSkippingPerTest();

/**
 * Starts runPrediction on a fresh worker with `activities`, runs `during` (with the handle, before waiting for
 * the result: time is not skipped then), and returns the result or the error it ended with.
 */
async function run(
  activities: FakeActivities,
  request: Partial<PredictionRequest> = {},
  during: (handle: WorkflowHandle<typeof runPrediction>) => Promise<void> = async () => {},
) {
  const taskQueue = `wf-${randomUUID()}`;
  const worker = await Worker.create({
    connection: t.env.nativeConnection,
    taskQueue,
    workflowBundle: t.workflowBundle,
    activities,
  });
  return worker.runUntil(async () => {
    const handle = await t.env.client.workflow.start(runPrediction, {
      taskQueue,
      workflowId: `wf-${randomUUID()}`,
      // The ceiling. The time-skipping server does not tell the workflow its execution timeout, so the workflow
      // uses its default ceiling, which is also 10 minutes.
      workflowExecutionTimeout: '10m',
      // the time-skipping server cannot register search attributes
      args: [{ model: 'acme/model', input: { prompt: 'x' }, searchAttributes: false, ...request }],
    });
    await during(handle);
    const outcome = await handle.result().then(
      (result) => ({ result, error: undefined }),
      (error: unknown) => ({ result: undefined, error }),
    );
    return { ...outcome, handle };
  });
}

describe('early ends cancel the job at Replicate', () => {
  it('the deadline cancels the job remotely and fails with PredictionTimedOut', async () => {
    const fake = fakeReplicate(); // the job never ends
    const { error, handle } = await run(fake.activities);

    const failure = failureOf(error);
    expect(failure.type).toBe(PredictionFailureType.TimedOut);
    expect(failure.details?.[0]).toMatchObject({ predictionId: 'p-1', status: 'canceled' });
    expect(fake.calls.creates).toBe(1);
    expect(fake.calls.cancels).toEqual(['p-1']);
    // Closed at our deadline, a margin (15 s) before the ceiling; Replicate was told the ceiling (Cancel-After).
    const { startTime, closeTime } = await handle.describe();
    const workflowMs = closeTime!.getTime() - startTime.getTime();
    expect(workflowMs).toBeGreaterThanOrEqual(585_000);
    expect(workflowMs).toBeLessThan(590_000);
    expect(Date.parse(fake.calls.createArgs[0]!.cancelAt) - startTime.getTime()).toBe(600_000);
  });

  it('a user cancel while the create is in flight still cancels the job it created', async () => {
    const release = gate();
    const fake = fakeReplicate({ holdCreate: release.opened });
    const { error } = await run(fake.activities, {}, async (handle) => {
      await fake.createStarted;
      await handle.cancel();
      release.open(); // the create returns after the cancel request
    });

    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(fake.calls.creates).toBe(1);
    expect(fake.calls.gets).toEqual([]);
    expect(fake.calls.cancels).toEqual(['p-1']);
  });

  it('a non-retryable error after the create cancels the job and surfaces the error type', async () => {
    const fake = fakeReplicate({
      get: () => {
        throw replicateError(ReplicateErrorType.Forbidden, 'Replicate refused to read the prediction (403)');
      },
    });
    const { error } = await run(fake.activities);

    const failure = failureOf(error);
    expect(failure.type).toBe(ReplicateErrorType.Forbidden);
    expect(fake.calls.gets).toEqual(['p-1']); // never retried
    expect(fake.calls.cancels).toEqual(['p-1']);
  });
});

describe('terminal statuses', () => {
  it.each([
    ['failed', PredictionFailureType.Failed],
    ['canceled', PredictionFailureType.Canceled],
    ['aborted', PredictionFailureType.Aborted],
  ] as const)('%s -> %s, with the details', async (status, type) => {
    const ended = job('p-1', status, {
      error: status === 'failed' ? 'CUDA out of memory' : null,
      logsTail: ['Loading pipeline...', 'Traceback (most recent call last):'],
      metrics: { predict_time: 1.5 },
    });
    const fake = fakeReplicate({ get: () => ended });
    const { error } = await run(fake.activities);

    const failure = failureOf(error);
    expect(failure.type).toBe(type);
    expect(failure.details?.[0]).toEqual({
      predictionId: 'p-1',
      status,
      error: ended.error,
      logsTail: ended.logsTail,
      metrics: ended.metrics,
    } satisfies PredictionFailureDetails);
    expect(fake.calls.cancels).toEqual([]); // nothing left to stop
  });

  it('succeeded with data_removed -> OutputUnavailable', async () => {
    const fake = fakeReplicate({ get: (_, id) => job(id, 'succeeded', { output: null, dataRemoved: true }) });
    const { error } = await run(fake.activities);

    const failure = failureOf(error);
    expect(failure.type).toBe(PipelineFailureType.OutputUnavailable);
    expect(failure.message).toMatch(/data_removed/);
    expect(fake.calls.cancels).toEqual([]);
  });

  it('the adopted flag of the create surfaces in the result', async () => {
    const adopted = fakeReplicate({
      created: job('p-lost', 'starting', { adopted: true }),
      get: (_, id) => job(id, 'succeeded'),
    });
    const plain = fakeReplicate({ get: (_, id) => job(id, 'succeeded') });

    expect((await run(adopted.activities)).result).toMatchObject({ id: 'p-lost', adopted: true, polls: 1 });
    expect((await run(plain.activities)).result).toMatchObject({ id: 'p-1', adopted: false, polls: 1 });
    expect([adopted.calls.creates, plain.calls.creates]).toEqual([1, 1]);
  });
});

describe('webhooks and long runs', () => {
  it('a webhook that arrives before the create returns is used: no GET', async () => {
    const release = gate();
    const fake = fakeReplicate({
      holdCreate: release.opened,
      created: job('p-1', 'starting', { webhook: true }),
    });
    const { result } = await run(fake.activities, {}, async (handle) => {
      await fake.createStarted;
      await handle.signal(webhookSignal, job('p-1', 'succeeded', { output: 'from the webhook' }));
      release.open();
    });

    expect(result).toMatchObject({ id: 'p-1', output: 'from the webhook', polls: 0 });
    expect(fake.calls.gets).toEqual([]);
    expect(fake.calls.cancels).toEqual([]);
  });

  it('a webhook with a status Replicate may add later ranks below the end: the completion still wins', async () => {
    const release = gate();
    const fake = fakeReplicate({
      holdCreate: release.opened,
      created: job('p-1', 'starting', { webhook: true }),
    });
    const { result } = await run(fake.activities, {}, async (handle) => {
      await fake.createStarted;
      // an unknown status (say Replicate adds "queued") arrives before the completion
      await handle.signal(webhookSignal, job('p-1', 'queued' as 'starting', { webhook: true }));
      await handle.signal(webhookSignal, job('p-1', 'succeeded', { output: 'from the webhook' }));
      release.open();
    });
    expect(result).toMatchObject({ id: 'p-1', output: 'from the webhook', polls: 0 });
    expect(fake.calls.gets).toEqual([]);
  });

  it('continue-as-new keeps the job id and never creates again', async () => {
    const fake = fakeReplicate({ get: (n, id) => job(id, n < 3 ? 'processing' : 'succeeded') });
    const { result, handle } = await run(fake.activities, { maxPollsPerRun: 1 });

    expect(result).toMatchObject({ id: 'p-1', status: 'succeeded', polls: 3 });
    expect(fake.calls.creates).toBe(1);
    expect(fake.calls.gets).toEqual(['p-1', 'p-1', 'p-1']);
    // the result came from a later run of the chain
    const latest = await t.env.client.workflow.getHandle(handle.workflowId).describe();
    expect(latest.runId).not.toBe(handle.firstExecutionRunId);
  });
});

describe('continue-as-new carries the run', () => {
  it('keeps `adopted`, a pending Retry-After and the last poll error', async () => {
    // the job was adopted (its create attempt's answer was lost); poll 1 fails with a 429, Retry-After 40 s
    const rateLimited = ApplicationFailure.create({
      type: 'ReplicateRateLimited',
      message: 'Replicate get prediction was rate limited (429)',
      details: [{ httpStatus: 429, detail: null, invalidFields: null, retryAfterMs: 40_000 }],
    });
    const fake = fakeReplicate({
      created: job('p-1', 'starting', { adopted: true }),
      // poll 1's three attempts (its retry policy) are all answered 429
      get: (n, id) => {
        if (n <= 3) throw rateLimited;
        return job(id, n >= 5 ? 'succeeded' : 'processing');
      },
    });
    let afterFirstRun: { pollError?: string | null } | undefined;
    const { result, handle } = await run(fake.activities, { maxPollsPerRun: 1 }, async (h) => {
      // once the chain has continued as new (after the failed poll 1), read what the new run shows
      const latest = t.env.client.workflow.getHandle(h.workflowId);
      const first = (await h.describe()).runId;
      await expect.poll(async () => (await latest.describe()).runId, { timeout: 20_000 }).not.toBe(first);
      afterFirstRun = await t.env.client.workflow.getHandle(h.workflowId).query(statusQuery);
    });
    expect(result).toMatchObject({ id: 'p-1', adopted: true });
    expect(afterFirstRun?.pollError).toMatch(/rate limited/);
    // the second poll waited at least the 429's Retry-After, though it ran in the next run of the chain
    const second = await t.env.client.workflow.getHandle(handle.workflowId).fetchHistory();
    const timers = second
      .events!.filter((e) => e.timerStartedEventAttributes)
      .map((e) => e.timerStartedEventAttributes!);
    expect(Number(timers[0]!.startToFireTimeout!.seconds)).toBeGreaterThanOrEqual(40);
  });
});
