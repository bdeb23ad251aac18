/**
 * Fleet-wide rate limits (src/worker/flow-control.ts) on a real dev server with the simulator: two worker sets on one task
 * queue (each the workflows' Worker plus the reads Worker, as `npm run worker` starts them, with distinct
 * identities) share one server-side limit per queue and split the local reads (src/worker/read-share.ts); a long 429
 * storm only delays runs. Real time: the limits are the server's, so nothing can be skipped. The five tests mostly wait
 * (20 s jobs, a minute's limits, 30 s storms), each on its own task queue and simulator, so they run at once: about
 * 75 s for the file instead of 5 minutes one after the other.
 */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import {
  DefaultLogger,
  makeTelemetryFilterString,
  NativeConnection,
  Runtime,
  Worker,
} from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicateSimulator, type RecordedRequest } from '../../simulator';
import type { WorkerConfig } from '../../src/config';
import { freePort, startDevServer, type DevServer } from '../../src/dev/dev-server';
import { serverRatePerSecond } from '../../src/worker/flow-control';
import type { PredictionRequest } from '../../src/shared/types';
import { startWebhookReceiver } from '../../src/webhooks';
import { runPrediction } from '../../src/workflows';
import { workerOptionsAll } from '../../src/worker';
import { sharedWorkflowBundle } from '../helpers/shared-bundle';

const TOKEN = 'sim-rate-limit-token';
const WEBHOOK_SECRET = `whsec_${Buffer.from('rate-limits-test-webhook-secret!').toString('base64')}`;
const READ_ROUTES = new Set([
  'predictions.get',
  'predictions.list',
  'predictions.cancel',
  'trainings.get',
  'trainings.list',
  'trainings.cancel',
]);
/** A 429 storm outlasts several Retry-After waits (4 s) and the runs' 20 s jobs, and ends well before their 3 min ceilings. */
const STORM_MS = 30_000;
const CREATE_ROUTES = new Set(['predictions.create', 'models.predictions.create', 'trainings.create']);

/** The most requests in any window of `windowMs` (times in ms, any order). */
function maxInWindow(times: number[], windowMs = 60_000): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi]! - sorted[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** Wait (checking every 100 ms) until `condition` holds; fail after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > giveUpAt) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const timesOf = (requests: RecordedRequest[], routes: Set<string>): number[] =>
  requests.filter((r) => routes.has(r.route)).map((r) => r.at);

let server: DevServer;
let client: Client;
let workflowBundle: { code: string };

beforeAll(async () => {
  // Core's warnings (slow workflow tasks on a loaded machine) would go straight to stderr: errors only
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
  const port = await freePort();
  server = await startDevServer({ port, uiPort: null });
  client = new Client({ connection: await Connection.connect({ address: server.address }) });
  workflowBundle = await sharedWorkflowBundle();
});

afterAll(async () => {
  await server?.stop();
});

/** A simulator of its own for one test: the tests run at once, and each counts and faults its own requests. */
async function withSimulator<T>(fn: (sim: ReplicateSimulator) => Promise<T>): Promise<T> {
  const sim = new ReplicateSimulator({
    token: TOKEN,
    models: { 'sim/twenty': { startDelayMs: 0, durationMs: 20_000, output: 'done' } },
    webhookSecret: WEBHOOK_SECRET,
  });
  await sim.start();
  try {
    return await fn(sim);
  } finally {
    await sim.stop();
  }
}

/**
 * `count` worker sets (as `npm run worker` builds them: each its own identity, which the local reads' share counts)
 * on a fresh queue while `fn` runs; `fn` gets the queue and the sets' identities.
 */
async function withWorkerSets<T>(
  sim: ReplicateSimulator,
  count: number,
  limits: { createsPerMinute: number | null; readsPerMinute: number | null },
  fn: (taskQueue: string, identities: string[]) => Promise<T>,
  webhookBaseUrl?: string,
): Promise<T> {
  const taskQueue = `rate-${randomUUID()}`;
  const config: WorkerConfig = {
    address: server.address,
    namespace: 'default',
    taskQueue,
    replicateToken: TOKEN,
    replicateBaseUrl: sim.baseUrl,
    // what readWorkerConfig derives from REPLICATE_CREATE_RPM
    maxTaskQueueActivitiesPerSecond:
      limits.createsPerMinute === null ? 1000 : serverRatePerSecond(limits.createsPerMinute),
    replicateRateLimits: limits,
    shutdownGraceTimeMs: 1000,
    outputDir: path.join(tmpdir(), `rate-limits-${randomUUID()}`),
    webhook: webhookBaseUrl ? { baseUrl: webhookBaseUrl, port: null, secret: null } : null,
    reconcileEveryMs: null,
  };
  const workers: Worker[] = [];
  const identities: string[] = [];
  // one connection per set, as separate processes would have (the SDK refuses two Workers of one queue on one)
  const connections: NativeConnection[] = [];
  for (let n = 1; n <= count; n++) {
    const own = await NativeConnection.connect({ address: server.address });
    connections.push(own);
    for (const options of workerOptionsAll(config, own)) {
      const { workflowsPath: _path, ...rest } = options;
      // the workflows' Worker gets the bundle built once; the reads Worker runs activities only
      workers.push(await Worker.create(options.taskQueue === taskQueue ? { ...rest, workflowBundle } : rest));
    }
    identities.push(workers.at(-1)!.options.identity);
  }
  const runs = workers.map((w) => w.run());
  try {
    return await fn(taskQueue, identities);
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(runs);
    for (const c of connections) await c.close();
  }
}

function start(taskQueue: string, request: PredictionRequest, timeout = '10m') {
  return client.workflow.start(runPrediction, {
    taskQueue,
    workflowId: `rate-${randomUUID()}`,
    workflowExecutionTimeout: timeout,
    args: [request],
  });
}

/**
 * `count` runs of 20 s jobs created, then a 429 storm of STORM_MS on every route (Retry-After 4 s), then `count`
 * more runs started during it: the early runs (polling or waiting on webhooks), the late ones, and when it ends.
 */
async function stormDuringRuns(sim: ReplicateSimulator, taskQueue: string, count: number) {
  const startRuns = () =>
    Promise.all(
      Array.from({ length: count }, () => start(taskQueue, { model: 'sim/twenty', input: {} }, '3m')),
    );
  const early = await startRuns();
  await until(() => sim.creates() === count, 30_000);
  const stormEnds = Date.now() + STORM_MS;
  sim.setFaults({ rateLimitUntilMs: stormEnds, rateLimitStyle: 'header', rateLimitRetryAfterSeconds: 4 });
  const late = await startRuns();
  return { early, late, stormEnds };
}

/** The polls of a run that were local activities (the tries of `tryGetPrediction`, answered or not). */
async function localTries(workflowId: string): Promise<number> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).filter(
    (e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
  ).length;
}

interface ActivityStart {
  type: string;
  queue: string;
  identity: string;
  attempt: number;
  /** when the server handed the task to a worker (its clock, ms) */
  at: number;
}

/** Workers (identity) that started activities of this type, per task queue, and when, from the run's history. */
async function activityStarts(workflowId: string): Promise<ActivityStart[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<string, { type: string; queue: string }>();
  const starts: ActivityStart[] = [];
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s)
      scheduled.set(String(e.eventId), { type: s.activityType?.name ?? '', queue: s.taskQueue?.name ?? '' });
    const t = e.activityTaskStartedEventAttributes;
    if (t) {
      const of = scheduled.get(String(t.scheduledEventId))!;
      const at = Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6);
      starts.push({ ...of, identity: t.identity ?? '', attempt: t.attempt ?? 1, at });
    }
  }
  return starts;
}

describe.concurrent('fleet-wide rate limits', () => {
  it(
    'REPLICATE_READ_RPM=60 with two worker sets: thirty 20 s predictions all succeed, at most 60 reads in any 60 s window',
    () =>
      withSimulator(async (sim) => {
        await withWorkerSets(
          sim,
          2,
          { createsPerMinute: 600, readsPerMinute: 60 },
          async (taskQueue, sets) => {
            const handles = await Promise.all(
              Array.from({ length: 30 }, () => start(taskQueue, { model: 'sim/twenty', input: {} })),
            );
            const results = await Promise.all(handles.map((h) => h.result()));
            expect(results.map((r) => r.status)).toEqual(Array(30).fill('succeeded'));
            const reads = timesOf(sim.requests, READ_ROUTES);
            const busiest = maxInWindow(reads);
            expect(reads.length).toBeGreaterThanOrEqual(30); // at least one poll per run
            expect(busiest).toBeLessThanOrEqual(60);
            // Each worker set reads within its share of the local 90 % (27 in any 60 s, at once if asked at once: the
            // thirty first polls fall due within a second of each other, 3 s after each create); a poll past it waits on a
            // timer for its turn, so no 60 s holds more than the two shares and the reads queue's 10 %.
            expect(sim.creates()).toBe(30);
            // every poll was a local activity within a set's share (each set could list the fleet): none on the queue
            const starts = (await Promise.all(handles.map((h) => activityStarts(h.workflowId)))).flat();
            const queued = starts.filter((s) => s.type === 'getPrediction');
            const gets = sim.requests.filter((r) => r.route === 'predictions.get').length;
            const polls = results.reduce((n, r) => n + r.polls, 0);
            expect(gets).toBe(polls);
            expect(queued).toEqual([]);
            const tries = await Promise.all(handles.map((h) => localTries(h.workflowId)));
            // waits for the share made some polls ask more than once
            expect(tries.reduce((a, b) => a + b, 0)).toBeGreaterThan(polls);
            expect(new Set(sets).size).toBe(2);
            console.log(
              `reads ${reads.length}, busiest 60 s ${busiest}, busiest 10 s ${maxInWindow(reads, 10_000)}, polls ${polls}, local tries ${tries.reduce((a, b) => a + b, 0)}`,
            );
          },
        );
      }),
    300_000,
  );

  it(
    'far under REPLICATE_READ_RPM, polls are local activities: no poll goes through the reads queue',
    () =>
      withSimulator(async (sim) => {
        await withWorkerSets(
          sim,
          2,
          { createsPerMinute: 600, readsPerMinute: 3000 },
          async (taskQueue, sets) => {
            // the sets count each other before they read locally (read-share.ts: one refresh after seeing themselves
            // listed); a first wave of runs (about 25 s) outlasts that
            const plain = { predictive: false };
            const first = await Promise.all(
              Array.from({ length: 4 }, () =>
                start(taskQueue, { model: 'sim/twenty', input: {}, polling: plain }),
              ),
            );
            await Promise.all(first.map((h) => h.result()));
            const handles = await Promise.all(
              Array.from({ length: 20 }, () =>
                start(taskQueue, { model: 'sim/twenty', input: {}, polling: plain }),
              ),
            );
            const results = await Promise.all(handles.map((h) => h.result()));
            expect(results.map((r) => r.status)).toEqual(Array(20).fill('succeeded'));
            const starts = (await Promise.all(handles.map((h) => activityStarts(h.workflowId)))).flat();
            expect(starts.filter((s) => s.type === 'getPrediction')).toEqual([]);
            const polls = results.reduce((n, r) => n + r.polls, 0);
            expect(polls).toBe(20 * 4); // the backoff's 3, 7.5, 14.25 and 24.4 s
            const tries = await Promise.all(handles.map((h) => localTries(h.workflowId)));
            expect(tries.reduce((a, b) => a + b, 0)).toBe(polls);
            expect(new Set(sets).size).toBe(2);
          },
        );
      }),
    300_000,
  );

  it(
    'REPLICATE_CREATE_RPM=120 with two worker sets: forty runs started at once all succeed, their creates spread at the fleet rate',
    () =>
      withSimulator(async (sim) => {
        await withWorkerSets(sim, 2, { createsPerMinute: 120, readsPerMinute: 3000 }, async (taskQueue) => {
          const handles = await Promise.all(
            Array.from({ length: 40 }, (_, n) => start(taskQueue, { model: 'sim/echo', input: { n } })),
          );
          const results = await Promise.all(handles.map((h) => h.result()));
          expect(results.map((r) => r.status)).toEqual(Array(40).fill('succeeded'));
          const creates = timesOf(sim.requests, CREATE_ROUTES);
          expect(creates.length).toBe(40);
          expect(maxInWindow(creates)).toBeLessThanOrEqual(120);
          // forty creates asked for at once (unlimited: within a second); the server let them through at 1.83/s after
          // a burst of at most 4, so no 10 s window of its hand-outs holds more than 23, and the forty reached
          // Replicate over at least (40 - 4) / 1.83 s. (The hand-outs by the server's clock, from the histories: on a
          // loaded machine a worker that stalls sends two tasks handed out apart at once, 24 in 10 s seen here.)
          const handedOut = (await Promise.all(handles.map((h) => activityStarts(h.workflowId))))
            .flat()
            .filter((s) => s.type === 'createPrediction')
            .map((s) => s.at);
          expect(handedOut).toHaveLength(40);
          expect(maxInWindow(handedOut, 10_000)).toBeLessThanOrEqual(23);
          expect(Math.max(...creates) - Math.min(...creates)).toBeGreaterThan(15_000);
          console.log(
            `creates span ${Math.round((Math.max(...creates) - Math.min(...creates)) / 1000)} s, busiest 10 s ${maxInWindow(handedOut, 10_000)} handed out, ${maxInWindow(creates, 10_000)} at Replicate`,
          );
        });
      }),
    180_000,
  );

  it(
    'a 30 s 429 storm on every route: runs already polling and runs created during it all succeed before their deadline, one prediction each',
    () =>
      withSimulator(async (sim) => {
        await withWorkerSets(sim, 2, { createsPerMinute: 600, readsPerMinute: 3000 }, async (taskQueue) => {
          const { early, late, stormEnds } = await stormDuringRuns(sim, taskQueue, 3);
          const handles = [...early, ...late];
          const results = await Promise.all(handles.map((h) => h.result()));
          expect(results.map((r) => r.status)).toEqual(Array(6).fill('succeeded'));
          // one prediction per run, the late ones created only after the storm
          const created = sim.requests.filter((r) => CREATE_ROUTES.has(r.route) && r.status === 201);
          expect(created.length).toBe(6);
          expect(created.filter((r) => r.at >= stormEnds).length).toBe(3);
          const throttled = sim.requests.filter((r) => r.status === 429);
          // every late create was retried through the storm, each attempt after its Retry-After (4 s) and the backoff
          // (1, 2, 4, 8 s…): at 0, 4, 8, 12 and 20 s, then created after it
          expect(throttled.filter((r) => CREATE_ROUTES.has(r.route)).length).toBeGreaterThanOrEqual(3 * 5);
          expect(throttled.filter((r) => READ_ROUTES.has(r.route)).length).toBeGreaterThan(0);
          // a 429 provably created nothing: no create ever searched for a lost job
          expect(sim.requests.filter((r) => r.route.endsWith('.list'))).toEqual([]);
          for (const h of late) {
            const attempts = (await activityStarts(h.workflowId)).filter(
              (s) => s.type === 'createPrediction',
            );
            expect(attempts.length).toBeGreaterThanOrEqual(6); // one activity per attempt, the last one after the storm
          }
        });
      }),
    240_000,
  );
  it(
    'with webhooks, a 30 s 429 storm: running jobs finish on their webhook during it, creates wait it out',
    () =>
      withSimulator(async (sim) => {
        // the secret is given: fetching it from Replicate would be throttled too
        const receiver = await startWebhookReceiver({
          client,
          port: 0,
          host: '127.0.0.1',
          secret: WEBHOOK_SECRET,
          replicate: { token: TOKEN, baseUrl: sim.baseUrl },
        });
        try {
          await withWorkerSets(
            sim,
            2,
            { createsPerMinute: 600, readsPerMinute: 3000 },
            async (taskQueue) => {
              const { early, late, stormEnds } = await stormDuringRuns(sim, taskQueue, 2);
              const results = await Promise.all([...early, ...late].map((h) => h.result()));
              expect(results.map((r) => r.status)).toEqual(Array(4).fill('succeeded'));
              for (const h of early)
                expect((await h.describe()).closeTime!.getTime()).toBeLessThan(stormEnds);
              const created = sim.requests.filter((r) => CREATE_ROUTES.has(r.route) && r.status === 201);
              expect(created.length).toBe(4);
              expect(created.filter((r) => r.at >= stormEnds).length).toBe(2);
              expect(sim.requests.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(2 * 5);
              expect(sim.requests.filter((r) => r.route.endsWith('.list'))).toEqual([]);
            },
            receiver.origin,
          );
        } finally {
          await receiver.stop();
        }
      }),
    240_000,
  );
});
