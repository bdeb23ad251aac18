/**
 * Long outages and late or misdirected news, on Temporal's time-skipping test server with fake activities (the
 * samples' style): minutes of workflow time in seconds. The fakes read the server's clock, so "an outage from
 * 10 s to 160 s" means workflow time, exactly.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activities } from '../../src/activities';
import { ReplicateTransientType } from '../../src/shared/failures';
import type { JobKind } from '../../src/shared/types';
import { runPrediction, webhookSignal } from '../../src/workflows';
import { job } from '../workflows/fakes';
import { timeSkipping } from '../workflows/env';

let env: TestWorkflowEnvironment;
let workflowBundle: { code: string };

beforeAll(async () => ({ env, workflowBundle } = await timeSkipping()));
afterAll(async () => {
  await env?.teardown();
});

/** A fake Replicate in workflow time: the job runs `durationMs`; GETs fail with 503 inside `outage`. */
function fakeReplicate(options: { durationMs: number; outage: [number, number] }) {
  const calls = { creates: 0, gets: 0, failedGets: 0, cancels: 0, getTimes: [] as number[] };
  let t0 = 0;
  const activities: Pick<Activities, 'createPrediction' | 'getPrediction' | 'cancelPrediction'> = {
    async createPrediction() {
      calls.creates++;
      t0 = await env.currentTimeMs();
      return job('p-outage', 'starting');
    },
    async getPrediction(id: string, _kind?: JobKind) {
      const now = (await env.currentTimeMs()) - t0;
      calls.gets++;
      calls.getTimes.push(now);
      if (now >= options.outage[0] && now < options.outage[1]) {
        calls.failedGets++;
        throw ApplicationFailure.create({
          type: ReplicateTransientType.ServerError,
          message: 'Replicate get prediction failed with a server error (503); will retry',
        });
      }
      return job(id, now >= options.durationMs ? 'succeeded' : 'processing');
    },
    async cancelPrediction(id: string) {
      calls.cancels++;
      return job(id, 'canceled');
    },
  };
  return { calls, activities, t0: () => t0 };
}

describe('outages', () => {
  it('a 150 s GET outage in the middle of a 20 s prediction: succeeded, one create, zero cancels, noticed within 60 s of recovery', async () => {
    const fake = fakeReplicate({ durationMs: 20_000, outage: [10_000, 160_000] });
    const taskQueue = `outage-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      activities: fake.activities,
    });
    const { result, closeTime } = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(runPrediction, {
        taskQueue,
        workflowId: `outage-${randomUUID()}`,
        workflowExecutionTimeout: '30m',
        args: [{ model: 'acme/slow', input: { prompt: 'x' }, searchAttributes: false }],
      });
      const result = await handle.result();
      return { result, closeTime: (await handle.describe()).closeTime! };
    });

    expect(result.status).toBe('succeeded');
    expect(fake.calls.creates).toBe(1);
    expect(fake.calls.cancels).toBe(0);
    // The outage really spanned the GETs: several failed, the last one at least 140 s into it.
    expect(fake.calls.failedGets).toBeGreaterThanOrEqual(3);
    expect(Math.max(...fake.calls.getTimes.filter((t) => t < 160_000))).toBeGreaterThan(140_000);
    // Completion noticed within 60 s of the recovery (160 s after the create).
    expect(closeTime.getTime() - fake.t0() - 160_000).toBeLessThan(60_000);
  }, 150_000);
});

describe('webhook news', () => {
  type Fakes = Pick<Activities, 'createPrediction' | 'getPrediction' | 'cancelPrediction'>;
  async function run(activities: Fakes, fn: (workflowId: string) => Promise<void>, request = {}) {
    const taskQueue = `news-${randomUUID()}`;
    const workflowId = `news-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      activities,
    });
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start(runPrediction, {
        taskQueue,
        workflowId,
        workflowExecutionTimeout: '30m',
        args: [{ model: 'acme/slow', input: { prompt: 'x' }, searchAttributes: false, ...request }],
      });
      await fn(workflowId);
      const result = await handle.result();
      const { startTime, closeTime } = await handle.describe();
      return { result, workflowMs: closeTime!.getTime() - startTime.getTime() };
    });
  }

  it("a signed webhook about another prediction is ignored and does not block the run's own completion", async () => {
    const calls = { gets: 0, created: false };
    const { result, workflowMs } = await run(
      {
        async createPrediction() {
          calls.created = true;
          return { ...job('p-own', 'starting'), webhook: true };
        },
        async getPrediction(id: string) {
          calls.gets++;
          return job(id, 'succeeded');
        },
        async cancelPrediction(id: string) {
          return job(id, 'canceled');
        },
      },
      async (workflowId) => {
        await expect.poll(() => calls.created, { timeout: 10_000, interval: 20 }).toBe(true);
        const handle = env.client.workflow.getHandle(workflowId);
        await handle.signal(webhookSignal, job('p-other', 'succeeded'));
        await handle.signal(webhookSignal, job('p-own', 'succeeded', { output: 'mine' }));
      },
    );
    expect(result).toMatchObject({ id: 'p-own', output: 'mine' });
    expect(calls.gets).toBe(0); // ended on its own webhook, without waiting for the fallback poll
    expect(workflowMs).toBeLessThan(30_000);
  });

  it('continue-as-new keeps the webhook mode (fallback polling, not 3 s) and loses no webhook news', async () => {
    const getTimes: number[] = [];
    let t0 = 0;
    let workflowId = '';
    const { result } = await run(
      {
        async createPrediction() {
          t0 = await env.currentTimeMs();
          return { ...job('p-long', 'starting'), webhook: true };
        },
        async getPrediction(id: string) {
          const now = (await env.currentTimeMs()) - t0;
          getTimes.push(now);
          // The completion webhook lands while this poll runs, just before the run continues as new.
          if (getTimes.length === 2)
            await env.client.workflow.getHandle(workflowId).signal(webhookSignal, job(id, 'succeeded'));
          return job(id, 'processing');
        },
        async cancelPrediction(id: string) {
          return job(id, 'canceled');
        },
      },
      async (id) => {
        workflowId = id;
      },
      { maxPollsPerRun: 1 },
    );
    expect(result).toMatchObject({ id: 'p-long', status: 'succeeded' });
    // Fallback polling in every run of the chain: the second GET waited the schedule's 120 s, not 3-4.5 s.
    expect(getTimes).toHaveLength(2);
    expect(getTimes[1]! - getTimes[0]!).toBeGreaterThanOrEqual(110_000);
    // The completion webhook that arrived while the run was about to continue as new was not lost: no third GET.
  });
});
