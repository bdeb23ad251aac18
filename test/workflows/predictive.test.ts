/**
 * Predictive polling in runPrediction (src/shared/predictive-polling.ts), on the time-skipping server with fake
 * activities: the waits the run recorded (its timers) follow the model's timing from the create's answer and the
 * progress its polls saw; the plain backoff when nothing is known, when asked, and with webhooks.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import type { ModelTiming } from '../../src/shared/timing';
import type { PredictionRequest } from '../../src/shared/types';
import { runPrediction } from '../../src/workflows';
import { type FakeActivities, fakeReplicate, job } from './fakes';
import { timeSkippingPerTest } from './env';

const t = timeSkippingPerTest();

/** A model whose jobs wait about a second and run about 19 s. */
const TWENTY: ModelTiming = {
  samples: 5,
  queueMs: { lo: 900, mid: 1_000, hi: 1_100 },
  runMs: { lo: 18_800, mid: 19_000, hi: 19_300 },
};

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
      workflowExecutionTimeout: '10m',
      args: [{ model: 'acme/model', input: { prompt: 'x' }, searchAttributes: false, ...request }],
    });
    await during(handle);
    const result = await handle.result();
    return { result, handle };
  });
}

/** The waits (ms) every run of the chain recorded before its polls, in order (not the deadline's timer). */
async function waits(handle: WorkflowHandleWithFirstExecutionRunId<typeof runPrediction>): Promise<number[]> {
  const out: number[] = [];
  let runId: string | undefined = handle.firstExecutionRunId;
  while (runId) {
    const history = await t.env.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
    let next: string | undefined;
    for (const e of history.events ?? []) {
      const timer = e.timerStartedEventAttributes?.startToFireTimeout;
      const ms = timer ? Number(timer.seconds ?? 0) * 1_000 + Math.round((timer.nanos ?? 0) / 1e6) : NaN;
      if (ms < 500_000) out.push(ms);
      next ??= e.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    runId = next;
  }
  return out;
}

describe('predictive polling', () => {
  it("a model with a known timing: the run's one poll lands just after the expected end", async () => {
    const fake = fakeReplicate({
      created: { ...job('p-20', 'starting'), timing: TWENTY },
      get: (n, id) => job(id, 'succeeded'),
    });
    const { result, handle } = await run(fake.activities);
    expect(result.status).toBe('succeeded');
    expect(fake.calls.gets).toEqual(['p-20']);
    // created now: earliest start 0.9 s, earliest end 0.9 + 18.8 s, landing 250 ms + 1 % of 19 s after it
    const [wait] = await waits(handle);
    // less the time between the create and the task that plans the poll (512 ms seen with five files at a time)
    expect(wait).toBeGreaterThan(19_700 + 440 - 2_000);
    expect(wait).toBeLessThanOrEqual(19_700 + 440);
  });

  it('polls a job that runs past its expected end in a burst a second apart, then on the backoff', async () => {
    const fake = fakeReplicate({
      created: { ...job('p-late', 'starting'), timing: TWENTY },
      get: (n, id) => job(id, n < 7 ? 'processing' : 'succeeded'),
    });
    const { handle } = await run(fake.activities);
    expect(fake.calls.gets).toHaveLength(7);
    const w = await waits(handle);
    // the expected end, then the burst (1 s: a third of the 3 s backoff), then the backoff from its start
    expect(w.slice(1)).toEqual([1_000, 1_000, 1_000, 3_000, 4_500, 6_750]);
  });

  it('is the plain backoff when the create knows nothing, when polling.predictive is false, and with webhooks', async () => {
    const unknown = fakeReplicate({ get: (n, id) => job(id, n < 4 ? 'processing' : 'succeeded') });
    expect(await waits((await run(unknown.activities)).handle)).toEqual([3_000, 4_500, 6_750, 10_125]);

    const off = fakeReplicate({
      created: { ...job('p-off', 'starting'), timing: TWENTY },
      get: (n, id) => job(id, n < 2 ? 'processing' : 'succeeded'),
    });
    const asked = await run(off.activities, { polling: { predictive: false } });
    expect(await waits(asked.handle)).toEqual([3_000, 4_500]);

    const hooked = fakeReplicate({
      created: { ...job('p-hook', 'starting'), webhook: true, timing: TWENTY },
      get: (n, id) => job(id, 'succeeded'),
    });
    expect(await waits((await run(hooked.activities)).handle)).toEqual([60_000]);
  });

  it("extrapolates the end from the progress in the job's logs", async () => {
    // an unknown model; its logs count 50 steps, about one a second
    const steps = [3, 7, 37];
    const fake = fakeReplicate({
      get: (n, id) =>
        n <= steps.length
          ? job(id, 'processing', { logsTail: ['Loading weights', `step ${steps[n - 1]}/50`] })
          : job(id, 'succeeded'),
    });
    const { handle } = await run(fake.activities);
    const w = await waits(handle);
    expect(fake.calls.gets).toHaveLength(4);
    // the backoff until two points of progress, then at most its cap towards the end they foretell
    expect(w.slice(0, 3)).toEqual([3_000, 4_500, 30_000]);
    // 3/50 at 3 s and 37/50 at 37.5 s: 13 steps left at 34 steps per 34.5 s, 13.2 s, landing 250 ms later
    expect(w[3]).toBeGreaterThan(13_000);
    expect(w[3]).toBeLessThan(13_700);
  });

  it('continue-as-new carries what the run knows: the next run still waits for the expected end', async () => {
    let startedAt: string | undefined;
    const fake = fakeReplicate({
      created: {
        ...job('p-long', 'starting'),
        timing: { ...TWENTY, runMs: { lo: 60_000, mid: 60_000, hi: 60_000 } },
      },
      get: (n, id) => job(id, n < 3 ? 'processing' : 'succeeded', { startedAt: startedAt ?? null }),
    });
    const { handle } = await run(fake.activities, { maxPollsPerRun: 1 }, async (h) => {
      startedAt = new Date((await h.describe()).startTime.getTime() + 1_000).toISOString();
    });
    const w = await waits(handle);
    // far from the end: the backoff's cap, in the first run and (carried over) in the next ones
    expect(w.slice(0, 2)).toEqual([30_000, 30_000]);
    // then the expected end, 61 s after the start plus the landing margin, from the third run
    expect(w[2]).toBeGreaterThan(850 - 600);
    expect(w[2]).toBeLessThan(850 + 1_000);
  });
});
