/**
 * runPrediction end to end: real Temporal dev server, real worker, the Replicate simulator.
 * Each test asserts on what the simulator saw and what the workflow returned.
 */
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollDelayMs } from '../../src/shared/polling';
import { PredictionFailureType, ReplicateErrorType } from '../../src/shared/failures';
import type { PredictionFailureDetails } from '../../src/shared/types';
import { statusQuery } from '../../src/workflows';
import { sdkRecord } from '../../src/worker/logging';
import { jsonLine, textLine } from '../../src/observability/log';
import { FAST_POLLING, SECRET_TOKEN, failureOf, logs, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed({ seed: 42 });
});
afterAll(async () => {
  await bed?.teardown();
});

/** The fast backoff alone (predictive polling would change the schedule once the model has a few completions). */
const BACKOFF_ONLY = { ...FAST_POLLING, predictive: false };

const createRequests = () => bed.sim.requests.filter((r) => r.route.endsWith('predictions.create'));

describe('runPrediction', () => {
  it('succeeds: one create with Cancel-After, polls with backoff, returns output and metrics', async () => {
    const handle = await bed.start({
      model: 'google/imagen-4-ultra',
      input: { prompt: 'a lighthouse at dusk' },
      polling: BACKOFF_ONLY,
    });
    const result = await handle.result();

    expect(result.status).toBe('succeeded');
    expect(result.id).toMatch(/^[a-z0-9]{26}$/);
    expect(result.output).toBe(`${bed.sim.origin}/files/${result.id}/out-0.png`);
    const file = await fetch(result.output as string);
    expect(file.headers.get('content-type')).toBe('image/png');
    expect(result.metrics.predict_time).toBeGreaterThan(1);
    // Replicate's completed_at, after its started_at
    const atReplicate = bed.sim.prediction(result.id)!;
    expect(result.completedAt).toBe(atReplicate.completed_at);
    expect(Date.parse(result.completedAt!)).toBeGreaterThan(Date.parse(result.startedAt!));
    expect(result.urls.web).toBe(`https://replicate.com/p/${result.id}`);

    const creates = createRequests().filter((r) => r.predictionId === result.id);
    expect(creates).toHaveLength(1);
    expect(creates[0]!.route).toBe('models.predictions.create');
    expect(creates[0]!.headers['prefer']).toBeUndefined();
    // 1-minute execution timeout: Cancel-After is the time left until it, a little under 60 s.
    const cancelAfter = Number(creates[0]!.headers['cancel-after']!.replace('s', ''));
    expect(cancelAfter).toBeGreaterThan(50);
    expect(cancelAfter).toBeLessThanOrEqual(60);
    expect(bed.sim.counters(result.id)).toEqual({ gets: result.polls, cancels: 0 });
    // The GETs follow the backoff schedule: each gap at least the next wait (100 ms ×1.5 capped at 500 ms).
    const gets = bed.sim.requests.filter(
      (r) => r.route === 'predictions.get' && r.predictionId === result.id,
    );
    const times = [creates[0]!.at, ...gets.map((r) => r.at)];
    times
      .slice(1)
      .forEach((t, i) => expect(t - times[i]!).toBeGreaterThanOrEqual(pollDelayMs(i, BACKOFF_ONLY) - 5));
    expect(result.polls).toBeGreaterThanOrEqual(1);
    expect(result.polls).toBeLessThanOrEqual(10);
  });

  it("failed: typed non-retryable failure carrying Replicate's error and the tail of the logs", async () => {
    const handle = await bed.start({ model: 'sim/fail', input: {}, polling: FAST_POLLING });
    const { failure } = await failureOf(handle);
    expect(failure.type).toBe(PredictionFailureType.Failed);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('CUDA out of memory');
    const details = failure.details?.[0] as PredictionFailureDetails;
    expect(details.status).toBe('failed');
    expect(details.error).toContain('CUDA out of memory');
    expect(details.logsTail.at(-1)).toMatch(/Error|Traceback/);
    expect(bed.sim.counters(details.predictionId!).cancels).toBe(0);
  });

  it('aborted and canceled at Replicate each fail with their own type', async () => {
    const aborted = await failureOf(
      await bed.start({ model: 'sim/abort', input: {}, polling: FAST_POLLING }),
    );
    expect(aborted.failure.type).toBe(PredictionFailureType.Aborted);
    expect(aborted.failure.message).toContain('not billed');
    const canceled = await failureOf(
      await bed.start({ model: 'sim/cancel', input: {}, polling: FAST_POLLING }),
    );
    expect(canceled.failure.type).toBe(PredictionFailureType.Canceled);
  });

  it('status query shows the live state; a user cancel cancels the prediction at Replicate', async () => {
    const handle = await bed.start({
      model: 'sim/never',
      input: { prompt: 'forever' },
      polling: FAST_POLLING,
    });
    const running = await bed.sim.waitFor(
      (p) => p.status === 'processing' && p.model === 'sim/never' && (p.logs ?? '') !== '',
    );
    await expect
      .poll(async () => (await handle.query(statusQuery)).status, { timeout: 10_000 })
      .toBe('processing');
    const state = await handle.query(statusQuery);
    expect(state).toMatchObject({
      model: 'sim/never',
      predictionId: running.id,
      completedAt: null,
      error: null,
    });
    expect(state.polls).toBeGreaterThan(0);
    expect(state.webUrl).toBe(`https://replicate.com/p/${running.id}`);
    expect(Date.parse(state.deadline)).toBeGreaterThan(Date.now());
    expect(state.logsTail.length).toBeGreaterThan(0);

    await handle.cancel();
    const error = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(bed.sim.counters(running.id).cancels).toBe(1);
    expect(bed.sim.prediction(running.id)!.status).toBe('canceled');
  });

  it('deadline: cancels at Replicate and fails with PredictionTimedOut well inside the execution timeout', async () => {
    const started = Date.now();
    const handle = await bed.start(
      { model: 'sim/never', input: {}, polling: FAST_POLLING },
      { workflowExecutionTimeout: '10s' }, // margin 2 s: our deadline is 8 s after the start
    );
    const { failure } = await failureOf(handle);
    const elapsed = Date.now() - started;
    expect(failure.type).toBe(PredictionFailureType.TimedOut);
    const { predictionId } = failure.details?.[0] as PredictionFailureDetails;
    expect(bed.sim.counters(predictionId!).cancels).toBe(1);
    expect(bed.sim.prediction(predictionId!)!.status).toBe('canceled');
    expect(elapsed).toBeGreaterThanOrEqual(7_500);
    expect(elapsed).toBeLessThan(10_000);
    const create = createRequests().find((r) => r.predictionId === predictionId)!;
    expect(Number(create.headers['cancel-after']!.replace('s', ''))).toBeLessThanOrEqual(10);
  });

  it('a non-retryable error after creation still sends a cancel to Replicate', async () => {
    const handle = await bed.start({ model: 'sim/never', input: { case: 'lost' }, polling: FAST_POLLING });
    await bed.sim.waitFor((p) => p.model === 'sim/never' && p.input?.case === 'lost');
    bed.sim.reset(); // Replicate "forgets" the prediction: the next GET answers 404
    const { failure } = await failureOf(handle);
    expect(failure.type).toBe(ReplicateErrorType.NotFound);
    expect(failure.message).toContain('The requested resource could not be found.');
    const routes = bed.sim.requests.map((r) => `${r.route} ${r.status}`);
    expect(routes).toEqual(['predictions.get 404', 'predictions.cancel 404']);
  });

  it('retries 5xx answers and connection resets, and still creates exactly one prediction', async () => {
    const before = bed.sim.creates();
    const seen = bed.sim.requests.length;
    const mine = () => bed.sim.requests.slice(seen);
    try {
      bed.sim.setFaults({ serverErrorRate: 1 }); // phase 1: every call answers 5xx
      const handle = await bed.start({ model: 'sim/echo', input: { n: 1 }, polling: FAST_POLLING });
      await expect
        .poll(() => mine().filter((r) => r.status >= 500).length, { timeout: 10_000 })
        .toBeGreaterThan(0);
      bed.sim.setFaults({ resetBeforeStoreRate: 1 }); // phase 2: creates are cut before they are stored
      await expect
        .poll(() => mine().filter((r) => r.status === 0).length, { timeout: 10_000 })
        .toBeGreaterThan(0);
      bed.sim.setFaults({});
      const result = await handle.result();
      expect(result.output).toEqual({ n: 1 });
      expect(result.adopted).toBe(false);
      expect(bed.sim.creates() - before).toBe(1);
    } finally {
      bed.sim.setFaults({});
    }
  });

  it("adopts instead of duplicating when a create's answer is lost after Replicate stored it", async () => {
    bed.sim.setFaults({ resetAfterStoreRate: 1 }); // every create is stored, then its connection is cut
    try {
      const before = bed.sim.creates();
      const seen = bed.sim.requests.length;
      const handle = await bed.start({ model: 'sim/echo', input: { adopt: 'me' }, polling: FAST_POLLING });
      await expect.poll(() => bed.sim.creates(), { timeout: 10_000 }).toBe(before + 1);
      bed.sim.setFaults({});
      const result = await handle.result();
      expect(result).toMatchObject({ adopted: true, output: { adopt: 'me' } });
      expect(bed.sim.creates() - before).toBe(1);
      const mine = bed.sim.requests.slice(seen);
      expect(mine.filter((r) => r.route.endsWith('create')).map((r) => r.status)).toEqual([0]);
      expect(mine.some((r) => r.route === 'predictions.list')).toBe(true);
      expect(logs.some((l) => l.message.startsWith(`adopted prediction ${result.id}`))).toBe(true);
    } finally {
      bed.sim.setFaults({});
    }
  });

  it("401: fails within seconds with Replicate's message, no retry", async () => {
    const seen = bed.sim.requests.length;
    const started = Date.now();
    const { failure } = await bed.withWorker({ replicateToken: 'wrong-token' }, async (taskQueue) =>
      failureOf(await bed.start({ model: 'google/imagen-4-ultra', input: { prompt: 'x' } }, { taskQueue })),
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(failure.type).toBe(ReplicateErrorType.Unauthorized);
    expect(failure.message).toContain('You did not pass a valid authentication token');
    expect(failure.message).toContain('REPLICATE_API_TOKEN');
    expect(bed.sim.requests.slice(seen).map((r) => r.status)).toEqual([401]);
  });

  it('422: fails within seconds quoting detail and invalid_fields, nothing created, no retry', async () => {
    const before = bed.sim.creates();
    const seen = bed.sim.requests.length;
    const started = Date.now();
    const { failure } = await failureOf(
      await bed.start({ model: 'google/imagen-4-ultra', input: { promptt: 'typo' } }),
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(failure.type).toBe(ReplicateErrorType.InvalidInput);
    expect(failure.message).toContain('prompt is required');
    expect(failure.details?.[0]).toMatchObject({ httpStatus: 422, invalidFields: [{ field: 'input' }] });
    expect(bed.sim.creates()).toBe(before);
    expect(bed.sim.requests.slice(seen).map((r) => r.status)).toEqual([422]);
  });

  it('invalid workflow input fails at once with InvalidPredictionRequest naming the field', async () => {
    const seen = bed.sim.requests.length;
    const { failure } = await failureOf(
      await bed.start({ model: 'not a model', input: [] as unknown as Record<string, unknown> }),
    );
    expect(failure.type).toBe(PredictionFailureType.InvalidRequest);
    expect(failure.message).toContain('model: "not a model" is not a model reference');
    expect(failure.message).toContain('input: must be a JSON object');
    expect(bed.sim.requests.length).toBe(seen);
  });

  it('429: waits at least Retry-After before sending the create again', async () => {
    bed.sim.setFaults({
      rateLimitNext: 1,
      rateLimitRoutes: 'create',
      rateLimitStyle: 'header',
      rateLimitRetryAfterSeconds: 2,
    });
    try {
      const seen = bed.sim.requests.length;
      const result = await (
        await bed.start({ model: 'sim/echo', input: { n: 2 }, polling: FAST_POLLING })
      ).result();
      expect(result.output).toEqual({ n: 2 });
      const creates = bed.sim.requests.slice(seen).filter((r) => r.route.endsWith('predictions.create'));
      expect(creates.map((r) => r.status)).toEqual([429, 201]);
      expect(creates[1]!.at - creates[0]!.at).toBeGreaterThanOrEqual(2_000);
    } finally {
      bed.sim.setFaults({});
    }
  });

  it('429 on a poll: the local-activity poll waits at least Retry-After, and the history holds one marker per poll', async () => {
    bed.sim.setModel('test/slow-echo', { output: '$input', durationMs: 1_500 });
    const handle = await bed.start({ model: 'test/slow-echo', input: { n: 429 }, polling: FAST_POLLING });
    // Let the create through, then rate-limit the next request: a GET.
    await expect
      .poll(async () => (await handle.query(statusQuery)).predictionId, { timeout: 10_000, interval: 20 })
      .toMatch(/^[a-z0-9]{26}$/); // created
    bed.sim.setFaults({ rateLimitNext: 1, rateLimitStyle: 'header', rateLimitRetryAfterSeconds: 2 });
    try {
      const result = await handle.result();
      expect(result.output).toEqual({ n: 429 });
      const gets = bed.sim.requests.filter(
        (r) => r.route === 'predictions.get' && r.predictionId === result.id,
      );
      const limited = gets.findIndex((r) => r.status === 429);
      expect(limited).toBeGreaterThanOrEqual(0);
      expect(gets.filter((r) => r.status !== 200)).toHaveLength(1);
      expect(gets[limited + 1]!.at - gets[limited]!.at).toBeGreaterThanOrEqual(2_000);
      const events = (await handle.fetchHistory()).events ?? [];
      const markers = events.filter(
        (e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
      );
      expect(markers).toHaveLength(result.polls);
      // the create, and keeping the output's files once it succeeded; every poll a local activity
      expect(events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? [])).toEqual(
        ['createPrediction', 'keepOutputs'],
      );
    } finally {
      bed.sim.setFaults({});
    }
  });

  it('a GET outage longer than one poll (3 attempts): the run keeps polling, succeeds, and never cancels', async () => {
    bed.sim.setModel('test/outage', { output: '$input', durationMs: 1_000 });
    const handle = await bed.start({
      model: 'test/outage',
      input: { n: 503 },
      polling: { initialIntervalMs: 500, multiplier: 1, maxIntervalMs: 500 },
    });
    await expect
      .poll(async () => (await handle.query(statusQuery)).predictionId, { timeout: 10_000, interval: 20 })
      .toMatch(/^[a-z0-9]{26}$/); // created
    bed.sim.setFaults({ serverErrorRate: 1, serverErrorRoutes: 'get' });
    // A whole poll fails (3 attempts), and the next one starts, before the outage ends.
    await expect
      .poll(async () => (await handle.query(statusQuery)).pollError ?? null, {
        timeout: 20_000,
        interval: 50,
      })
      .toMatch(/server error/);
    const failedPolls = (await handle.query(statusQuery)).polls;
    await expect
      .poll(async () => (await handle.query(statusQuery)).polls, { timeout: 20_000, interval: 50 })
      .toBeGreaterThan(failedPolls);
    bed.sim.setFaults({});
    const result = await handle.result();
    expect(result.output).toEqual({ n: 503 });
    const gets = bed.sim.requests.filter(
      (r) => r.route === 'predictions.get' && r.predictionId === result.id,
    );
    expect(gets.filter((r) => r.status >= 500).length).toBeGreaterThanOrEqual(4);
    expect(bed.sim.counters(result.id).cancels).toBe(0);
  });

  it('never leaks the API token into histories or logs', async () => {
    await (await bed.start({ model: 'sim/echo', input: { n: 3 }, polling: FAST_POLLING })).result();
    let histories = 0;
    for await (const wf of bed.env.client.workflow.list()) {
      const history = await bed.env.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      expect(JSON.stringify(history)).not.toContain(SECRET_TOKEN);
      histories += 1;
    }
    expect(histories).toBeGreaterThanOrEqual(5);
    const logText = JSON.stringify(logs, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    expect(logs.some((l) => l.message.includes('created'))).toBe(true); // the capture works
    expect(logText).not.toContain(SECRET_TOKEN);
    // every line the worker would print, in both LOG_FORMATs, before the final redaction filter
    for (const entry of logs) {
      expect(jsonLine(sdkRecord(entry))).not.toContain(SECRET_TOKEN);
      expect(textLine(sdkRecord(entry))).not.toContain(SECRET_TOKEN);
    }
    expect(JSON.stringify(bed.sim.requests)).not.toContain(SECRET_TOKEN);
  });
});
