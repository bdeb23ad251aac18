/**
 * The worker: runs the workflows and the Replicate activities. `npm run worker`.
 * Reads its configuration from the environment (docs/configuration.md), exits with a one-line explanation when it is wrong,
 * and stops gracefully on SIGINT/SIGTERM (in-flight activities get SHUTDOWN_GRACE_SECONDS to finish; with
 * HEALTH_PORT, /readyz answers 503 from the signal on).
 */
import { hostname } from 'node:os';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import { Client } from '@temporalio/client';
import { createActivities } from '../activities';
import { DEFAULT_CLAIM_RETENTION_MS, startClaimPruning } from '../activities/claim-retention';
import { outputStore } from '../activities/outputs';
import { createReconcileActivities } from '../activities/reconcile';
import { createSlotActivities } from '../activities/slots';
import { ensureReconcilerSchedule, ensureSearchAttributes } from '../client/temporal-setup';
import { startWebhookReceiver } from '../webhooks';
import {
  DEFAULT_RECONCILE_EVERY_MS,
  temporalConnectionOptions,
  temporalSecurity,
  type WorkerConfig,
} from '../config';
import { temporalUnreachable, tlsProblem } from '../dev/hints';
import { bundleOptions, dataConverterOf } from '../encryption/data-converter';
import { encryptionKeyId, type EncryptionKeys } from '../encryption/keys';
import { localReadsPerMinute, readsTaskQueue, readsWorkerOptions } from './flow-control';
import { FleetReadShare } from './read-share';
import { startHealthServer } from './health';
import { activeTracing, startTracing, withTracing } from '../observability/tracing';
import { sdkRecord } from './logging';
import { ProcessLog } from '../observability/log';

/** Where the workflow code lives; the worker bundles it for Temporal's deterministic sandbox. */
// A directory: the bundler picks index.ts from source (tsx, tests) or index.js from a build.
export const workflowsPath = path.join(__dirname, '..', 'workflows');

/** Worker sets (workerOptions calls) in this process: each gets its own identity. */
let workerSets = 0;

/** Worker options shared by `npm run worker`, the demo and the tests. */
export function workerOptions(config: WorkerConfig, connection: NativeConnection): WorkerOptions {
  // ENCRYPTION_KEY: payloads and failure messages encrypted (docs/encryption.md); the same for this worker's client
  const dataConverter = dataConverterOf(config);
  const temporalClient = new Client({ connection, namespace: config.namespace, dataConverter });
  // the SDK's default (`#2`... on further worker sets in one process), set here so that the local reads' share finds
  // this worker set among the reads queue's pollers
  const identity = `${process.pid}@${hostname()}${++workerSets > 1 ? `#${workerSets}` : ''}`;
  const readShare = localReadShare(config, connection, identity);
  const options: WorkerOptions = {
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    identity,
    ...(dataConverter ? { dataConverter } : {}),
    // Bundling from source loads webpack into the worker (memory and seconds of start-up: docs/benchmarks.md); a
    // prebuilt bundle (`npm run build:workflows`, then WORKFLOW_BUNDLE=lib/workflow-bundle.js) avoids both.
    ...(config.workflowBundlePath
      ? { workflowBundle: { codePath: config.workflowBundlePath } }
      : { workflowsPath }),
    ...(config.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: config.maxCachedWorkflows } : {}),
    activities: {
      ...createActivities({
        token: config.replicateToken,
        baseUrl: config.replicateBaseUrl,
        webhookBaseUrl: config.webhook?.baseUrl ?? undefined,
        // Pipelines' files and manifests, and outputs too large for Temporal's payloads (claim checks, in .claims/):
        // in the OUTPUT_URL bucket when set, else in OUTPUT_DIR. Output files are fetched only from Replicate's
        // delivery hosts, the API's origin and OUTPUT_ALLOWED_ORIGINS.
        outputStore: config.outputUrl ?? config.outputDir,
        outputAllowedOrigins: config.outputAllowedOrigins,
        ...(config.httpTimeouts ? { timeouts: config.httpTimeouts } : {}),
        // Models limited by REPLICATE_MODEL_CONCURRENCY: the create answers "wait for a slot" first.
        modelConcurrency: config.modelConcurrency,
        // With a reads budget, creates tell their runs to poll on the rate-limited reads queue (src/worker/flow-control.ts),
        // which only workerOptionsAll's second Worker serves.
        ...(config.replicateRateLimits?.readsPerMinute != null
          ? { readsTaskQueue: readsTaskQueue(config.taskQueue) }
          : {}),
        // ...and to poll locally first, within this process's share of REPLICATE_READ_LOCAL_SHARE (./read-share.ts)
        ...(readShare ? { readShare } : {}),
      }),
      // Per-model concurrency: ask a model's limiter for a slot, tell it which holders are gone.
      ...createSlotActivities({ client: temporalClient }),
      // The reconciler asks Temporal which jobs our runs created and which open runs own.
      ...createReconcileActivities({
        client: temporalClient,
        createTimeoutMs: config.httpTimeouts?.createMs,
      }),
    },
    // Server-side cap for the whole queue, so a fleet of workers stays under Replicate's rate limits (none when unset).
    ...(config.maxTaskQueueActivitiesPerSecond !== undefined
      ? { maxTaskQueueActivitiesPerSecond: config.maxTaskQueueActivitiesPerSecond }
      : {}),
    shutdownGraceTime: config.shutdownGraceTimeMs,
  };
  // OpenTelemetry's interceptors and workflow-span sink when this process started tracing (docs/observability.md, Traces)
  return withTracing(options, activeTracing());
}

/**
 * This process's share of the reads budget for local polls (./read-share.ts): the fleet's worker processes are the
 * reads queue's pollers. None without a reads budget or with REPLICATE_READ_LOCAL_SHARE=0.
 */
function localReadShare(
  config: WorkerConfig,
  connection: NativeConnection,
  identity: string,
): FleetReadShare | undefined {
  const limits = config.replicateRateLimits;
  const fleetPerMinute = limits ? localReadsPerMinute(limits) : 0;
  if (fleetPerMinute <= 0) return undefined;
  const queue = readsTaskQueue(config.taskQueue);
  return new FleetReadShare({
    fleetPerMinute,
    identity,
    listPollers: async () => {
      const { pollers } = await connection.workflowService.describeTaskQueue({
        namespace: config.namespace,
        taskQueue: { name: queue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      });
      return (pollers ?? []).flatMap((p) => (p.identity ? [p.identity] : []));
    },
  });
}

/**
 * Every Worker a worker process runs: the workflows' queue (workerOptions), plus the reads queue whenever the
 * configuration has rate limits (rate-limited at REPLICATE_READ_RPM; with `off`, unlimited, so runs already polling
 * there finish). `npm run worker`, the demo and the bench's workers all start exactly these.
 */
export function workerOptionsAll(config: WorkerConfig, connection: NativeConnection): WorkerOptions[] {
  const main = workerOptions(config, connection);
  const limits = config.replicateRateLimits;
  return limits ? [main, readsWorkerOptions(main, limits)] : [main];
}

/**
 * Create every Worker of workerOptionsAll; the first one bundles the workflows unless WORKFLOW_BUNDLE is set or
 * `overrides` gives a bundle (overrides apply to the first one only: tuning, a prebuilt bundle).
 */
export async function createWorkers(
  config: WorkerConfig,
  connection: NativeConnection,
  overrides: Partial<WorkerOptions> = {},
  log: ProcessLog = new ProcessLog({ format: 'text', component: 'worker' }),
): Promise<Worker[]> {
  const [main, ...rest] = workerOptionsAll(config, connection);
  const first = { ...main!, ...overrides };
  if (overrides.workflowBundle) delete first.workflowsPath;
  const workers = [await Worker.create(await quietlyBundled(first, log))];
  for (const options of rest) workers.push(await Worker.create(options));
  return workers;
}

/** Run workers together until all stop; if one fails, the others are shut down and the failure is thrown. */
export async function runWorkers(workers: Worker[]): Promise<void> {
  const runs = workers.map((w) => w.run());
  try {
    await Promise.all(runs);
  } catch (error) {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(runs);
    throw error;
  }
}

export async function runWorker(
  config: WorkerConfig,
  log: ProcessLog = new ProcessLog({ format: 'text', component: 'worker' }),
): Promise<void> {
  // HEALTH_PORT: /healthz from the start, /readyz 200 only while the worker runs and polls (src/worker/health.ts)
  let worker: Worker | undefined;
  let phase = 'STARTING';
  const health = config.health
    ? await startHealthServer({
        ...config.health,
        source: () => (worker ? { state: worker.getState(), status: worker.getStatus() } : { state: phase }),
      })
    : undefined;
  if (health) log.info(`health endpoints on port ${health.port}: GET /healthz, /readyz`);
  try {
    await connectAndRun(config, log, (created) => (worker = created));
  } finally {
    phase = 'STOPPED';
    await health?.stop();
  }
}

async function connectAndRun(
  config: WorkerConfig,
  log: ProcessLog,
  created: (worker: Worker) => void,
): Promise<void> {
  // OTEL_* (docs/observability.md, Traces); null when off
  const tracing = await startTracing('replicate-temporal-worker', { warn: (line) => log.warn(line) });
  const connection = await connectWithRetry(config, log);
  try {
    const registered = await ensureSearchAttributes(connection, config.namespace);
    if (registered.length > 0) log.info(`registered search attributes ${registered.join(', ')}`);
    await keepReconcilerScheduled(config, connection, log);
    const workers = await createWorkers(config, connection, {}, log);
    const worker = workers[0]!;
    created(worker);
    const stopPruning = pruneClaimsEvery(config, log);
    const webhookLog = new ProcessLog({ format: log.format, component: 'webhooks' });
    const receiver =
      config.webhook?.port != null
        ? await startWebhookReceiver({
            client: new Client({
              connection,
              namespace: config.namespace,
              interceptors: tracing?.clientInterceptors,
              dataConverter: dataConverterOf(config),
            }),
            port: config.webhook.port,
            host: process.env.WEBHOOK_HOST || '0.0.0.0',
            secret: config.webhook.secret,
            replicate: { token: config.replicateToken, baseUrl: config.replicateBaseUrl },
            log: (line, fields) => webhookLog.warn(line, fields),
          })
        : undefined;
    if (receiver) log.info(`webhook receiver on port ${config.webhook?.port}`);
    log.info(
      `worker polling task queue "${config.taskQueue}" on ${config.address}${temporalSecurity(config)} (namespace ${config.namespace}), Replicate at ${config.replicateBaseUrl}`,
    );
    if (config.encryption) log.info(encryptionLine(config.encryption));
    const limits = config.replicateRateLimits;
    if (limits)
      log.info(
        `fleet rate limits: creates ${limits.createsPerMinute ?? 'off'}/min, reads ${limits.readsPerMinute === null ? 'off (new runs poll locally)' : `${limits.readsPerMinute}/min (${Math.round(localReadsPerMinute(limits))} of them local polls shared among the worker processes, the rest on "${workers[1]!.options.taskQueue}")`}`,
      );
    await runWorkers(workers); // resolves after SIGINT/SIGTERM once in-flight work has drained
    stopPruning?.();
    await receiver?.stop();
  } finally {
    await connection.close();
    await tracing?.shutdown(); // export the last spans
  }
}

/** What the worker says about ENCRYPTION_KEY at start: the key ids, never the keys. */
function encryptionLine(keys: EncryptionKeys): string {
  const old = (keys.old ?? []).map(encryptionKeyId);
  return `payloads and failure messages encrypted with key ${encryptionKeyId(keys.current)}${old.length > 0 ? `; old keys ${old.join(', ')} still decrypt` : ''}`;
}

/**
 * CLAIM_RETENTION (default 240h, `off` = never): claims older than that are deleted from the store the activities
 * keep them in, now and every hour, with a line reporting the store's size each time.
 */
function pruneClaimsEvery(config: WorkerConfig, log: ProcessLog): (() => void) | undefined {
  if (config.claimRetentionMs === null) return undefined;
  const store = outputStore(config.outputUrl ?? config.outputDir);
  return startClaimPruning(store, config.claimRetentionMs ?? DEFAULT_CLAIM_RETENTION_MS, log);
}

/**
 * The orphan reconciler runs wherever a worker runs: a Schedule in apply mode every RECONCILE_EVERY (default
 * 5 min; `off` leaves schedules alone). A namespace without schedules does not stop the worker.
 */
async function keepReconcilerScheduled(
  config: WorkerConfig,
  connection: NativeConnection,
  log: ProcessLog,
): Promise<void> {
  const everyMs =
    config.reconcileEveryMs === undefined ? DEFAULT_RECONCILE_EVERY_MS : config.reconcileEveryMs;
  if (everyMs === null) return;
  try {
    // Quiet on success (start-up prints little; docs/spend-safety.md documents the Schedule): it is in the Temporal UI.
    const client = new Client({
      connection,
      namespace: config.namespace,
      dataConverter: dataConverterOf(config),
    });
    await ensureReconcilerSchedule(client, {
      taskQueue: config.taskQueue,
      everyMs,
    });
  } catch (error) {
    log.warn(
      `could not schedule the orphan reconciler (${(error as Error).message}); run \`npm run -s client -- reconcile --schedule 5m --apply\` or set RECONCILE_EVERY=off`,
    );
  }
}

/** Bundle the workflow code here, with webpack's report kept out of the log (one line instead of a page). */
async function quietlyBundled(options: WorkerOptions, log: ProcessLog): Promise<WorkerOptions> {
  if (!options.workflowsPath) return options; // a prebuilt bundle (WORKFLOW_BUNDLE)
  const started = Date.now();
  const { workflowsPath, interceptors, ...rest } = options;
  const logger = new DefaultLogger('WARN', (entry) =>
    process.stderr.write(`${log.renderEntry(sdkRecord(entry))}\n`),
  );
  const bundle = await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: interceptors?.workflowModules,
    // with encryption, the failure converter that encodes messages runs in the sandbox: it is bundled
    ...bundleOptions(options.dataConverter),
    logger,
  });
  log.info(
    `bundled the workflow code in ${((Date.now() - started) / 1000).toFixed(1)} s (a prebuilt WORKFLOW_BUNDLE skips this: npm run build:workflows)`,
  );
  return { ...rest, interceptors: { ...interceptors, workflowModules: [] }, workflowBundle: bundle };
}

/**
 * Connect (address, TLS, API key as Temporal's environment configuration says), retrying for up to 30 s: a worker
 * restarted together with its server must not give up at once. A TLS problem (untrusted certificate, a TLS server
 * reached without TLS) fails at once with the variable to set.
 */
async function connectWithRetry(config: WorkerConfig, log: ProcessLog): Promise<NativeConnection> {
  const { address } = config;
  const giveUpAt = Date.now() + 30_000;
  let said = false;
  for (;;) {
    try {
      return await NativeConnection.connect(temporalConnectionOptions(config));
    } catch (error) {
      const reason = (error as Error).message.split('\n')[0]!;
      const problem = await tlsProblem(address, config.tls).catch(() => null);
      if (problem) throw new Error(`cannot connect to Temporal at ${address}: ${problem}`);
      if (Date.now() > giveUpAt) throw new Error(temporalUnreachable(address, reason));
      if (!said) log.warn(`${temporalUnreachable(address, reason)}; retrying for 30 s`);
      said = true;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}
