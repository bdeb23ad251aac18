/**
 * The rules of the fleet-wide rate limits, without a server: what REPLICATE_CREATE_RPM / REPLICATE_READ_RPM become,
 * the rate asked of Temporal (no 60 s window can hold more than the budget), the reads Worker, the create's bound on
 * non-429 failures, and the simulator's 429 storm.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { ReplicateSimulator } from '../../simulator';
import { createActivities } from '../../src/activities';
import { ConfigError, readReplicateRateLimits, readWorkerConfig } from '../../src/config';
import type { PredictionSnapshot } from '../../src/shared/types';
import { workerOptions } from '../../src/worker';
import {
  READ_ACTIVITIES,
  SERVER_TASK_QUEUE_PARTITIONS,
  localReadsPerMinute,
  queuedReadsPerMinute,
  readsTaskQueue,
  readsWorkerOptions,
  serverRatePerSecond,
} from '../../src/worker/flow-control';

const base = { REPLICATE_API_TOKEN: 'r8_test' };

describe('REPLICATE_CREATE_RPM and REPLICATE_READ_RPM', () => {
  it('default to 600 and 3,000 a minute', () => {
    expect(readReplicateRateLimits({})).toEqual({
      createsPerMinute: 600,
      readsPerMinute: 3000,
      localReadShare: 0.9,
    });
  });

  it('take a number or off', () => {
    expect(readReplicateRateLimits({ REPLICATE_CREATE_RPM: '60', REPLICATE_READ_RPM: 'off' })).toEqual({
      createsPerMinute: 60,
      readsPerMinute: null,
      localReadShare: 0.9,
    });
  });

  it('REPLICATE_READ_LOCAL_SHARE takes 0 to 0.9 and names the variable and the fix otherwise', () => {
    expect(readReplicateRateLimits({ REPLICATE_READ_LOCAL_SHARE: '0' }).localReadShare).toBe(0);
    expect(readReplicateRateLimits({ REPLICATE_READ_LOCAL_SHARE: '0.5' }).localReadShare).toBe(0.5);
    for (const raw of ['1', '-0.1', 'most'])
      expect(() => readReplicateRateLimits({ REPLICATE_READ_LOCAL_SHARE: raw })).toThrow(
        `REPLICATE_READ_LOCAL_SHARE="${raw}" must be a decimal number from 0 to 0.9 (the part of REPLICATE_READ_RPM the workers spend on local polls; 0 = every poll on the reads queue)`,
      );
  });

  it.each(['0', '-5', 'fast', '0.5'])('refuse %s naming the variable and the fix', (raw) => {
    expect(() => readReplicateRateLimits({ REPLICATE_READ_RPM: raw })).toThrow(ConfigError);
    expect(() => readReplicateRateLimits({ REPLICATE_READ_RPM: raw })).toThrow(
      `REPLICATE_READ_RPM="${raw}" must be a whole number from 1 to 1,000,000 (calls a minute for the whole fleet, default 3000), in plain digits, or off`,
    );
  });

  it("set the workflows' queue rate from the creates budget; MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND can only lower it", () => {
    expect(readWorkerConfig(base).maxTaskQueueActivitiesPerSecond).toBeCloseTo(serverRatePerSecond(600));
    expect(
      readWorkerConfig({ ...base, MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND: '2' })
        .maxTaskQueueActivitiesPerSecond,
    ).toBe(2);
    expect(
      readWorkerConfig({ ...base, MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND: '50' })
        .maxTaskQueueActivitiesPerSecond,
    ).toBeCloseTo(serverRatePerSecond(600));
  });

  it("REPLICATE_CREATE_RPM=off means no rate limit on the workflows' queue (unless MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND)", () => {
    const off = readWorkerConfig({ ...base, REPLICATE_CREATE_RPM: 'off' });
    expect(off.maxTaskQueueActivitiesPerSecond).toBeUndefined();
    // the Worker then asks the server for no limit at all
    const options = workerOptions(off, {} as NativeConnection);
    expect(options.taskQueue).toBe(off.taskQueue);
    expect(options).not.toHaveProperty('maxTaskQueueActivitiesPerSecond');
    const limited = readWorkerConfig({
      ...base,
      REPLICATE_CREATE_RPM: 'off',
      MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND: '20',
    });
    expect(limited.maxTaskQueueActivitiesPerSecond).toBe(20);
    expect(workerOptions(limited, {} as NativeConnection).maxTaskQueueActivitiesPerSecond).toBe(20);
  });
});

describe('serverRatePerSecond', () => {
  it.each([6, 12, 60, 600, 3000])(
    '%i a minute: a full burst on every partition plus 60 s of refill stays within the budget',
    (perMinute) => {
      const rate = serverRatePerSecond(perMinute);
      const burstPerPartition = Math.max(1, Math.ceil(rate / SERVER_TASK_QUEUE_PARTITIONS));
      const worstWindow = rate * 60 + burstPerPartition * SERVER_TASK_QUEUE_PARTITIONS;
      if (perMinute >= 12) expect(worstWindow).toBeLessThanOrEqual(perMinute);
      expect(rate).toBeGreaterThanOrEqual(perMinute / 60 / 4);
      expect(rate).toBeLessThan(perMinute / 60);
    },
  );

  it('uses most of the budget at the defaults', () => {
    expect(serverRatePerSecond(3000) * 60).toBeGreaterThan(2700);
    expect(serverRatePerSecond(600) * 60).toBeGreaterThan(540);
    expect(serverRatePerSecond(60) * 60).toBeGreaterThan(50);
  });
});

describe('readsWorkerOptions', () => {
  const limits = (readsPerMinute: number | null, localReadShare?: number) => ({
    createsPerMinute: 600,
    readsPerMinute,
    ...(localReadShare === undefined ? {} : { localReadShare }),
  });

  it('serves only the read activities of the main Worker on <taskQueue>-replicate-reads, at the reads rate', () => {
    const activities = createActivities({ token: 't', baseUrl: 'http://127.0.0.1:1/v1' });
    const main = { taskQueue: 'q', namespace: 'ns', activities, shutdownGraceTime: 1000 } as WorkerOptions;
    const reads = readsWorkerOptions(main, limits(3000, 0));
    expect(reads.taskQueue).toBe('q-replicate-reads');
    expect(readsTaskQueue('q')).toBe('q-replicate-reads');
    expect(Object.keys(reads.activities!).sort()).toEqual([...READ_ACTIVITIES].sort());
    expect((reads.activities as Record<string, unknown>).getPrediction).toBe(activities.getPrediction);
    expect(reads.maxTaskQueueActivitiesPerSecond).toBeCloseTo(serverRatePerSecond(3000));
    expect(reads.workflowsPath ?? reads.workflowBundle).toBeUndefined();
    expect(reads.shutdownGraceTime).toBe(1000);
  });

  it("keeps the main Worker's activity interceptors (traces of polls and cancels on the reads queue)", () => {
    const activities = createActivities({ token: 't', baseUrl: 'http://127.0.0.1:1/v1' });
    const activityInterceptor = () => ({});
    const main = {
      taskQueue: 'q',
      activities,
      interceptors: { activity: [activityInterceptor], workflowModules: ['w'] },
    } as WorkerOptions;
    expect(readsWorkerOptions(main, limits(3000)).interceptors).toEqual({ activity: [activityInterceptor] });
    expect(
      readsWorkerOptions({ taskQueue: 'q', activities } as WorkerOptions, limits(3000)).interceptors,
    ).toBeUndefined();
  });

  it('keeps on the queue what the local share leaves of the budget (10 % by default), under the same identity', () => {
    const activities = createActivities({ token: 't', baseUrl: 'http://127.0.0.1:1/v1' });
    const main = { taskQueue: 'q', identity: '7@host', activities } as WorkerOptions;
    expect(readsWorkerOptions(main, limits(3000)).maxTaskQueueActivitiesPerSecond).toBeCloseTo(
      serverRatePerSecond(300),
    );
    expect(readsWorkerOptions(main, limits(600, 0.5)).maxTaskQueueActivitiesPerSecond).toBeCloseTo(
      serverRatePerSecond(300),
    );
    expect(readsWorkerOptions(main, limits(3000)).identity).toBe('7@host');
    expect(localReadsPerMinute(limits(3000))).toBe(2700);
    expect(localReadsPerMinute(limits(3000, 0))).toBe(0);
    expect(localReadsPerMinute(limits(null))).toBe(0);
    expect(queuedReadsPerMinute(limits(600, 0.9))).toBeCloseTo(60);
  });

  it('with REPLICATE_READ_RPM=off still serves the queue, without a limit (runs already polling there finish)', () => {
    const activities = createActivities({ token: 't', baseUrl: 'http://127.0.0.1:1/v1' });
    const reads = readsWorkerOptions({ taskQueue: 'q', activities } as WorkerOptions, limits(null));
    expect(reads.taskQueue).toBe('q-replicate-reads');
    expect(reads.maxTaskQueueActivitiesPerSecond).toBeUndefined();
  });
});

describe('createPrediction: one POST, and what a failed attempt may have created', () => {
  const args = () => ({
    model: 'sim/echo',
    input: { a: 1 },
    cancelAt: new Date(Date.now() + 600_000).toISOString(),
    requestedAt: new Date().toISOString(),
  });

  async function attempt(faults: object, n: number) {
    const sim = new ReplicateSimulator({ token: 't', faults });
    await sim.start();
    try {
      const acts = createActivities({
        token: 't',
        baseUrl: sim.baseUrl,
        readsTaskQueue: 'q-replicate-reads',
      });
      const env = new MockActivityEnvironment({
        attempt: n,
        workflowExecution: { workflowId: 'w', runId: 'r' },
      });
      return await env.run(acts.createPrediction, args()).then(
        (value) => ({ value: value as PredictionSnapshot, error: undefined }),
        (error: { type?: string; nonRetryable?: boolean }) => ({ value: undefined, error }),
      );
    } finally {
      await sim.stop();
    }
  }

  it('names the reads queue in its answer', async () => {
    const { value } = await attempt({}, 1);
    expect(value?.readsTaskQueue).toBe('q-replicate-reads');
  });

  it.each([
    ['a 429', { rateLimitNext: 1 }, 'ReplicateRateLimited', 'not-created'],
    [
      'a reset before the create was stored',
      { resetBeforeStoreRate: 1 },
      'ReplicateNetworkError',
      'may-have-committed',
    ],
    [
      'a reset after it was stored',
      { resetAfterStoreRate: 1 },
      'ReplicateNetworkError',
      'may-have-committed',
    ],
    ['a 5xx', { serverErrorRate: 1, serverErrorRoutes: 'all' }, 'ReplicateServerError', 'may-have-committed'],
  ])('%s: retryable, createOutcome %s', async (_name, faults, type, outcome) => {
    const { error } = await attempt(faults, 1);
    expect(error).toMatchObject({ type, nonRetryable: false });
    expect((error as { details?: { createOutcome?: string }[] }).details?.[0]?.createOutcome).toBe(outcome);
  });

  it('a connection never made: not created', async () => {
    // a port nothing listens on: the connection is refused, the body never leaves
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const acts = createActivities({ token: 't', baseUrl: `http://127.0.0.1:${port}/v1` });
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: 'w', runId: 'r' } });
    const error = (await env.run(acts.createPrediction, args()).catch((e: unknown) => e)) as {
      type?: string;
      details?: { createOutcome?: string }[];
    };
    expect(error.type).toBe('ReplicateNetworkError');
    expect(error.details?.[0]?.createOutcome).toBe('not-created');
  });
});

describe('simulator: rateLimitUntilMs', () => {
  it('answers every request 429 until then, then serves again', async () => {
    let now = 1_000_000;
    const sim = new ReplicateSimulator({
      token: 't',
      now: () => now,
      faults: { rateLimitUntilMs: now + 60_000 },
    });
    await sim.start();
    try {
      const get = () => fetch(`${sim.baseUrl}/predictions`, { headers: { authorization: 'Bearer t' } });
      expect((await get()).status).toBe(429);
      now += 59_999;
      expect((await get()).status).toBe(429);
      now += 1;
      expect((await get()).status).toBe(200);
    } finally {
      await sim.stop();
    }
  });
});
