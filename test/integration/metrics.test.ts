/**
 * Prometheus metrics (): a real `npm run worker` process with METRICS_PORT runs scripted predictions
 * against the simulator, then its /metrics is scraped and every contract metric is checked for EXACT counts: runs
 * by model and end status, predict times (sum = the simulator's), completion lag by source, each HTTP exchange
 * (compared with the simulator's own request log), adoptions, orphans canceled, webhook outcomes. Before the scrape
 * every closed run is queried, which replays its whole history on the worker: nothing may count twice. The SDK's
 * own `temporal_*` metrics are served next to ours, and no label carries the token. The standalone receiver
 * (`npm run webhooks`) with METRICS_PORT serves its webhook outcomes and its secret fetch.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { signWebhook } from '../../simulator';
import { USER_AGENT } from '../../src/activities/replicate-client';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { freePort } from '../../src/dev/dev-server';
import { METRIC_NAMES } from '../../src/observability/metrics';
import type { PredictionRequest } from '../../src/shared/types';
import { reconcileOrphans, runPrediction, statusQuery } from '../../src/workflows';
import {
  FAST_POLLING,
  SECRET_TOKEN,
  failureOf,
  spawnWorker,
  startTestbed,
  type Testbed,
} from '../helpers/testbed';

let bed: Testbed;
let worker: ChildProcess;
let output: () => string = () => '';
let exited: Promise<unknown>;
const taskQueue = `metrics-${randomUUID()}`;
let metricsPort: number;
let webhookPort: number;

beforeAll(async () => {
  bed = await startTestbed();
  bed.sim.setModel('sim/adopt', { output: '$input', durationMs: 300 });
  bed.sim.setModel('sim/hooked', { output: '$input', durationMs: 300 });
  bed.sim.setModel('sim/cached', { output: '$input', durationMs: 300 });
  metricsPort = await freePort();
  webhookPort = await freePort();
  const spawned = spawnWorker(bed, taskQueue, {
    REPLICATE_WEBHOOK_SECRET: bed.sim.webhookSigningSecret,
    WEBHOOK_PORT: String(webhookPort), // the receiver only: creates ask for no webhooks (no WEBHOOK_BASE_URL)
    METRICS_PORT: String(metricsPort),
    METRICS_HOST: '127.0.0.1',
    // named, so each keeps its own `model` label though it never succeeds here (else: `other`)
    METRICS_MODELS: 'sim/fail,sim/abort,sim/never',
    RECONCILE_EVERY: 'off',
    OUTPUT_DIR: path.join(tmpdir(), `metrics-test-${randomUUID()}`),
    SHUTDOWN_GRACE_SECONDS: '2',
  });
  worker = spawned.child;
  output = spawned.output;
  exited = spawned.closed;
  await vi.waitFor(
    () => {
      if (worker.exitCode !== null) throw new Error(`worker exited: ${output()}`);
      if (!output().includes('worker polling task queue')) throw new Error('worker not polling yet');
    },
    { timeout: 90_000, interval: 200 },
  );
});

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    worker.kill('SIGTERM');
    await exited;
  }
  await bed?.teardown();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format's samples (comments skipped). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include `labels` (the SDK adds namespace, taskQueue, ...). */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

const start = (request: PredictionRequest, timeout = '1m') =>
  bed.env.client.workflow.start(runPrediction, {
    taskQueue,
    workflowId: `metrics-${randomUUID()}`,
    workflowExecutionTimeout: timeout,
    args: [request],
  });

const predictionIdOf = async (handle: WorkflowHandle) => {
  let id: string | null = null;
  await expect
    .poll(async () => (id = (await handle.query(statusQuery)).predictionId), { timeout: 20_000 })
    .toMatch(/^[a-z0-9]{26}$/); // created
  return id!;
};

/** POST one signed delivery to the worker's receiver. */
async function deliver(workflowId: string, body: string, id: string, signature?: string): Promise<number> {
  const ts = Math.floor(Date.now() / 1000);
  const response = await fetch(
    `http://127.0.0.1:${webhookPort}/webhooks/replicate?workflow=${encodeURIComponent(workflowId)}`,
    {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': signature ?? signWebhook(bed.sim.webhookSigningSecret, id, ts, body),
      },
      body,
    },
  );
  return response.status;
}

it('serves every contract metric with exact counts after scripted runs, next to the SDK metrics', async () => {
  // 1. Two successes, a failure, an abort and a timeout, together; the first create is answered 429.
  bed.sim.setFaults({ rateLimitNext: 1, rateLimitRoutes: 'create', rateLimitRetryAfterSeconds: 1 });
  const ok = [1, 2].map((n) => start({ model: 'sim/echo', input: { n }, polling: FAST_POLLING }));
  const failed = start({ model: 'sim/fail', input: {}, polling: FAST_POLLING });
  const aborted = start({ model: 'sim/abort', input: {}, polling: FAST_POLLING });
  const slow = { initialIntervalMs: 1_000, multiplier: 1, maxIntervalMs: 1_000 };
  const timedOut = start(
    { model: 'sim/never', input: { late: true }, polling: slow, deadlineMarginMs: 5_000 },
    '15s',
  );
  const results = await Promise.all(ok.map(async (h) => (await h).result()));
  expect((await failureOf(await failed)).failure.type).toBe('PredictionFailed');
  expect((await failureOf(await aborted)).failure.type).toBe('PredictionAborted');
  expect((await failureOf(await timedOut)).failure.type).toBe('PredictionTimedOut');
  bed.sim.setFaults({});

  // 2. A create whose answer is lost (connection reset after the store): the retry adopts the job.
  bed.sim.setFaults({ resetAfterStoreRate: 1 });
  const adopting = await start({ model: 'sim/adopt', input: {}, polling: FAST_POLLING });
  const adopted = await adopting.result();
  bed.sim.setFaults({});
  expect(adopted.adopted).toBe(true);

  // 3. A run that learns of the end from a webhook (its first poll would come after 60 s): accepted, then the
  // same delivery again (duplicate), a forged one (rejected), and one after the run closed (late).
  const hooked = await start({
    model: 'sim/hooked',
    input: {},
    polling: { initialIntervalMs: 60_000, multiplier: 1, maxIntervalMs: 60_000 },
  });
  const hookedId = await predictionIdOf(hooked);
  await bed.sim.waitFor(hookedId, (p) => p.status === 'succeeded');
  const body = JSON.stringify(bed.sim.prediction(hookedId));
  expect(await deliver(hooked.workflowId, body, 'msg_metrics_1')).toBe(200);
  expect(await deliver(hooked.workflowId, body, 'msg_metrics_1')).toBe(200);
  expect(await deliver(hooked.workflowId, body, 'msg_metrics_2', 'v1,Zm9yZ2Vk')).toBe(401);
  expect((await hooked.result()).id).toBe(hookedId);
  expect(await deliver(`closed-${randomUUID()}`, body, 'msg_metrics_3')).toBe(200);

  // 4. The result cache: a second identical `cache: true` run is served by the first's kept result (no create).
  const cacheRequest = { model: 'sim/cached', input: { n: 1 }, cache: true, polling: FAST_POLLING };
  const caching = await start(cacheRequest);
  const firstCached = await caching.result();
  const served = await start(cacheRequest);
  expect((await served.result()).cached).toEqual({
    workflowId: caching.workflowId,
    predictionId: firstCached.id,
  });

  // 5. A live run, and a copy of its create it never learned of: the reconciler cancels that orphan; then the user
  // cancels the run.
  const live = await start({ model: 'sim/never', input: { case: 'orphan' }, polling: slow }, '5m');
  await predictionIdOf(live);
  const { startTime } = await live.describe();
  const created = await fetch(`${bed.sim.baseUrl}/models/sim/never/predictions`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${SECRET_TOKEN}`,
      'Content-Type': 'application/json',
      'Cancel-After': `${Math.floor((startTime.getTime() + 5 * 60_000 - Date.now()) / 1000)}s`,
    },
    body: JSON.stringify({ input: { case: 'orphan' } }),
  });
  const orphan = ((await created.json()) as { id: string }).id;
  const report = await bed.env.client.workflow.execute(reconcileOrphans, {
    taskQueue,
    workflowId: `metrics-reconcile-${randomUUID()}`,
    args: [{ apply: true, graceSeconds: 0 }],
  });
  expect(report.canceled).toEqual([orphan]);
  await live.cancel();
  await expect(live.result()).rejects.toThrow();

  // Replays: a query on a closed run replays its history (the workflow code runs again from the start).
  const closed = [...ok, failed, aborted, timedOut].map(async (h) => (await h).workflowId);
  const more = [
    adopting.workflowId,
    hooked.workflowId,
    caching.workflowId,
    served.workflowId,
    live.workflowId,
  ];
  for (const workflowId of [...(await Promise.all(closed)), ...more]) {
    const state = await bed.env.client.workflow.getHandle(workflowId).query(statusQuery);
    expect(state.completedAt, workflowId).not.toBeNull();
  }

  // The scrape.
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const samples = parse(text);
  const runs = (model: string, status: string) =>
    total(samples, 'replicate_predictions_total', { model, status });
  expect({
    echoSucceeded: runs('sim/echo', 'succeeded'),
    failed: runs('sim/fail', 'failed'),
    aborted: runs('sim/abort', 'aborted'),
    timedOut: runs('sim/never', 'timed_out'),
    adoptedSucceeded: runs('sim/adopt', 'succeeded'),
    hookedSucceeded: runs('sim/hooked', 'succeeded'),
    cacheSucceeded: runs('sim/cached', 'succeeded'),
    cached: runs('sim/cached', 'cached'),
    canceled: runs('sim/never', 'canceled'),
    all: total(samples, 'replicate_predictions_total'),
  }).toEqual({
    echoSucceeded: 2,
    failed: 1,
    aborted: 1,
    timedOut: 1,
    adoptedSucceeded: 1,
    hookedSucceeded: 1,
    cacheSucceeded: 1,
    cached: 1,
    canceled: 1,
    all: 10,
  });

  // Predict time: one observation per success, the sum the simulator's.
  const echoTimes = results.map((r) => r.metrics.predict_time!);
  expect(total(samples, 'replicate_predict_time_seconds_count', { model: 'sim/echo' })).toBe(2);
  expect(total(samples, 'replicate_predict_time_seconds_sum', { model: 'sim/echo' })).toBeCloseTo(
    echoTimes[0]! + echoTimes[1]!,
    6,
  );

  // Completion lag: one per run that ended at Replicate (not the timed-out or canceled ones), by source.
  const endedByNews = [...results.map((r) => r.id), adopted.id, firstCached.id].length + 2; // + failed, aborted
  expect(total(samples, 'replicate_completion_lag_seconds_count', { source: 'poll' })).toBe(endedByNews);
  expect(total(samples, 'replicate_completion_lag_seconds_count', { source: 'webhook' })).toBe(1);
  const webhookLag = total(samples, 'replicate_completion_lag_seconds_sum', { source: 'webhook' });
  expect(webhookLag).toBeGreaterThan(0);
  expect(webhookLag).toBeLessThan(30);

  // Every HTTP exchange the worker had with Replicate, as many per operation as the simulator saw. By code too,
  // except that a poll the run's end cut short (the simulator answered, the worker stopped listening) is `network`.
  const operation = (route: string) =>
    route.endsWith('.create')
      ? 'create'
      : route.endsWith('.cancel')
        ? 'cancel'
        : route.endsWith('.list')
          ? 'list'
          : 'get';
  const seen: Record<string, number> = {};
  const seenByOperation: Record<string, number> = {};
  for (const r of bed.sim.requests.filter((r) => r.headers['user-agent'] === USER_AGENT)) {
    const key = `${operation(r.route)} ${r.status === 0 ? 'network' : r.status}`;
    seen[key] = (seen[key] ?? 0) + 1;
    seenByOperation[operation(r.route)] = (seenByOperation[operation(r.route)] ?? 0) + 1;
  }
  const counted: Record<string, number> = {};
  const countedByOperation: Record<string, number> = {};
  for (const s of samples.filter((s) => s.name === 'replicate_api_requests_total')) {
    const key = `${s.labels.operation} ${s.labels.code}`;
    counted[key] = (counted[key] ?? 0) + s.value;
    countedByOperation[s.labels.operation!] = (countedByOperation[s.labels.operation!] ?? 0) + s.value;
  }
  expect(countedByOperation).toEqual(seenByOperation);
  const { 'get 200': gets, 'get network': cut = 0, ...others } = counted;
  const { 'get 200': seenGets, ...seenOthers } = seen;
  expect(others).toEqual(seenOthers);
  expect(cut).toBeLessThanOrEqual(1);
  expect(gets! + cut).toBe(seenGets);
  // 8 runs created (A, B, the failure, the abort, the timeout, the webhook run, the first cached one, the live run);
  // the adoption's create was reset (network) and its retry adopted instead of creating; the served run created none
  expect(others).toEqual({
    'create 201': 8,
    'create 429': 1,
    'create network': 1,
    'cancel 200': 3, // the timeout's, the orphan's, the user's
    'list 200': others['list 200'],
  });
  expect(others['list 200']).toBeGreaterThanOrEqual(2); // the adoption's listing, the reconciler's

  expect(total(samples, 'replicate_adoptions_total')).toBe(1);
  expect(total(samples, 'replicate_orphans_canceled_total')).toBe(1);
  const webhooks = (outcome: string) => total(samples, 'replicate_webhooks_total', { outcome });
  expect(['accepted', 'duplicate', 'rejected', 'late'].map(webhooks)).toEqual([1, 1, 1, 1]);

  // The contract's names exactly (no prefix, no doubled suffix), next to the SDK's own temporal_* metrics.
  const families = new Set(
    samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')).filter((n) => !n.startsWith('temporal_')),
  );
  expect([...families].sort()).toEqual([...METRIC_NAMES].sort());
  const sdk = new Set(samples.map((s) => s.name).filter((n) => n.startsWith('temporal_')));
  for (const name of ['temporal_workflow_completed', 'temporal_workflow_failed', 'temporal_request'])
    expect(sdk, name).toContain(name);
  expect(
    samples.some((s) => s.name === 'temporal_workflow_completed' && s.labels.task_queue === taskQueue),
  ).toBe(true);
  // the queries above did replay the histories
  expect(total(samples, 'temporal_workflow_task_replay_latency_count')).toBeGreaterThanOrEqual(8);

  // The token is in no label (nor anywhere in the scrape, nor in the worker's output).
  expect(samples.filter((s) => Object.values(s.labels).some((v) => v.includes(SECRET_TOKEN)))).toEqual([]);
  expect(text).not.toContain(SECRET_TOKEN);
  expect(output()).not.toContain(SECRET_TOKEN);
});

it('the standalone receiver (npm run webhooks) serves its webhook outcomes and its secret fetch', async () => {
  const [port, receiverMetrics] = [await freePort(), await freePort()];
  const receiver = spawn(process.execPath, ['--import', 'tsx', 'src/webhooks/main.ts'], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: bed.config.address,
      REPLICATE_API_TOKEN: SECRET_TOKEN,
      REPLICATE_BASE_URL: bed.sim.baseUrl,
      WEBHOOK_PORT: String(port),
      WEBHOOK_HOST: '127.0.0.1',
      METRICS_PORT: String(receiverMetrics),
      METRICS_HOST: '127.0.0.1',
    },
  });
  let text = '';
  receiver.stdout.on('data', (c: Buffer) => (text += c.toString()));
  receiver.stderr.on('data', (c: Buffer) => (text += c.toString()));
  const closed = new Promise((resolve) => receiver.on('close', resolve));
  try {
    await vi.waitFor(
      () => {
        if (receiver.exitCode !== null) throw new Error(`receiver exited: ${text}`);
        if (!text.includes('webhook receiver on port')) throw new Error('not listening yet');
      },
      { timeout: 30_000, interval: 100 },
    );
    const secretFetches = () =>
      bed.sim.requests.filter((r) => r.route === 'webhooks.default.secret.get').length;
    const before = secretFetches();
    const post = async (id: string, signature?: string) => {
      const body = JSON.stringify({ id: 'p1', status: 'succeeded' });
      const ts = Math.floor(Date.now() / 1000);
      const response = await fetch(`http://127.0.0.1:${port}/webhooks/replicate?workflow=gone-${id}`, {
        method: 'POST',
        headers: {
          'webhook-id': id,
          'webhook-timestamp': String(ts),
          'webhook-signature': signature ?? signWebhook(bed.sim.webhookSigningSecret, id, ts, body),
        },
        body,
      });
      return response.status;
    };
    expect(await post('msg_receiver_1')).toBe(200); // no such run: late
    expect(await post('msg_receiver_2', 'v1,Zm9yZ2Vk')).toBe(401);
    const samples = parse(await (await fetch(`http://127.0.0.1:${receiverMetrics}/metrics`)).text());
    expect(
      ['accepted', 'duplicate', 'rejected', 'late'].map((outcome) =>
        total(samples, 'replicate_webhooks_total', { outcome }),
      ),
    ).toEqual([0, 0, 1, 1]);
    expect(secretFetches() - before).toBe(1);
    expect(total(samples, 'replicate_api_requests_total', { operation: 'get', code: '200' })).toBe(1);
    expect(total(samples, 'replicate_api_requests_total')).toBe(1);
    expect(text).not.toContain(SECRET_TOKEN);
  } finally {
    receiver.kill('SIGTERM');
    await closed;
  }
});

it('a busy METRICS_PORT, or a bad one, stops the worker at start with one line naming it (exit 2)', async () => {
  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; text: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
        cwd: PROJECT_ROOT,
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: bed.config.address,
          TEMPORAL_TASK_QUEUE: `metrics-bad-${randomUUID()}`,
          REPLICATE_API_TOKEN: SECRET_TOKEN,
          REPLICATE_BASE_URL: bed.sim.baseUrl,
          RECONCILE_EVERY: 'off',
          ...env,
        },
      });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.stderr.on('data', (c: Buffer) => (text += c.toString()));
      child.on('close', (code) => resolve({ code, text }));
    });
  // the first worker of this file serves metricsPort
  const busy = await run({ METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' });
  expect(busy.code).toBe(2);
  expect(busy.text).toContain(
    `METRICS_PORT=${metricsPort}: cannot serve /metrics on 127.0.0.1:${metricsPort} (address already in use); choose a free port or unset METRICS_PORT`,
  );
  expect(busy.text.trim().split('\n')).toHaveLength(1);
  const bad = await run({ METRICS_PORT: '9464', METRICS_HOST: 'localhost' });
  expect(bad.code).toBe(2);
  expect(bad.text).toMatch(/METRICS_HOST="localhost" must be an IP address/);
});
