/**
 * Budgets with fake activities: a run's `maxCostUsd` (polling, webhooks) on Temporal's time-skipping server, and a
 * pipeline's `budget` (fan-out crossing, report) on a dev server in real time, since the parent cancels its
 * children and the time-skipping server can lose such a cancel (./test-server.test.ts). The overshoot is measured
 * from the history: when the cancel was scheduled against Replicate's started_at, in USD past the budget.
 * The four blocks run at once (each test of a block after the other, on its own server): mostly real-time waits
 * on polls and timers.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { tsToMs } from '@temporalio/common/lib/time';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BudgetFailureType, PredictionFailureType } from '../../src/shared/failures';
import { validatePipelineSpec } from '../../src/shared/pipeline';
import type { PredictionRequest, PredictionSnapshot, PredictionState } from '../../src/shared/types';
import {
  runPipeline,
  runPrediction,
  statusQuery,
  webhookSignal,
  type PipelineResult,
} from '../../src/workflows';
import type { BudgetExceededRunDetails } from '../../src/workflows/job/budget';
import { type FakeActivities, failureOf, fakeReplicate, gate, job } from './fakes';
import { devServer, timeSkippingServer, workflowCode } from './env';

/** single runs: time-skipping */
let env: TestWorkflowEnvironment;
let workflowBundle: { code: string };

beforeAll(async () => {
  workflowBundle = await workflowCode();
});
/**
 * A fresh server per test: every run claims its job (a child workflow `replicate-claim:<job id>`, per server), and
 * these fakes reuse job ids (p-1, p-2, ...) from test to test.
 */
function timeSkippingPerTest(): void {
  beforeEach(async () => {
    env = await timeSkippingServer();
  });
  afterEach(async () => {
    await env?.teardown();
  });
}
/** The same with a dev server, for the pipelines: `const server = devServerPerTest();`, then `server.env`. */
function devServerPerTest(): { readonly env: TestWorkflowEnvironment } {
  let env: TestWorkflowEnvironment | undefined;
  beforeEach(async () => {
    env = await devServer();
  });
  afterEach(async () => {
    await env?.teardown();
    env = undefined;
  });
  return {
    get env() {
      return env!;
    },
  };
}

async function withWorker<T>(
  activities: object,
  body: (taskQueue: string) => Promise<T>,
  server: TestWorkflowEnvironment = env,
): Promise<T> {
  const taskQueue = `budget-${randomUUID()}`;
  const worker = await Worker.create({
    connection: server.nativeConnection,
    taskQueue,
    workflowBundle,
    activities,
  });
  return worker.runUntil(() => body(taskQueue));
}

async function runOne(
  activities: FakeActivities,
  request: Partial<PredictionRequest>,
  during: (handle: WorkflowHandle<typeof runPrediction>) => Promise<void> = async () => {},
  after: (handle: WorkflowHandle<typeof runPrediction>) => Promise<void> = async () => {},
) {
  return withWorker(activities, async (taskQueue) => {
    const handle = await env.client.workflow.start(runPrediction, {
      taskQueue,
      workflowId: `budget-${randomUUID()}`,
      workflowExecutionTimeout: '10m',
      args: [{ model: 'acme/model', input: { prompt: 'x' }, searchAttributes: false, ...request }],
    });
    await during(handle);
    const error = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    await after(handle); // while the worker still runs (a query needs one)
    return { error, handle };
  });
}

/** When each cancelPrediction was scheduled, workflow time (ms since the epoch), from the history. */
async function cancelTimes(handle: WorkflowHandle): Promise<number[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'cancelPrediction')
    .map((e) => tsToMs(e.eventTime));
}

/** When each poll (a local activity: one marker) was recorded, workflow time, from the history. */
async function pollTimes(handle: WorkflowHandle): Promise<number[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
    .map((e) => tsToMs(e.eventTime));
}

const started = (requestedAt: string, afterMs: number) =>
  new Date(Date.parse(requestedAt) + afterMs).toISOString();

describe.concurrent('a run with --max-cost', () => {
  timeSkippingPerTest();
  it.sequential(
    'polling: started_at learned late, canceled at the next poll; overshoot at most one polling interval',
    async () => {
      // Default polling: polls at 3 s and 7.5 s. The job starts at 4 s (after poll 1, which still sees starting),
      // so its cost ($0.01/s) reaches the $0.02 budget at 6 s and poll 2 (7.5 s) is the first to know.
      const fake = fakeReplicate({
        get: (n, id) =>
          n === 1
            ? job(id, 'starting')
            : job(id, 'processing', { startedAt: started(fake.calls.createArgs[0]!.requestedAt!, 4_000) }),
      });
      const { error, handle } = await runOne(fake.activities, { maxCostUsd: 0.02, pricePerSecondUsd: 0.01 });

      const failure = failureOf(error);
      expect(failure.type, failure.message).toBe(BudgetFailureType.Exceeded);
      const details = failure.details?.[0] as BudgetExceededRunDetails;
      expect(details).toMatchObject({ predictionId: 'p-1', status: 'canceled' });
      expect(details.budget).toMatchObject({ budgetUsd: 0.02, predictionIds: ['p-1'] });
      expect(failure.message).toMatch(/reached its budget of \$0\.02: \$0\.0\d+ spent/);
      expect(fake.calls.gets).toEqual(['p-1', 'p-1']);
      expect(fake.calls.cancels).toEqual(['p-1']);

      const [cancelAt] = await cancelTimes(handle);
      const startedAt = Date.parse(started(fake.calls.createArgs[0]!.requestedAt!, 4_000));
      const overshootUsd = ((cancelAt! - startedAt) / 1000) * 0.01 - 0.02;
      console.log(`budget overshoot, polling (started_at learned late): $${overshootUsd.toFixed(4)}`);
      expect(overshootUsd).toBeGreaterThan(0);
      // Canceled right after poll 2, the first to see started_at: the overshoot is the running time between the
      // crossing (after poll 1) and poll 2, at most one polling interval (4.5 s here; longer under load, since
      // the time-skipping server's clock also runs while activities run), plus the cancel's task latency.
      const [poll1, poll2] = await pollTimes(handle);
      expect(cancelAt! - poll2!).toBeLessThan(1_000);
      expect(overshootUsd).toBeLessThanOrEqual(((cancelAt! - poll1!) / 1000) * 0.01);
      expect(poll2! - poll1!).toBeGreaterThanOrEqual(4_500);
      // the spend the workflow measured when it decided (then it scheduled the cancel)
      expect(details.budget.spentUsd).toBeGreaterThan(0.02);
      expect(details.budget.spentUsd).toBeLessThanOrEqual(0.02 + overshootUsd + 1e-9);
    },
  );

  it.sequential(
    'polling: once started_at is known, a timer at the projected crossing cancels with no overshoot',
    async () => {
      // Poll 1 (3 s) sees the job started at 1 s; $0.05 at $0.01/s is reached at 6 s, before poll 2 (7.5 s).
      const fake = fakeReplicate({
        get: (_, id) =>
          job(id, 'processing', { startedAt: started(fake.calls.createArgs[0]!.requestedAt!, 1_000) }),
      });
      const { error, handle } = await runOne(fake.activities, { maxCostUsd: 0.05, pricePerSecondUsd: 0.01 });

      const failure = failureOf(error);
      expect(failure.type, failure.message).toBe(BudgetFailureType.Exceeded);
      expect(fake.calls.gets).toEqual(['p-1']); // no second poll: the timer came first
      const [cancelAt] = await cancelTimes(handle);
      const startedAt = Date.parse(started(fake.calls.createArgs[0]!.requestedAt!, 1_000));
      // The decision is taken when the timer fires (the spend it measured), the cancel is scheduled when that
      // workflow task completes: the crossing plus task latency (load-dependent), well before poll 2 (7.5 s).
      const decidedUsd = (failure.details?.[0] as BudgetExceededRunDetails).budget.spentUsd;
      console.log(
        `budget overshoot, polling (timer at the crossing): decided at $${(decidedUsd - 0.05).toFixed(5)}, cancel sent after ${cancelAt! - startedAt - 5_000} ms more running`,
      );
      expect(decidedUsd - 0.05).toBeGreaterThanOrEqual(0);
      expect(decidedUsd - 0.05).toBeLessThan(0.01); // the timer fired at the crossing (within 1 s: task latency)
      expect(cancelAt! - startedAt).toBeGreaterThanOrEqual(5_000);
      expect(cancelAt! - startedAt).toBeLessThan(7_000);
    },
  );

  it.sequential(
    'webhooks: the start webhook carries started_at; the timer cancels at the crossing (overshoot ~0), no GET',
    async () => {
      const fake = fakeReplicate({ created: job('p-1', 'starting', { webhook: true }) });
      let startedAt = 0;
      const { error, handle } = await runOne(
        fake.activities,
        { maxCostUsd: 0.1, pricePerSecondUsd: 0.01 },
        async (h) => {
          await fake.createStarted;
          const at = started(fake.calls.createArgs[0]!.requestedAt!, 2_000);
          startedAt = Date.parse(at);
          await h.signal(webhookSignal, job('p-1', 'processing', { startedAt: at, webhook: true }));
        },
      );

      const failure = failureOf(error);
      expect(failure.type, failure.message).toBe(BudgetFailureType.Exceeded);
      expect(fake.calls.gets).toEqual([]); // fallback polling (60 s) never came
      expect(fake.calls.cancels).toEqual(['p-1']);
      const [cancelAt] = await cancelTimes(handle);
      const decidedUsd = (failure.details?.[0] as BudgetExceededRunDetails).budget.spentUsd;
      console.log(
        `budget overshoot, webhooks: decided at $${(decidedUsd - 0.1).toFixed(5)}, cancel sent after ${cancelAt! - startedAt - 10_000} ms more running`,
      );
      expect(decidedUsd - 0.1).toBeGreaterThanOrEqual(0);
      expect(decidedUsd - 0.1).toBeLessThan(0.01); // the timer fired at the crossing (within 1 s: task latency)
      expect(cancelAt! - startedAt).toBeGreaterThanOrEqual(10_000);
      expect(cancelAt! - startedAt).toBeLessThan(12_000); // plus workflow-task latency only
    },
  );

  it.sequential(
    'a job that ends under its budget succeeds; the status query shows its cost and the budget left',
    async () => {
      const fake = fakeReplicate({
        get: (n, id) =>
          n === 1
            ? job(id, 'processing', { startedAt: started(fake.calls.createArgs[0]!.requestedAt!, 500) })
            : job(id, 'succeeded', { metrics: { predict_time: 4 } }),
      });
      let state: PredictionState | undefined;
      let details: string | undefined;
      const { error } = await runOne(
        fake.activities,
        { maxCostUsd: 1, pricePerSecondUsd: 0.01 },
        undefined,
        async (handle) => {
          state = await handle.query(statusQuery);
          details = (await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata'))
            .currentDetails;
        },
      );

      expect(error).toBeUndefined();
      expect(fake.calls.cancels).toEqual([]);
      expect(state!.budget).toEqual({
        maxCostUsd: 1,
        pricePerSecondUsd: 0.01,
        jobStartedAt: null, // the terminal snapshot of the fake carries no started_at
        predictTime: 4,
      });
      // the Temporal UI's current details carry the same line as `status`
      expect(details).toContain('budget $1 · cost $0.04 · left $0.96 (at $0.01/s)');
    },
  );

  // The race of a budget timer with a job that already ended: an 8 s job at $1/s under a $10 budget, started when
  // created; polls at 3 s and 7.5 s see it running, the next (14.25 s) would see it ended, the budget timer fires
  // first (10 s). Replicate answers the cancel with the job as it ended: succeeded, predict_time 8.
  const endedJob = (id: string) =>
    job(id, 'succeeded', { output: 'https://replicate.delivery/p-1/paid.png', metrics: { predict_time: 8 } });

  it.sequential(
    'polling: a crossing that finds the job already succeeded returns its result (paid, under budget)',
    async () => {
      const fake = fakeReplicate({
        get: (_, id) => job(id, 'processing', { startedAt: fake.calls.createArgs[0]!.requestedAt! }),
        cancel: endedJob,
      });
      let result: unknown;
      const { error } = await runOne(
        fake.activities,
        { maxCostUsd: 10, pricePerSecondUsd: 1 },
        undefined,
        async (handle) => {
          result = await handle.result();
        },
      );
      expect(error).toBeUndefined();
      expect(result).toMatchObject({
        id: 'p-1',
        status: 'succeeded',
        output: 'https://replicate.delivery/p-1/paid.png',
        metrics: { predict_time: 8 },
      });
      expect(fake.calls.gets).toEqual(['p-1', 'p-1']); // the timer (10 s) came before poll 3 (14.25 s)
      expect(fake.calls.cancels).toEqual(['p-1']);
    },
  );

  it.sequential(
    'polling: a crossing that finds the job already failed fails as failed (not BudgetExceeded)',
    async () => {
      const fake = fakeReplicate({
        get: (_, id) => job(id, 'processing', { startedAt: fake.calls.createArgs[0]!.requestedAt! }),
        cancel: (id) => job(id, 'failed', { error: 'CUDA out of memory', metrics: { predict_time: 8 } }),
      });
      const { error } = await runOne(fake.activities, { maxCostUsd: 10, pricePerSecondUsd: 1 });
      const failure = failureOf(error);
      expect(failure.type, failure.message).toBe(PredictionFailureType.Failed);
      expect(failure.message).toBe('prediction p-1 failed: CUDA out of memory');
      expect(failure.details?.[0]).toMatchObject({ status: 'failed', metrics: { predict_time: 8 } });
    },
  );

  it.sequential(
    'webhooks, the completion delivered late: the crossing finds the job succeeded and returns its result',
    async () => {
      const fake = fakeReplicate({ created: job('p-1', 'starting', { webhook: true }), cancel: endedJob });
      let result: unknown;
      const { error } = await runOne(
        fake.activities,
        { maxCostUsd: 10, pricePerSecondUsd: 1 },
        async (h) => {
          await fake.createStarted;
          const at = fake.calls.createArgs[0]!.requestedAt!;
          await h.signal(webhookSignal, job('p-1', 'processing', { startedAt: at, webhook: true }));
          // the completed webhook is late: it never comes before the crossing
        },
        async (handle) => {
          result = await handle.result();
        },
      );
      expect(error).toBeUndefined();
      expect(result).toMatchObject({ id: 'p-1', status: 'succeeded', metrics: { predict_time: 8 } });
      expect(fake.calls.gets).toEqual([]);
      expect(fake.calls.cancels).toEqual(['p-1']);
    },
  );

  it.sequential('a user cancel that finds the job already succeeded returns its result', async () => {
    const polled = gate();
    const fake = fakeReplicate({
      get: (_, id) => {
        polled.open();
        return job(id, 'processing', { startedAt: fake.calls.createArgs[0]!.requestedAt! });
      },
      cancel: endedJob,
    });
    let result: unknown;
    const { error, handle } = await runOne(
      fake.activities,
      {},
      async (h) => {
        await polled.opened;
        await h.cancel();
      },
      async (h) => {
        result = await h.result();
      },
    );
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ id: 'p-1', status: 'succeeded', metrics: { predict_time: 8 } });
    expect(fake.calls.cancels).toEqual(['p-1']);
    expect((await handle.describe()).status.name).toBe('COMPLETED');
  });

  it.sequential.each([
    [
      { maxCostUsd: 0.5 },
      /pricePerSecondUsd \(--price USD_PER_SECOND or --prices FILE\); give both or neither/,
    ],
    [{ pricePerSecondUsd: 0.01 }, /pricePerSecondUsd: is only used with maxCostUsd/],
    [
      { maxCostUsd: -1, pricePerSecondUsd: 0.01 },
      /maxCostUsd: must be a positive number of USD \(--max-cost\), got -1/,
    ],
  ])('invalid budget %j -> InvalidPredictionRequest naming the field', async (budget, message) => {
    const fake = fakeReplicate();
    const { error } = await runOne(fake.activities, budget);
    const failure = failureOf(error);
    expect(failure.type).toBe(PredictionFailureType.InvalidRequest);
    expect(failure.message).toMatch(message);
    expect(fake.calls.creates).toBe(0);
  });
});

/** A scripted Replicate for pipelines: ids p-1, p-2, ... in create order; each model's behaviour by name. */
function fakePipelineReplicate(
  /** the answer to the n-th GET (1-based) of job `id` */
  behaviour: (model: string, requestedAt: string, id: string, n: number) => PredictionSnapshot,
  options: {
    webhooks?: boolean;
    createsSeen?: { count: number; open: () => void };
    /** the cancel's answer (Replicate returns a job that already ended unchanged); default: canceled */
    cancel?: (id: string) => PredictionSnapshot;
  } = {},
) {
  const jobs = new Map<string, { model: string; requestedAt: string }>();
  const calls = {
    /** in create order, with the child workflow that asked (fan-out children may create in any order) */
    creates: [] as { id: string; model: string; workflowId: string }[],
    gets: [] as string[],
    cancels: [] as string[],
  };
  const activities: FakeActivities = {
    async createPrediction(args) {
      const id = `p-${jobs.size + 1}`;
      jobs.set(id, { model: args.model, requestedAt: args.requestedAt! });
      calls.creates.push({
        id,
        model: args.model,
        workflowId: Context.current().info.workflowExecution?.workflowId ?? '',
      });
      if (calls.creates.length === options.createsSeen?.count) options.createsSeen.open();
      return job(id, 'starting', options.webhooks ? { webhook: true } : {});
    },
    async getPrediction(id) {
      calls.gets.push(id);
      const j = jobs.get(id)!;
      return behaviour(j.model, j.requestedAt, id, calls.gets.filter((g) => g === id).length);
    },
    async cancelPrediction(id) {
      calls.cancels.push(id);
      return options.cancel ? options.cancel(id) : job(id, 'canceled');
    },
  };
  const startedAtMs = (id: string, afterMs: number) => Date.parse(jobs.get(id)!.requestedAt) + afterMs;
  return { activities, calls, startedAtMs, jobs };
}

/** generate (1 job, $0.01/s, ends after 2 s of predict_time) -> upscale (3 jobs at $0.02/s, never end) -> caption. */
const spec = (usd: number) => ({
  name: 'budgeted',
  prices: { 'acme/gen': 0.01, 'acme/up': 0.02 },
  budget: { usd },
  steps: {
    generate: { model: 'acme/gen', input: { prompt: 'x' } },
    upscale: { model: 'acme/up', count: 3, input: { image: '{{ steps.generate.output }}' } },
    caption: { model: 'acme/gen', input: { images: '{{ steps.upscale.outputs }}' } },
  },
});
const behaviour = (model: string, requestedAt: string, id: string) =>
  model === 'acme/gen'
    ? job(id, 'succeeded', { metrics: { predict_time: 2 } })
    : job(id, 'processing', { startedAt: started(requestedAt, 1_000) });

async function runBudgeted(dev: TestWorkflowEnvironment, usdLimit: number, script = behaviour) {
  const fake = fakePipelineReplicate(script);
  return withWorker(
    fake.activities,
    async (taskQueue) => {
      const handle = await dev.client.workflow.start(runPipeline, {
        taskQueue,
        workflowId: `budget-pipeline-${randomUUID()}`,
        workflowExecutionTimeout: '30m',
        args: [{ spec: spec(usdLimit), persist: false, searchAttributes: false }],
      });
      const error = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      // each upscale child's cancel, from its history
      const upscale = fake.calls.creates.filter((c) => c.model === 'acme/up');
      const polls = await Promise.all(
        upscale.map((c) => pollTimes(dev.client.workflow.getHandle(c.workflowId))),
      );
      const canceledAt = await Promise.all(
        upscale.map(async (c) => (await cancelTimes(dev.client.workflow.getHandle(c.workflowId)))[0]!),
      );
      const details = (await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata'))
        .currentDetails;
      return { fake, error, upscale, canceledAt, polls, details };
    },
    dev,
  );
}

describe.concurrent('a pipeline with budget: { usd }', () => {
  const server = devServerPerTest();
  it.sequential(
    'crossing mid fan-out (timer at the projected crossing): running jobs canceled at Replicate, nothing new starts, BudgetExceeded names budget, spend and step; the report separates completed and canceled',
    async () => {
      // generate costs $0.02; the 3 upscale jobs start 1 s after their create at $0.06/s together, so $0.3 is
      // reached 4.67 s later. Their first polls (3 s) tell the parent their started_at; its timer fires at the
      // crossing, before their next polls (7.5 s).
      const { fake, error, upscale, canceledAt, polls, details } = await runBudgeted(server.env, 0.3);

      const failure = failureOf(error);
      expect(failure.type, failure.message).toBe(BudgetFailureType.Exceeded);
      expect(failure.message).toMatch(
        /^pipeline budgeted reached its budget of \$0\.3: \$0\.3\d* spent .*in step upscale/,
      );
      const report = failure.details?.[0] as PipelineResult;
      expect(report.steps.generate!.status).toBe('succeeded');
      expect(report.steps.upscale!.status).toBe('canceled');
      expect(report.steps.caption).toMatchObject({
        status: 'skipped',
        error: 'skipped: the budget of $0.3 was reached',
      });
      // the 3 running jobs canceled at Replicate; the caption never created
      expect(fake.calls.creates.map((c) => c.model)).toEqual(['acme/gen', 'acme/up', 'acme/up', 'acme/up']);
      expect([...fake.calls.cancels].sort()).toEqual(upscale.map((c) => c.id).sort());

      const budget = report.cost.budget!;
      expect(budget.exceeded).toMatchObject({ budgetUsd: 0.3, steps: ['upscale'], completedUsd: 0.02 });
      expect(budget.exceeded!.predictionIds.sort()).toEqual(upscale.map((c) => c.id).sort());
      expect(budget.completedUsd).toBe(0.02);
      expect(budget.canceledPredictionIds.sort()).toEqual(upscale.map((c) => c.id).sort());
      expect(budget.canceledUsd).toBeGreaterThanOrEqual(0.28 - 1e-9);
      expect(budget.running).toEqual([]);
      // the Temporal UI's current details: the steps, then the budget line once the stopped jobs settled (canceled,
      // at their cost, which grows with how late the cancels land on a loaded machine: bounded below)
      expect(details).toMatch(/^- \*\*upscale\*\*: canceled · 0\/3 predictions succeeded/m);
      expect(details).toMatch(
        /^budget \$0\.3 · spent \$0\.3\d* \(completed \$0\.02, canceled \$0\.\d+, running \$0 in 0 jobs\) · left \$0 · EXCEEDED$/m,
      );

      // overshoot: what the jobs had cost when their cancels were sent, past the budget
      const spentAtCancels =
        0.02 +
        upscale.reduce((s, c, i) => s + (0.02 * (canceledAt[i]! - fake.startedAtMs(c.id, 1_000))) / 1000, 0);
      console.log(
        `budget overshoot, pipeline (timer): cancels sent at $${(spentAtCancels - 0.3).toFixed(4)}, stopped jobs settled at $${(budget.exceeded!.spentUsd - 0.3).toFixed(4)}`,
      );
      // The timer fired at the projected crossing (0.02 + 0.02/s × Σ(t − started_i) = 0.3), within 1 s of task latency.
      const startedMean = upscale.reduce((s, c) => s + fake.startedAtMs(c.id, 1_000), 0) / upscale.length;
      const crossingMs = startedMean + (0.28 / 0.06) * 1000;
      const decidedMs = Date.parse(budget.exceeded!.at);
      expect(decidedMs).toBeGreaterThanOrEqual(Math.floor(crossingMs));
      expect(decidedMs - crossingMs).toBeLessThan(1_000);
      expect(spentAtCancels).toBeGreaterThanOrEqual(0.3);
      // the spend recorded once the stopped jobs settled: each charged until it stopped, after its cancel was sent
      expect(budget.exceeded!.spentUsd).toBeGreaterThanOrEqual(spentAtCancels - 1e-9);
      // The parent's timer, not a poll, stopped them: each child polled once (3 s), never a second time (7.5 s).
      // Their cancels follow through a workflow task each (load-dependent: the figure logged above).
      expect(polls.map((p) => p.length)).toEqual([1, 1, 1]);
    },
  );

  it.sequential(
    'crossing already passed when the parent learns started_at (polling): canceled at once; overshoot at most one polling interval',
    async () => {
      // $0.1: after generate's $0.02, the 3 jobs ($0.06/s from 1 s after their create) cross 1.33 s after they
      // start, but the parent learns their start only from their first polls, 3 s after the create.
      const { fake, error, upscale, canceledAt, polls } = await runBudgeted(server.env, 0.1);

      expect(failureOf(error).type, failureOf(error).message).toBe(BudgetFailureType.Exceeded);
      expect(fake.calls.creates).toHaveLength(4);
      expect(fake.calls.cancels).toHaveLength(3);
      const spentAtCancels =
        0.02 +
        upscale.reduce((s, c, i) => s + (0.02 * (canceledAt[i]! - fake.startedAtMs(c.id, 1_000))) / 1000, 0);
      console.log(
        `budget overshoot, pipeline (polling, start learned late): $${(spentAtCancels - 0.1).toFixed(4)}`,
      );
      expect(spentAtCancels).toBeGreaterThan(0.1);
      // each job canceled at the first poll that showed its start: the overshoot is at most each job's first
      // polling interval (create -> poll 1: 3 s, longer under load) of running, plus the cancel's latency
      expect(polls.map((p) => p.length)).toEqual([1, 1, 1]);
      const firstIntervalUsd = upscale.reduce(
        (s, c, i) => s + (0.02 * (canceledAt[i]! - fake.startedAtMs(c.id, 0))) / 1000,
        0,
      );
      expect(spentAtCancels - 0.1).toBeLessThanOrEqual(firstIntervalUsd);
    },
  );

  it.sequential('jobs that ended over the budget between two polls: the next step never starts', async () => {
    // generate's job is first seen ended (predict_time 20 s = $0.2, its start never seen): over the $0.1 budget
    // at once; upscale must not create anything.
    const { fake, error } = await runBudgeted(server.env, 0.1, (model, requestedAt, id) =>
      model === 'acme/gen'
        ? job(id, 'succeeded', { metrics: { predict_time: 20 } })
        : behaviour(model, requestedAt, id),
    );
    const failure = failureOf(error);
    expect(failure.type, failure.message).toBe(BudgetFailureType.Exceeded);
    expect(failure.message).toBe(
      'pipeline budgeted reached its budget of $0.1: $0.2 spent ($0.2 by ended jobs, nothing was running) and nothing new started',
    );
    const report = failure.details?.[0] as PipelineResult;
    expect(report.steps.upscale).toMatchObject({
      status: 'skipped',
      error: 'skipped: the budget of $0.1 was reached',
    });
    expect(report.steps.caption!.status).toBe('skipped');
    expect(fake.calls.creates.map((c) => c.model)).toEqual(['acme/gen']);
    expect(fake.calls.cancels).toEqual([]);
    expect(report.cost.budget).toMatchObject({ completedUsd: 0.2, canceledUsd: 0 });
  });

  it.sequential('spec validation: budget needs a positive usd and a price for every model', () => {
    const bad = validatePipelineSpec({ ...spec(0), prices: { 'acme/gen': 0.01 } });
    expect('errors' in bad && bad.errors).toEqual([
      { path: 'budget.usd', message: 'must be a positive number of USD, got 0' },
    ]);
    const noPrice = validatePipelineSpec({ ...spec(1), prices: { 'acme/gen': 0.01 } });
    expect('errors' in noPrice && noPrice.errors.map((e) => e.path)).toEqual(['prices.acme/up']);
    const ok = validatePipelineSpec(spec(1));
    expect('spec' in ok && ok.spec.budget).toEqual({ usd: 1 });
  });
});

describe.concurrent('a pipeline with budget: { usd }, webhooks on', () => {
  const server = devServerPerTest();
  it.sequential(
    'the start webhooks carry started_at: the parent cancels both running jobs at the crossing, no GET at all',
    async () => {
      // 2 jobs at $0.02/s, started 1 s after their create: $0.4 is reached 10 s after they start (room for the start
      // webhooks to arrive late on a busy machine: the crossing must still be ahead when they do). With webhooks,
      // fallback polling waits 60 s, so only the start webhooks (sent by the test) tell the children.
      const bothCreated = gate();
      const fake = fakePipelineReplicate((_m, _r, id) => job(id, 'processing'), {
        webhooks: true,
        createsSeen: { count: 2, open: () => bothCreated.open() },
      });
      const pipelineSpec = {
        name: 'hooked',
        prices: { 'acme/up': 0.02 },
        budget: { usd: 0.4 },
        steps: { up: { model: 'acme/up', count: 2, input: { prompt: 'x' } } },
      };
      const { error, startedAt, canceledAt, polls } = await withWorker(
        fake.activities,
        async (taskQueue) => {
          const handle = await server.env.client.workflow.start(runPipeline, {
            taskQueue,
            workflowId: `budget-hooked-${randomUUID()}`,
            workflowExecutionTimeout: '30m',
            args: [{ spec: pipelineSpec, persist: false, searchAttributes: false }],
          });
          await bothCreated.opened;
          const startedAt: number[] = [];
          for (const c of fake.calls.creates) {
            const at = fake.startedAtMs(c.id, 1_000);
            startedAt.push(at);
            const iso = new Date(at).toISOString();
            await server.env.client.workflow
              .getHandle(c.workflowId)
              .signal(webhookSignal, job(c.id, 'processing', { startedAt: iso, webhook: true }));
          }
          const error = await handle.result().then(
            () => undefined,
            (e: unknown) => e,
          );
          const children = fake.calls.creates.map((c) => server.env.client.workflow.getHandle(c.workflowId));
          const canceledAt = await Promise.all(children.map(async (h) => (await cancelTimes(h))[0]!));
          const polls = await Promise.all(children.map((h) => pollTimes(h)));
          return { error, startedAt, canceledAt, polls };
        },
        server.env,
      );

      const failure = failureOf(error);
      expect(failure.type, failure.message).toBe(BudgetFailureType.Exceeded);
      const report = failure.details?.[0] as PipelineResult;
      expect(report.steps.up!.status).toBe('canceled');
      expect(fake.calls.gets).toEqual([]);
      expect(polls).toEqual([[], []]);
      expect([...fake.calls.cancels].sort()).toEqual(fake.calls.creates.map((c) => c.id).sort());
      const exceeded = report.cost.budget!.exceeded!;
      const spentAtCancels = startedAt.reduce((s, at, i) => s + (0.02 * (canceledAt[i]! - at)) / 1000, 0);
      console.log(
        `budget overshoot, pipeline (webhooks): cancels sent at $${(spentAtCancels - 0.4).toFixed(4)}, stopped jobs settled at $${(exceeded.spentUsd - 0.4).toFixed(4)}`,
      );
      // the timer fired at the projected crossing (0.02/s × Σ(t − started_i) = 0.4), within 1 s of task latency
      const crossingMs = (startedAt[0]! + startedAt[1]!) / 2 + (0.4 / 0.04) * 1000;
      expect(Date.parse(exceeded.at)).toBeGreaterThanOrEqual(Math.floor(crossingMs));
      expect(Date.parse(exceeded.at) - crossingMs).toBeLessThan(1_000);
      // the cancels follow through a workflow task per child (load-dependent: the figure logged above); the spend
      // recorded once they settled charges each job until it stopped
      expect(spentAtCancels).toBeGreaterThanOrEqual(0.4);
      expect(exceeded.spentUsd).toBeGreaterThanOrEqual(spentAtCancels - 1e-9);
    },
  );
});

describe.concurrent('a pipeline budget crossing that finds a job already ended', () => {
  const server = devServerPerTest();
  // a: an 8 s job at $1/s under a $10 budget, started when created. Its polls (3 s, 7.5 s) see it running, the
  // next (14.25 s) would see it ended; the parent's budget timer fires first (10 s) and cancels it. Replicate
  // answers the cancel with the job as it ended.
  const raceSpec = {
    name: 'race',
    prices: { 'acme/m': 1.0 },
    budget: { usd: 10 },
    steps: {
      a: { model: 'acme/m', input: { prompt: 'x' } },
      b: { model: 'acme/m', input: { image: '{{ steps.a.output }}' } },
    },
  };
  const A_OUTPUT = 'https://replicate.delivery/p-1/paid.png';

  async function runRace(aAnswer: (id: string) => PredictionSnapshot, persist = false) {
    const fake = fakePipelineReplicate(
      (_m, requestedAt, id) =>
        id === 'p-1'
          ? job(id, 'processing', { startedAt: requestedAt })
          : job(id, 'succeeded', { metrics: { predict_time: 1 } }),
      { cancel: (id) => (id === 'p-1' ? aAnswer(id) : job(id, 'canceled')) },
    );
    // the output store: each output becomes one file, <step>/<index>.png
    const outputs = {
      async persistOutputs(args: { step: string; index: number; predictionId: string }) {
        const path = `${args.step}/${args.index}.png`;
        return [{ ...args, sourceUrl: A_OUTPUT, path, bytes: 1, sha256: '0'.repeat(64), contentType: null }];
      },
      async writeManifest() {
        return '/outputs/race/manifest.json';
      },
    };
    return withWorker(
      { ...fake.activities, ...outputs },
      async (taskQueue) => {
        const handle = await server.env.client.workflow.start(runPipeline, {
          taskQueue,
          workflowId: `budget-race-${randomUUID()}`,
          workflowExecutionTimeout: '30m',
          args: [{ spec: raceSpec, persist, searchAttributes: false }],
        });
        const outcome = await handle.result().then(
          (result) => ({ result, error: undefined }),
          (error: unknown) => ({ result: undefined, error }),
        );
        const aChild = await server.env.client.workflow
          .getHandle(fake.calls.creates[0]!.workflowId)
          .describe();
        return { fake, ...outcome, aChildStatus: aChild.status.name };
      },
      server.env,
    );
  }

  it.sequential(
    'succeeded, $8 of $10: its result is kept, the budget recomputed, b runs; the pipeline succeeds',
    async () => {
      const { fake, result, error, aChildStatus } = await runRace((id) =>
        job(id, 'succeeded', { output: A_OUTPUT, metrics: { predict_time: 8 } }),
      );
      console.log(
        `budget race: pipeline ${error ? `failed (${failureOf(error).type})` : 'succeeded'}, ${fake.calls.creates.length} predictions created, b ${fake.calls.creates.length > 1 ? 'ran' : 'never ran'}`,
      );
      expect(error).toBeUndefined();
      expect(fake.calls.cancels).toEqual(['p-1']); // the timer fired and the cancel reached Replicate
      expect(fake.calls.gets.filter((g) => g === 'p-1')).toHaveLength(2); // before poll 3
      // the parent got the child's result although it had asked it to cancel: the child completed
      expect(aChildStatus).toBe('COMPLETED');
      expect(result!.steps.a).toMatchObject({
        status: 'succeeded',
        predictionIds: ['p-1'],
        outputs: [A_OUTPUT],
      });
      expect(result!.steps.b).toMatchObject({ status: 'succeeded', predictionIds: ['p-2'] });
      expect(fake.calls.creates.map((c) => c.id)).toEqual(['p-1', 'p-2']);
      expect(result!.cost).toMatchObject({ totalPredictTime: 9, estimatedUsd: 9 });
      expect(result!.cost.budget).toMatchObject({
        usd: 10,
        completedUsd: 9,
        canceledUsd: 0,
        canceledPredictionIds: [],
        running: [],
        exceeded: null,
      });
    },
  );

  it.sequential(
    'succeeded, but $10.02 of $10: its result and files are kept, nothing new starts, BudgetExceeded',
    async () => {
      const { fake, error } = await runRace(
        (id) => job(id, 'succeeded', { output: A_OUTPUT, metrics: { predict_time: 10.02 } }),
        true,
      );
      const failure = failureOf(error);
      expect(failure.type, failure.message).toBe(BudgetFailureType.Exceeded);
      expect(failure.message).toBe(
        'pipeline race reached its budget of $10: $10.02 spent ($10.02 by ended jobs, nothing was running) and nothing new started',
      );
      const report = failure.details?.[0] as PipelineResult;
      // its files persisted although the crossing then stopped the pipeline (fail-fast)
      expect(report.steps.a).toMatchObject({
        status: 'succeeded',
        predictionIds: ['p-1'],
        outputs: [A_OUTPUT],
        files: ['a/0.png'],
      });
      expect(report.manifest).toMatchObject({
        path: '/outputs/race/manifest.json',
        files: [{ step: 'a', predictionId: 'p-1', path: 'a/0.png' }],
      });
      expect(report.steps.b).toMatchObject({
        status: 'skipped',
        error: 'skipped: the budget of $10 was reached',
      });
      expect(fake.calls.creates.map((c) => c.id)).toEqual(['p-1']);
      expect(report.cost.budget).toMatchObject({
        completedUsd: 10.02,
        canceledUsd: 0,
        canceledPredictionIds: [],
      });
      expect(report.cost.budget!.exceeded).toMatchObject({
        spentUsd: 10.02,
        completedUsd: 10.02,
        runningUsd: 0,
        steps: [],
        predictionIds: [],
      });
    },
  );

  it.sequential(
    'failed, $6: a fails as failed (its cost counted), the budget is not exceeded, b is skipped (fail-fast)',
    async () => {
      const { fake, error } = await runRace((id) =>
        job(id, 'failed', { error: 'CUDA out of memory', metrics: { predict_time: 6 } }),
      );
      const failure = failureOf(error);
      expect(failure.type, failure.message).toBe('PipelineFailed');
      const report = failure.details?.[0] as PipelineResult;
      expect(report.steps.a).toMatchObject({
        status: 'failed',
        error: 'prediction p-1 failed: CUDA out of memory',
      });
      expect(report.steps.b).toMatchObject({
        status: 'skipped',
        error: 'skipped: another step failed (fail-fast)',
      });
      expect(fake.calls.creates.map((c) => c.id)).toEqual(['p-1']);
      expect(report.cost.budget).toMatchObject({ completedUsd: 6, canceledUsd: 0, exceeded: null });
    },
  );
});
