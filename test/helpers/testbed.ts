/**
 * A real Temporal dev server (SDK-managed, `existing-path` binary), the Replicate simulator and one worker
 * running for a whole test file. Logs from workflows and activities are captured for assertions.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  Client,
  WorkflowFailedError,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
  type WorkflowStartOptions,
} from '@temporalio/client';
import { ApplicationFailure, type TemporalFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  DefaultLogger,
  Runtime,
  Worker,
  bundleWorkflowCode,
  makeTelemetryFilterString,
  type LogEntry,
} from '@temporalio/worker';
import type { WorkerConfig } from '../../src/config';
import type { ReplicateRateLimits } from '../../src/worker/flow-control';
import type { PredictionRequest, PredictionResult } from '../../src/shared/types';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { freePort, startDevServer } from '../../src/dev/dev-server';
import { ReplicateSimulator, type SimulatorOptions } from '../../simulator';
import { runCli, type CliContext } from '../../src/cli';
import { runPrediction } from '../../src/workflows';
import { workerOptionsAll, workflowsPath } from '../../src/worker';
import { sharedWorkflowBundle, sharedWorkflowBundlePath } from './shared-bundle';
import { bundleOptions, dataConverterOf } from '../../src/encryption/data-converter';
import type { EncryptionKeys } from '../../src/encryption/keys';

/** A token that must never show up in histories or logs. */
export const SECRET_TOKEN = 'sim-secret-7f3a9c1e5b2d4f6a8c0e';

/** Fast polling for tests: 100 ms, ×1.5, capped at 500 ms. */
export const FAST_POLLING = { initialIntervalMs: 100, multiplier: 1.5, maxIntervalMs: 500 };

export const logs: LogEntry[] = [];
let runtimeInstalled = false;
function installRuntime(): void {
  if (runtimeInstalled) return;
  // Core (Rust) logs go straight to the native stderr, past vitest's capture: keep only its errors there (its
  // warnings repeat what the captured TS logs say). Not forwarded: forwarding buffers every log line for 100 ms,
  // and tests read `logs` as soon as a run ends.
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) => logs.push(entry)),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
  runtimeInstalled = true;
}

export interface Testbed {
  env: TestWorkflowEnvironment;
  /** env.client, or with `encryption` a client with the encrypting data converter (start, cliOn use it) */
  client: Client;
  sim: ReplicateSimulator;
  config: WorkerConfig;
  /** start runPrediction on this testbed's queue */
  start(
    request: PredictionRequest,
    options?: Partial<Omit<WorkflowStartOptions, 'args'>>,
  ): Promise<WorkflowHandleWithFirstExecutionRunId<typeof runPrediction>>;
  /** run a worker with other settings (e.g. a wrong token) on its own queue while `fn` runs */
  withWorker<T>(overrides: Partial<WorkerConfig>, fn: (taskQueue: string) => Promise<T>): Promise<T>;
  teardown(): Promise<void>;
}

const bundles = new Map<boolean, Promise<{ code: string }>>();

/** The workflow bundle, built once per mode: with encryption it holds the failure converter (src/encryption). */
function bundleFor(encryption: EncryptionKeys | undefined): Promise<{ code: string }> {
  const encrypted = encryption !== undefined;
  let bundle = bundles.get(encrypted);
  if (!bundle) {
    bundle = !encrypted
      ? sharedWorkflowBundle()
      : bundleWorkflowCode({
          workflowsPath,
          logger: new DefaultLogger('WARN'),
          ...bundleOptions(dataConverterOf({ encryption })),
        });
    bundles.set(encrypted, bundle);
  }
  return bundle;
}

let typeScriptRequire = false;
/**
 * The SDK loads a data converter's failureConverterPath with Node's own require, which cannot read TypeScript under
 * vitest: tsx's require hook, for the tests that encrypt (npm run worker runs under tsx, a build has the .js).
 */
async function requireTypeScript(): Promise<void> {
  if (typeScriptRequire) return;
  const { register } = await import('tsx/cjs/api');
  register();
  typeScriptRequire = true;
}

export interface TestbedOptions {
  /** start the dev server with the search attributes registered (default true); false = a fresh server */
  searchAttributes?: boolean;
  /**
   * the fleet rate limits `npm run worker` runs with (readWorkerConfig's defaults: 600 creates, 3,000 reads a minute):
   * the testbed then also serves the reads queue (workerOptionsAll) and runs poll there. Default: none, polls stay
   * on the workflows' queue.
   */
  replicateRateLimits?: ReplicateRateLimits;
  /** ENCRYPTION_KEY's keys: the worker and `client` encrypt (docs/encryption.md); default none */
  encryption?: EncryptionKeys;
}

export async function startTestbed(
  simOptions: SimulatorOptions = {},
  options: TestbedOptions = {},
): Promise<Testbed> {
  installRuntime();
  const sim = new ReplicateSimulator({ token: SECRET_TOKEN, ...simOptions });
  await sim.start();
  const port = await freePort();
  // Our own dev-server launcher (also used by the demo): the SDK's createLocal in 1.24 drops `extraArgs` and
  // `searchAttributes` when given an existing-path binary, and the workflows need their search attributes.
  const server = await startDevServer({
    port,
    uiPort: null,
    searchAttributes: options.searchAttributes ?? true,
  });
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address });
  if (options.encryption) await requireTypeScript();
  const config: WorkerConfig = {
    address: `127.0.0.1:${port}`,
    namespace: env.namespace ?? 'default',
    taskQueue: `test-${randomUUID()}`,
    replicateToken: SECRET_TOKEN,
    replicateBaseUrl: sim.baseUrl,
    maxTaskQueueActivitiesPerSecond: 1000,
    shutdownGraceTimeMs: 1000,
    outputDir: path.join(tmpdir(), `replicate-temporal-test-${randomUUID()}`),
    webhook: null,
    ...(options.replicateRateLimits ? { replicateRateLimits: options.replicateRateLimits } : {}),
    ...(options.encryption ? { encryption: options.encryption } : {}),
  };
  const client = options.encryption
    ? new Client({
        connection: env.connection,
        namespace: config.namespace,
        dataConverter: dataConverterOf(config),
      })
    : env.client;
  // The Workers `npm run worker` starts (workerOptionsAll): the workflows' queue, plus the reads queue with rate
  // limits. The workflows' Worker gets the bundle built once; the reads Worker runs activities only.
  const makeWorkers = async (c: WorkerConfig): Promise<Worker[]> => {
    const [main, ...rest] = workerOptionsAll(c, env.nativeConnection);
    const { workflowsPath: _path, ...first } = main!;
    const workers = [await Worker.create({ ...first, workflowBundle: await bundleFor(c.encryption) })];
    for (const o of rest) workers.push(await Worker.create(o));
    return workers;
  };
  const workers = await makeWorkers(config);
  const running = Promise.all(workers.map((w) => w.run()));

  return {
    env,
    client,
    sim,
    config,
    start: (request, options = {}) =>
      client.workflow.start(runPrediction, {
        taskQueue: config.taskQueue,
        workflowId: `test-${randomUUID()}`,
        workflowExecutionTimeout: '1m',
        args: [request],
        ...options,
      }),
    async withWorker(overrides, fn) {
      const c = { ...config, taskQueue: `test-${randomUUID()}`, ...overrides };
      const [w, ...rest] = await makeWorkers(c);
      const others = rest.map((r) => r.run());
      try {
        return await w!.runUntil(fn(c.taskQueue));
      } finally {
        for (const r of rest) r.shutdown();
        await Promise.all(others);
      }
    },
    async teardown() {
      for (const w of workers) w.shutdown();
      await running;
      await env.teardown();
      await server.stop();
      await sim.stop();
    },
  };
}

/** The ApplicationFailure at the bottom of a workflow failure's cause chain. */
export async function failureOf(handle: WorkflowHandle<typeof runPrediction>): Promise<{
  error: WorkflowFailedError;
  failure: ApplicationFailure;
}> {
  let result: PredictionResult | undefined;
  try {
    result = await handle.result();
  } catch (error) {
    if (!(error instanceof WorkflowFailedError)) throw error;
    let cause: TemporalFailure | Error | undefined = error.cause;
    while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as TemporalFailure).cause;
    if (!cause) throw new Error(`workflow failed without an ApplicationFailure: ${error.cause?.message}`);
    return { error, failure: cause };
  }
  throw new Error(`expected the workflow to fail, it returned ${JSON.stringify(result)}`);
}

/** Run the CLI in-process against a testbed: exit code and the lines it printed. */
export async function cliOn(
  bed: Testbed,
  ...argv: string[]
): Promise<{ code: number; out: string[]; err: string[] }> {
  return cliLive(bed, {}, ...argv).done;
}

/**
 * Run the CLI in-process with context overrides (another task queue, a Ctrl-C signal, a live line...). The line
 * arrays fill while it runs, so a test can await what it printed before the command ends.
 */
export function cliLive(
  bed: Testbed,
  overrides: Partial<CliContext>,
  ...argv: string[]
): { out: string[]; err: string[]; done: Promise<{ code: number; out: string[]; err: string[] }> } {
  const out: string[] = [];
  const err: string[] = [];
  const done = runCli(argv, {
    client: async () => bed.client,
    taskQueue: bed.config.taskQueue,
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    ...overrides,
  }).then((code) => ({ code, out, err }));
  return { out, err, done };
}

/** `npm run worker` as a process against the testbed's server and simulator: its output, and how it closed. */
export interface WorkerProcess {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  /** the exit code, or the signal that ended it */
  closed: Promise<NodeJS.Signals | number | null>;
}

/** Spawn `src/worker/main.ts` on `taskQueue` with the testbed's address, token and simulator, plus `env`. */
export function spawnWorker(
  bed: Testbed,
  taskQueue: string,
  env: Record<string, string> = {},
): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: bed.config.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      REPLICATE_API_TOKEN: SECRET_TOKEN,
      REPLICATE_BASE_URL: bed.sim.baseUrl,
      // the run's shared bundle (./shared-bundle.ts) unless the test encrypts or sets its own (WORKFLOW_BUNDLE: ''
      // bundles from source, as `npm run worker` does by default)
      ...(sharedWorkflowBundlePath() && !env.ENCRYPTION_KEY
        ? { WORKFLOW_BUNDLE: sharedWorkflowBundlePath()! }
        : {}),
      ...env,
    },
  });
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr.on('data', (c: Buffer) => (text += c.toString()));
  const closed = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('close', (code, signal) => resolve(signal ?? code)),
  );
  return { child, output: () => text, closed };
}
