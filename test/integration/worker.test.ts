/**
 * `npm run worker` as a process: graceful shutdown lets the in-flight create finish, and a new worker resumes;
 * a prebuilt workflow bundle is used as is.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { temporalUnreachableHint } from '../../src/dev/hints';
import { FAST_POLLING, SECRET_TOKEN, spawnWorker, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
});
afterAll(async () => {
  await bed?.teardown();
});

/** `npm run worker` on its own task queue, against the testbed's server and simulator; resolves once it polls. */
async function startWorkerProcess(prefix: string, env: Record<string, string>) {
  const taskQueue = `${prefix}-${randomUUID()}`;
  const { child, output, closed } = spawnWorker(bed, taskQueue, env);
  const exited = closed as Promise<number | null>;
  await expect.poll(output, { timeout: 30_000 }).toContain(`worker polling task queue "${taskQueue}"`);
  return { taskQueue, child, exited, output };
}

it('SIGTERM: the in-flight create completes within the grace period, the worker exits 0, the run resumes elsewhere', async () => {
  const { taskQueue, child, exited, output } = await startWorkerProcess('worker', {
    SHUTDOWN_GRACE_SECONDS: '10',
    // the run resumes on the testbed's worker, which serves no reads queue: poll locally (src/worker/flow-control.ts)
    REPLICATE_READ_RPM: 'off',
    WORKFLOW_BUNDLE: '', // bundles from source, as `npm run worker` does by default
  });
  expect(output()).not.toContain(SECRET_TOKEN);
  // start-up is quiet: a line about bundling (without WORKFLOW_BUNDLE it bundles at start, see below), no webpack page
  const startup = output().trim().split('\n');
  expect(startup.length).toBeLessThanOrEqual(4);
  expect(output()).toMatch(/bundled the workflow code in [\d.]+ s/);
  expect(output()).not.toMatch(/\[INFO\]|modules by path|webpack/);

  bed.sim.setFaults({ latencyMs: 2_000 }); // every Replicate call takes 2 s
  const creates = bed.sim.creates();
  const handle = await bed.start(
    { model: 'sim/echo', input: { n: 'graceful' }, polling: FAST_POLLING },
    { taskQueue },
  );
  // Wait until the create activity is running in the worker process, then stop the worker.
  await expect
    .poll(async () => (await handle.describe()).raw.pendingActivities?.[0]?.state, {
      timeout: 10_000,
      interval: 50,
    })
    .toBe(temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED);
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  bed.sim.setFaults({});

  // The create finished (201) instead of being abandoned mid-request...
  expect(bed.sim.creates() - creates).toBe(1);
  const id = bed.sim.predictionIds().at(-1)!;
  expect(bed.sim.requests.find((r) => r.predictionId === id && r.route.endsWith('create'))!.status).toBe(201);
  // ...and a new worker on the same queue finishes the run without creating another prediction.
  const result = await bed.withWorker({ taskQueue }, () => handle.result());
  expect(result).toMatchObject({ id, status: 'succeeded', output: { n: 'graceful' } });
  expect(bed.sim.creates() - creates).toBe(1);
});

it('WORKFLOW_BUNDLE: the worker runs on a prebuilt bundle (npm run build:workflows) without bundling at start', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bundle-'));
  const bundle = path.join(dir, 'workflow-bundle.js');
  const built = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-workflow-bundle.ts', bundle], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  });
  expect(built.status).toBe(0);
  expect(built.stdout).toContain(`wrote ${bundle}`);

  const { taskQueue, child, exited, output } = await startWorkerProcess('bundle', {
    WORKFLOW_BUNDLE: bundle,
    MAX_CACHED_WORKFLOWS: '2',
  });
  try {
    const handle = await bed.start(
      { model: 'sim/echo', input: { n: 'bundled' }, polling: FAST_POLLING },
      { taskQueue },
    );
    expect(await handle.result()).toMatchObject({ status: 'succeeded', output: { n: 'bundled' } });
    expect(output()).not.toContain('bundled the workflow code'); // webpack never ran in the worker
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
});

it('an unreachable Temporal: the worker says so at once, with the same hint as the client', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1', REPLICATE_API_TOKEN: SECRET_TOKEN },
  });
  let text = '';
  child.stderr.on('data', (c: Buffer) => (text += c.toString()));
  child.stdout.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    await expect.poll(() => text, { timeout: 15_000 }).toContain('cannot reach Temporal at 127.0.0.1:1');
    expect(text).toContain(temporalUnreachableHint);
    expect(text.trim().split('\n')).toHaveLength(1);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});

it('a failure is one log line with its reason: not a stack trace, not repeated by the SDK or the workflow', async () => {
  const { taskQueue, child, exited, output } = await startWorkerProcess('oneline', {
    REPLICATE_API_TOKEN: 'wrong-token',
  });
  let closed = false;
  try {
    const refused = await bed.start({ model: 'sim/echo', input: {} }, { taskQueue });
    await expect(refused.result()).rejects.toThrow(); // ReplicateUnauthorized
    child.kill('SIGTERM'); // all its lines are out once it has exited
    expect(await exited).toBe(0);
    closed = true;
  } finally {
    if (!closed) {
      child.kill('SIGTERM');
      await exited;
    }
  }
  const lines = output().split('\n');
  // the status as a word: a port, a millisecond or a random id holding the digits 401 is not about it
  const about401 = lines.filter((l) => /\b401\b/.test(l));
  expect(about401, output()).toHaveLength(1);
  expect(about401[0]).toMatch(
    /\[WARN\] Replicate create prediction for sim\/echo was rejected \(401 .*REPLICATE_API_TOKEN.*failureType: 'ReplicateUnauthorized'/,
  );
  expect(output()).not.toMatch(/Activity failed|Workflow failed|run failed/);
  expect(output()).not.toMatch(/\n\s+at /); // no stack frames anywhere
});

it('a prediction that fails at Replicate, and one whose create is retried: each event once', async () => {
  const { taskQueue, child, exited, output } = await startWorkerProcess('once', {});
  let closed = false;
  try {
    const failed = await bed.start({ model: 'sim/fail', input: {}, polling: FAST_POLLING }, { taskQueue });
    await expect(failed.result()).rejects.toThrow();
    bed.sim.setFaults({ rateLimitNext: 2, rateLimitRoutes: 'create' }); // the next two creates answer 429
    const retried = await bed.start(
      { model: 'sim/echo', input: { n: 'retried' }, polling: FAST_POLLING },
      { taskQueue },
    );
    await retried.result();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    closed = true;
  } finally {
    bed.sim.setFaults({});
    if (!closed) {
      child.kill('SIGTERM');
      await exited;
    }
  }
  const lines = output().split('\n');
  const failure = lines.filter((l) => / failed: /.test(l) && l.includes('sim/fail'));
  expect(failure, output()).toHaveLength(1);
  // each failed attempt is its own line, with its retry delay; the SDK does not repeat them
  const attempts = lines.filter((l) => /create prediction for sim\/echo was rate limited \(429/.test(l));
  expect(attempts, output()).toHaveLength(2);
  expect(output()).not.toMatch(/Activity failed|Workflow failed|run failed/);
});
