/**
 * Per-model concurrency (model-concurrency-v1) end to end: a dev server, the Replicate simulator and real workers
 * with REPLICATE_MODEL_CONCURRENCY. Every claim about "at most N at once" is checked against the simulator's own
 * record of each prediction (created_at .. completed_at), not against what our code believes.
 * (Temporal's time-skipping test server loses track of its time locks around signal-with-start and external
 * signals, "Unbalanced lock and unlock calls", so the limiter is tested here, in real time, with short jobs.)
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CancelledFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlotActivities } from '../../src/activities/slots';
import { startPipeline } from '../../src/client';
import type { WorkerConfig } from '../../src/config';
import { PredictionFailureType } from '../../src/shared/failures';
import { validatePipelineSpec } from '../../src/shared/pipeline/validate';
import { slotsWorkflowId, type SlotAnswer, type SlotsState } from '../../src/shared/slots';
import type { Prediction, PredictionRequest } from '../../src/shared/types';
import { startWebhookReceiver, type RunningWebhookReceiver } from '../../src/webhooks';
import { runPrediction, slotsQuery, statusQuery } from '../../src/workflows';
import { workerOptions } from '../../src/worker';
import {
  FAST_POLLING,
  SECRET_TOKEN,
  cliOn,
  failureOf,
  spawnWorker,
  startTestbed,
  type Testbed,
} from '../helpers/testbed';
import { sharedWorkflowBundle } from '../helpers/shared-bundle';

let bed: Testbed;
let workflowBundle: { code: string };
let receiver: RunningWebhookReceiver;
/** each test limits its own model, so their limiters never meet */
let models = 0;

beforeAll(async () => {
  bed = await startTestbed();
  workflowBundle = await sharedWorkflowBundle();
  receiver = await startWebhookReceiver({
    client: bed.env.client,
    port: 0,
    secret: null,
    replicate: { token: SECRET_TOKEN, baseUrl: bed.sim.baseUrl },
  });
});
afterAll(async () => {
  await receiver?.stop();
  await bed?.teardown();
});

/** A fresh model for one test: jobs of `durationMs` (the 'never' prompt never ends: sim/never's script). */
function newModel(durationMs = 1_200): string {
  const model = `sim/slots-${++models}`;
  bed.sim.setModel(model, { startDelayMs: 100, durationMs, output: '$input' });
  return model;
}

/** A worker of the fleet: REPLICATE_MODEL_CONCURRENCY as `limits`, limiters checking holders every second. */
async function fleetWorker(
  taskQueue: string,
  limits: Record<string, number>,
  more: Partial<WorkerConfig> = {},
) {
  const config = { ...bed.config, taskQueue, modelConcurrency: limits, ...more };
  const { workflowsPath: _path, ...options } = workerOptions(config, bed.env.nativeConnection);
  return Worker.create({
    ...options,
    workflowBundle,
    activities: {
      ...options.activities,
      ...createSlotActivities({ client: bed.env.client, limiter: { checkEveryMs: 1_000 } }),
    },
  });
}

/**
 * `worker.runUntil(fn)`, but a failed assertion is printed at once: runUntil first drains the worker, which can take
 * long while runs are still in flight, and the test would only report its own timeout.
 */
async function during<T>(worker: Worker, fn: () => Promise<T>): Promise<T> {
  return worker.runUntil(
    fn().catch((error: unknown) => {
      console.error(error);
      throw error;
    }),
  );
}

function start(taskQueue: string, model: string, prompt: string, request: Partial<PredictionRequest> = {}) {
  return bed.start(
    { model, input: { prompt }, polling: FAST_POLLING, ...request },
    { taskQueue, workflowId: `mc-${prompt}-${randomUUID()}` },
  );
}

/** Poll `read` until `ok` (a condition on state, never a fixed sleep); 30 s at most. */
async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  const giveUp = Date.now() + 30_000;
  let last: T | undefined;
  for (;;) {
    last = await read().catch(() => undefined);
    if (last !== undefined && ok(last)) return last;
    if (Date.now() > giveUp) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const slots = (model: string) => bed.env.client.workflow.getHandle(slotsWorkflowId(model)).query(slotsQuery);
const has = (s: SlotsState, id: string) =>
  s.holders.some((h) => h.workflowId === id) || s.queue.some((w) => w.workflowId === id);

/** Start runs one after the other, each once the limiter has it, so start order and arrival order agree. */
async function startInOrder(
  queues: string[],
  model: string,
  prompts: string[],
  request: Partial<PredictionRequest> = {},
) {
  const handles: WorkflowHandle<typeof runPrediction>[] = [];
  for (const [i, prompt] of prompts.entries()) {
    const handle = await start(queues[i % queues.length]!, model, prompt, request);
    await until(
      () => slots(model),
      (s) => has(s, handle.workflowId),
      `${prompt} at the limiter`,
    );
    handles.push(handle);
  }
  return handles;
}

/** What the simulator saw of `model`: its predictions by creation time, and the most that were running at once. */
function simulatorRecord(model: string): { prompts: string[]; maxAtOnce: number; predictions: Prediction[] } {
  const predictions = bed.sim
    .predictionIds()
    .map((id) => bed.sim.prediction(id)!)
    .filter((p) => p.model === model)
    .sort((a, b) => Date.parse(a.created_at!) - Date.parse(b.created_at!));
  // +1 at created_at, -1 at completed_at (an end before a start at the same instant)
  const edges = predictions.flatMap((p) => [
    { at: Date.parse(p.created_at!), d: 1 },
    { at: p.completed_at ? Date.parse(p.completed_at) : Infinity, d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let running = 0;
  let maxAtOnce = 0;
  for (const e of edges) maxAtOnce = Math.max(maxAtOnce, (running += e.d));
  return { prompts: predictions.map((p) => String(p.input?.prompt)), maxAtOnce, predictions };
}

/** When the limiter granted the run its slot (the answer of its last `requestSlot`: position 0), by the server's clock. */
async function grantedAt(handle: WorkflowHandle): Promise<number> {
  const events = (await handle.fetchHistory()).events ?? [];
  const asks = new Set(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'requestSlot')
      .map((e) => String(e.eventId)),
  );
  for (const e of events) {
    const done = e.activityTaskCompletedEventAttributes;
    if (!done || !asks.has(String(done.scheduledEventId))) continue;
    const answer = JSON.parse(Buffer.from(done.result!.payloads![0]!.data!).toString()) as SlotAnswer;
    if (answer.position === 0)
      return Number(e.eventTime!.seconds) * 1000 + Math.floor(e.eventTime!.nanos! / 1e6);
  }
  throw new Error(`${handle.workflowId} was never granted a slot`);
}

/**
 * `npm run worker` as a process on `taskQueue` with REPLICATE_MODEL_CONCURRENCY `limits` (the file's bundle, through
 * WORKFLOW_BUNDLE, so it starts in seconds); resolves once it polls.
 */
async function workerProcess(taskQueue: string, limits: Record<string, number>, bundlePath: string) {
  const { child, output, closed } = spawnWorker(bed, taskQueue, {
    REPLICATE_MODEL_CONCURRENCY: Object.entries(limits)
      .map(([key, n]) => `${key}=${n}`)
      .join(','),
    WORKFLOW_BUNDLE: bundlePath,
  });
  await until(
    async () => output(),
    (t) => t.includes(`worker polling task queue "${taskQueue}"`) || child.exitCode !== null,
    'the worker process polling',
  );
  if (child.exitCode !== null) throw new Error(`the worker process exited: ${output()}`);
  return { child, closed, output };
}

const closedIdle = (model: string) =>
  until(
    () => slots(model),
    (s) => s.holders.length === 0 && s.queue.length === 0,
    'no slot held, nobody queued',
  );

// Each test has a model, a limiter and task queues of its own, and mostly waits on short jobs: they run at once
// (five at a time, vitest's maxConcurrency), about 40 s for the file instead of two minutes.
describe.concurrent('per-model concurrency across the fleet', () => {
  it('limit 2, five runs on two workers: at most 2 at Replicate, created in start order, positions in status and UI', async () => {
    const model = newModel(3_000);
    const [q1, q2] = [`mc-${randomUUID()}`, `mc-${randomUUID()}`];
    // two workers, each with its own queue (so both certainly work), sharing one limit through one limiter
    const [w1, w2] = [await fleetWorker(q1, { [model]: 2 }), await fleetWorker(q2, { [model]: 2 })];
    let handles: WorkflowHandle<typeof runPrediction>[] = [];
    await w1.runUntil(
      during(w2, async () => {
        handles = await startInOrder([q1, q2], model, ['r1', 'r2', 'r3', 'r4', 'r5']);
        const fourth = await until(
          () => handles[3]!.query(statusQuery),
          (s) => s.queue?.position === 2,
          'r4 told its position',
        );
        expect(fourth.queue).toEqual({ key: model, position: 2, limit: 2 });
        // the CLI and the UI say where it stands (position 1 by now if r1 or r2 has finished meanwhile)
        const line = new RegExp(`queued: position [12] for ${model} \\(limit 2\\)`);
        const { out } = await cliOn(bed, 'status', handles[3]!.workflowId);
        expect(out.join('\n')).toMatch(line);
        const meta = await handles[3]!.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
        expect(meta.currentDetails).toMatch(line);
        for (const h of handles) expect((await h.result()).status).toBe('succeeded');
        await closedIdle(model);
      }),
    );
    const record = simulatorRecord(model);
    expect(record.predictions).toHaveLength(5); // one create per run
    expect(record.maxAtOnce).toBe(2);
    expect([...record.prompts].sort()).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    // slots were granted in start order (two granted in one go may then create in either order)
    const grants = await Promise.all(handles.map(grantedAt));
    expect(grants).toEqual([...grants].sort((a, b) => a - b));
    expect(record.prompts.slice(0, 2).sort()).toEqual(['r1', 'r2']);
  });

  it('with webhooks on: same limit, runs finish by webhook and release', async () => {
    const model = newModel(800);
    const taskQueue = `mc-${randomUUID()}`;
    const worker = await fleetWorker(
      taskQueue,
      { [model]: 1 },
      {
        webhook: { baseUrl: receiver.origin, port: null, secret: null },
      },
    );
    await during(worker, async () => {
      const handles = await startInOrder([taskQueue], model, ['h1', 'h2', 'h3'], { polling: undefined });
      for (const h of handles) expect((await h.result()).status).toBe('succeeded');
      // webhooks, not polls, told them (the fallback poll is a minute away)
      for (const h of handles) expect((await h.query(statusQuery)).polls).toBe(0);
      await closedIdle(model);
    });
    const record = simulatorRecord(model);
    expect(record.maxAtOnce).toBe(1);
    expect(record.prompts).toEqual(['h1', 'h2', 'h3']);
    expect(record.predictions.every((p) => p.webhook)).toBe(true);
  });

  it('a worker stopped while runs wait: another worker continues, slots come in order, nothing leaks', async () => {
    const model = newModel(1_500);
    const taskQueue = `mc-${randomUUID()}`;
    const first = await fleetWorker(taskQueue, { [model]: 1 });
    const handles = await during(first, () => startInOrder([taskQueue], model, ['k1', 'k2', 'k3']));
    // the first worker is gone (shut down mid-run); a fresh one (a new process in production) takes over
    const second = await fleetWorker(taskQueue, { [model]: 1 });
    await during(second, async () => {
      for (const h of handles) expect((await h.result()).status).toBe('succeeded');
      await closedIdle(model);
    });
    const record = simulatorRecord(model);
    expect(record.prompts).toEqual(['k1', 'k2', 'k3']);
    expect(record.maxAtOnce).toBe(1);
  });

  it("a run canceled while queued leaves the queue, creates nothing and releases no one else's slot", async () => {
    const model = newModel(20_000);
    const taskQueue = `mc-${randomUUID()}`;
    const worker = await fleetWorker(taskQueue, { [model]: 1 });
    await during(worker, async () => {
      const [holder, waiter] = await startInOrder([taskQueue], model, ['holder', 'waiter']);
      await waiter!.cancel();
      const error = await waiter!.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      const s = await until(
        () => slots(model),
        (st) => st.queue.length === 0,
        'the waiter gone',
      );
      expect(s.holders.map((h) => h.workflowId)).toEqual([holder!.workflowId]);
      await holder!.cancel(); // its job is canceled at Replicate, its slot released
      await holder!.result().catch(() => undefined);
      await closedIdle(model);
    });
    expect(simulatorRecord(model).prompts).toEqual(['holder']);
  });

  it('a run that waits until its deadline fails as timed out without creating, and leaves the queue', async () => {
    const model = newModel(60_000);
    const taskQueue = `mc-${randomUUID()}`;
    const worker = await fleetWorker(taskQueue, { [model]: 1 });
    await during(worker, async () => {
      const [holder] = await startInOrder([taskQueue], model, ['long']);
      const waiter = await bed.start(
        { model, input: { prompt: 'late' }, polling: FAST_POLLING, deadlineMarginMs: 2_000 },
        { taskQueue, workflowExecutionTimeout: '8s' },
      );
      const { failure } = await failureOf(waiter);
      expect(failure.type).toBe(PredictionFailureType.TimedOut);
      expect(failure.message).toContain(`waited for a concurrency slot of ${model} (limit 1)`);
      expect(failure.message).toContain('nothing was created');
      const s = await slots(model);
      expect(s.queue).toEqual([]);
      expect(s.holders.map((h) => h.workflowId)).toEqual([holder!.workflowId]);
      await holder!.cancel();
      await holder!.result().catch(() => undefined);
      await closedIdle(model);
    });
    expect(simulatorRecord(model).prompts).toEqual(['long']);
  });

  it('a holder terminated without releasing: the limiter recovers its slot and the next run gets it', async () => {
    const model = newModel(60_000);
    const taskQueue = `mc-${randomUUID()}`;
    const worker = await fleetWorker(taskQueue, { [model]: 1 });
    await during(worker, async () => {
      const [holder, next] = await startInOrder([taskQueue], model, ['doomed', 'next']);
      await until(
        () => holder!.query(statusQuery),
        (s) => s.predictionId !== null,
        'the holder created',
      );
      await holder!.terminate('operator');
      // the limiter's next check (every second here) finds the holder gone and grants the slot
      await until(
        () => next!.query(statusQuery),
        (s) => s.predictionId !== null,
        'next created',
      );
      await next!.cancel();
      await next!.result().catch(() => undefined);
      await closedIdle(model); // the terminated holder's slot is gone too
    });
    expect(simulatorRecord(model).prompts).toEqual(['doomed', 'next']);
  });

  it('concurrencyLimit in the request limits without a worker setting, and a slot survives continue-as-new', async () => {
    // 5 s jobs: x's first poll must find its job still running to continue as new (with 1.5 s, a loaded machine
    // once polled it first after its end: one run, nothing continued)
    const model = newModel(5_000);
    const taskQueue = `mc-${randomUUID()}`;
    const worker = await fleetWorker(taskQueue, {});
    await during(worker, async () => {
      const handles = await startInOrder([taskQueue], model, ['x', 'y'], {
        concurrencyLimit: 1,
        maxPollsPerRun: 1,
      });
      for (const h of handles) expect((await h.result()).status).toBe('succeeded');
      // x continued as new while it held the slot (its last run's state)
      const last = bed.env.client.workflow.getHandle(handles[0]!.workflowId);
      expect((await last.query(statusQuery)).runs).toBeGreaterThan(1);
      await closedIdle(model);
    });
    const record = simulatorRecord(model);
    expect(record.prompts).toEqual(['x', 'y']);
    expect(record.maxAtOnce).toBe(1);
  });

  it('pipeline status shows where the queued runs of a fanned-out step stand', async () => {
    const model = newModel(4_000);
    const taskQueue = `mc-${randomUUID()}`;
    const worker = await fleetWorker(taskQueue, { [model]: 1 });
    const checked = validatePipelineSpec({
      name: `fan-${models}`,
      steps: { gen: { model, input: { prompt: 'p' }, count: 3 } },
    });
    if (!('spec' in checked)) throw new Error(JSON.stringify(checked.errors));
    await during(worker, async () => {
      const pipeline = await startPipeline(bed.env.client, { spec: checked.spec }, { taskQueue });
      const status = () => cliOn(bed, 'pipeline', 'status', pipeline.workflowId).then((r) => r.out);
      const out = await until(
        status,
        // each child learns its position by its own signal from the limiter: wait until both have
        (lines) => lines.some((l) => l.includes('position 1')) && lines.some((l) => l.includes('position 2')),
        'two children queued',
      );
      expect(out).toContain(`    queued: position 1 for ${model} (limit 1)`);
      expect(out).toContain(`    queued: position 2 for ${model} (limit 1)`);
      await pipeline.result();
      await closedIdle(model);
    });
    expect(simulatorRecord(model).maxAtOnce).toBe(1);
  });

  it("a request's concurrencyLimit never lifts the operator's limit: three runs asking for 10,000 under a limit of 1 run one at a time", async () => {
    const model = newModel(1_500);
    const taskQueue = `mc-${randomUUID()}`;
    const worker = await fleetWorker(taskQueue, { [model]: 1 });
    const idle = await during(worker, async () => {
      const handles = await startInOrder([taskQueue], model, ['big1', 'big2', 'big3'], {
        concurrencyLimit: 10_000,
      });
      for (const h of handles) expect((await h.result()).status).toBe('succeeded');
      return closedIdle(model);
    });
    const record = simulatorRecord(model);
    expect(record.prompts).toEqual(['big1', 'big2', 'big3']);
    expect(record.maxAtOnce).toBe(1);
    expect(idle.limit).toBe(1); // the operator's, untouched
  });

  it("a request's concurrencyLimit: 1 throttles only itself: the operator's limit of 2 still holds for everyone else", async () => {
    const model = newModel(3_000);
    const taskQueue = `mc-${randomUUID()}`;
    const worker = await fleetWorker(taskQueue, { [model]: 2 });
    const idle = await during(worker, async () => {
      const plain = await startInOrder([taskQueue], model, ['p1', 'p2', 'p3', 'p4']);
      const [tight] = await startInOrder([taskQueue], model, ['tight'], { concurrencyLimit: 1 });
      for (const h of [...plain, tight!]) expect((await h.result()).status).toBe('succeeded');
      return closedIdle(model);
    });
    const record = simulatorRecord(model);
    expect(record.maxAtOnce).toBe(2);
    // p3 and p4 waited behind p1 and p2 and then ran together: the tight request did not lower their limit
    const job = (prompt: string) => record.predictions.find((p) => p.input?.prompt === prompt)!;
    const [p3, p4] = [job('p3'), job('p4')];
    const overlap =
      Date.parse(p3.created_at!) < Date.parse(p4.completed_at!) &&
      Date.parse(p4.created_at!) < Date.parse(p3.completed_at!);
    expect(overlap).toBe(true);
    expect(idle.limit).toBe(2);
  });

  it("the operator's limit holds for the model as owner/name, owner/name:version and its bare version id", async () => {
    const model = newModel(1_500);
    const version = 'c'.repeat(63) + String(models % 10);
    bed.sim.setModel(model, { startDelayMs: 100, durationMs: 1_500, output: '$input', version });
    const taskQueue = `mc-${randomUUID()}`;
    const worker = await fleetWorker(taskQueue, { [model]: 1 });
    await during(worker, async () => {
      const handles = [
        await start(taskQueue, model, 'by-name'),
        await start(taskQueue, `${model}:${version}`, 'by-name-and-version'),
        await start(taskQueue, version, 'by-version'),
      ];
      for (const h of handles) expect((await h.result()).status).toBe('succeeded');
      await closedIdle(model);
    });
    const record = simulatorRecord(model);
    expect([...record.prompts].sort()).toEqual(['by-name', 'by-name-and-version', 'by-version']);
    expect(record.maxAtOnce).toBe(1);
  });

  it('a holder terminated and its workflow id started again: the new run gets the slot, and so does the waiter behind it', async () => {
    const model = newModel(1_500);
    const taskQueue = `mc-${randomUUID()}`;
    const worker = await fleetWorker(taskQueue, { [model]: 1 });
    await during(worker, async () => {
      const [holder, waiter] = await startInOrder([taskQueue], model, ['ghost', 'waiter']);
      await until(
        () => holder!.query(statusQuery),
        (s) => s.predictionId !== null,
        'the holder created',
      );
      await holder!.terminate('operator');
      // the same workflow id, a new run: it must not be mistaken for the terminated one
      const again = await bed.start(
        { model, input: { prompt: 'again' }, polling: FAST_POLLING },
        { taskQueue, workflowId: holder!.workflowId },
      );
      expect((await waiter!.result()).status).toBe('succeeded');
      expect((await again.result()).status).toBe('succeeded');
      await closedIdle(model);
    });
    expect(simulatorRecord(model).prompts).toEqual(['ghost', 'waiter', 'again']);
  });

  it('forged messages from anyone with namespace access: a release naming the holder and a grant to a waiter admit no one', async () => {
    const model = newModel(60_000);
    const taskQueue = `mc-${randomUUID()}`;
    const worker = await fleetWorker(taskQueue, { [model]: 1 });
    await during(worker, async () => {
      const [holder, waiter] = await startInOrder([taskQueue], model, ['held', 'queued']);
      await until(
        () => holder!.query(statusQuery),
        (s) => s.predictionId !== null,
        'the holder created',
      );
      const limiter = bed.env.client.workflow.getHandle(slotsWorkflowId(model));
      const holderRun = (await slots(model)).holders[0]!;
      // the attacker knows the holder's workflow id and run id (both are visible to anyone who can list)
      await limiter.signal('slotRelease', { workflowId: holder!.workflowId }).catch(() => undefined);
      await limiter
        .executeUpdate('slotRelease', { args: [{ workflowId: holder!.workflowId, runId: 'forged' }] })
        .catch(() => undefined);
      await waiter!.signal('slotUpdate', { key: model, position: 0, limit: 1 });
      // the waiter has handled the forged grant: an activity completed after it
      await until(
        async () => (await waiter!.fetchHistory()).events ?? [],
        (events) => {
          const signals = events.flatMap((e, i) =>
            e.workflowExecutionSignaledEventAttributes?.signalName === 'slotUpdate' ? [i] : [],
          );
          const at = signals[signals.length - 1];
          return at !== undefined && events.slice(at).some((e) => e.activityTaskCompletedEventAttributes);
        },
        'the waiter handled the forged grant',
      );
      const s = await slots(model);
      expect(s.holders.map((h) => h.workflowId)).toEqual([holderRun.workflowId]);
      expect(s.queue.map((w) => w.workflowId)).toEqual([waiter!.workflowId]);
      expect(simulatorRecord(model).prompts).toEqual(['held']);
      expect((await waiter!.query(statusQuery)).predictionId).toBeNull();
      await holder!.cancel();
      await holder!.result().catch(() => undefined);
      await until(
        () => waiter!.query(statusQuery),
        (st) => st.predictionId !== null,
        'the waiter created once the holder released',
      );
      await waiter!.cancel();
      await waiter!.result().catch(() => undefined);
      await closedIdle(model);
    });
    const record = simulatorRecord(model);
    expect(record.prompts).toEqual(['held', 'queued']);
    expect(record.maxAtOnce).toBe(1);
  });

  it('a worker process SIGKILLed while a run waits for its slot: a new process finishes both, one after the other, one create each', async () => {
    const model = newModel(4_000);
    const taskQueue = `mc-${randomUUID()}`;
    const limits = { [model]: 1 };
    const dir = mkdtempSync(path.join(tmpdir(), 'mc-kill-'));
    const bundlePath = path.join(dir, 'workflow-bundle.js');
    writeFileSync(bundlePath, workflowBundle.code);
    const processes: Awaited<ReturnType<typeof workerProcess>>[] = [];
    try {
      const first = await workerProcess(taskQueue, limits, bundlePath);
      processes.push(first);
      const [holder, waiter] = await startInOrder([taskQueue], model, ['kill1', 'kill2']);
      const queued = await until(
        () => waiter!.query(statusQuery),
        (s) => s.queue?.position === 1,
        'kill2 queued behind kill1',
      );
      expect(queued.queue).toEqual({ key: model, position: 1, limit: 1 });
      expect(queued.predictionId).toBeNull();
      first.child.kill('SIGKILL'); // no drain, no release: the process is simply gone
      expect(await first.closed).toBe('SIGKILL');
      // the kill came while kill2 waited: only kill1's job exists at Replicate
      expect(simulatorRecord(model).prompts).toEqual(['kill1']);

      const second = await workerProcess(taskQueue, limits, bundlePath);
      processes.push(second);
      for (const h of [holder!, waiter!]) expect((await h.result()).status).toBe('succeeded');
      const idle = await closedIdle(model); // asked of the limiter, which the new process runs
      expect(idle.limit).toBe(1);
      expect(second.output()).not.toContain(SECRET_TOKEN);
    } finally {
      for (const p of processes)
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      await Promise.all(processes.map((p) => p.closed));
      rmSync(dir, { recursive: true, force: true });
    }
    const record = simulatorRecord(model);
    expect(record.predictions).toHaveLength(2); // one create per run: nothing created twice across the kill
    expect(record.prompts).toEqual(['kill1', 'kill2']);
    expect(record.predictions.map((p) => p.status)).toEqual(['succeeded', 'succeeded']);
    expect(record.maxAtOnce).toBe(1);
    // kill2's job was created only once kill1's had completed, by the simulator's clock
    const [one, two] = record.predictions;
    expect(Date.parse(two!.created_at!)).toBeGreaterThanOrEqual(Date.parse(one!.completed_at!));
  }, 90_000);
});
