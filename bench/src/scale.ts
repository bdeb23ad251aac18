/**
 * `scale` and `tune`: N runPrediction workflows (polling only) in flight on ONE worker process, spawned with
 * `node --import tsx`, so its CPU and RSS can be read from /proc. Lag here is the workflow's close event time
 * minus the simulator's completed_at (the server's view; a client long-polling result() learns a few ms later).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runPrediction } from '../../src/workflows';
import { makeSpecs, registerModels, scaledPolling } from './compare';
import { callsById, simTimes, type BenchEnv } from './env';
import type { ServerPids } from './cluster';
import {
  historyStats,
  mapLimit,
  percentiles,
  ProcSampler,
  ProcSetSampler,
  sleep,
  type Percentiles,
} from './lib';
import type { Tuning } from './worker';

const ROOT = path.resolve(__dirname, '..', '..');

export interface WorkerProcess {
  pid: number;
  taskQueue: string;
  entry: string;
  tuning: Tuning;
  startupMs: number;
  stop(): Promise<void>;
}

/** Spawns `node --import tsx <entry>` and waits (≤ 180 s) until it polls (a fresh task queue unless given). */
export async function spawnWorker(
  env: BenchEnv,
  entry: string,
  tuning: Tuning,
  log: (line: string) => void,
  taskQueue = `bench-scale-${randomBytes(4).toString('hex')}`,
  // scale and tune measure the worker, not Replicate's budget: no fleet rate limits unless `flow` asks for them
  extraEnv: Record<string, string> = { REPLICATE_CREATE_RPM: 'off', REPLICATE_READ_RPM: 'off' },
): Promise<WorkerProcess> {
  let bundleEnv: Record<string, string> = {};
  if (tuning.prebuiltBundle) {
    const file = path.join(env.workDir, 'workflow-bundle.js');
    writeFileSync(file, (await env.bundle()).code);
    bundleEnv = { WORKFLOW_BUNDLE: file };
  }
  const t0 = Date.now();
  const nodeFlags = tuning.maxOldSpaceSizeMb ? [`--max-old-space-size=${tuning.maxOldSpaceSizeMb}`] : [];
  const child: ChildProcess = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', entry], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: env.server.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      REPLICATE_API_TOKEN: env.token,
      REPLICATE_BASE_URL: env.sim.baseUrl,
      MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND: '100000',
      SHUTDOWN_GRACE_SECONDS: '2',
      OUTPUT_DIR: path.join(env.workDir, 'outputs'),
      BENCH_WORKER_OPTIONS: JSON.stringify(tuning),
      // unencrypted, like the bench's client (an ENCRYPTION_KEY in the shell would make results unreadable to it);
      // compare --codec measures encryption
      ENCRYPTION_KEY: '',
      ENCRYPTION_KEYS_OLD: '',
      // the tuning says whether the worker bundles at start: not a WORKFLOW_BUNDLE in the shell
      WORKFLOW_BUNDLE: '',
      ...bundleEnv,
      ...extraEnv,
    },
  });
  const logFile = createWriteStream(path.join(env.workDir, `worker-${taskQueue}-${child.pid}.log`));
  child.stderr?.pipe(logFile);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('worker polling task queue')) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`worker exited (${code}) before polling; see ${logFile.path}`)),
    );
  });
  const timeout = sleep(180_000).then(() => {
    throw new Error('worker did not start polling within 180 s');
  });
  await Promise.race([ready, timeout]);
  const startupMs = Date.now() - t0;
  log(`worker pid ${child.pid} polling "${taskQueue}" after ${(startupMs / 1000).toFixed(1)} s`);
  return {
    pid: child.pid!,
    taskQueue,
    entry,
    tuning,
    startupMs,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      logFile.end();
    },
  };
}

export interface ScaleStep {
  size: number;
  timeFactor: number;
  startedAll: number;
  completed: number;
  completionRate: number;
  failed: number;
  notClosed: number;
  peakInFlight: number;
  /** first start request -> last close */
  wallMs: number;
  startPhaseMs: number;
  lagMs: Percentiles;
  lagPct: Percentiles;
  callsPerPrediction: Percentiles;
  historyEvents: Percentiles;
  workflowTasksCompleted: number;
  workflowTasksPerSecond: number;
  workflowTaskTimeouts: number;
  workflowTaskScheduleToStartTimeouts: number;
  workflowTaskFailures: number;
  /** polls that waited on a timer for the worker's read share, and polls sent to the reads queue */
  readBudgetWaits: number;
  queuedPolls: number;
  activityTimeouts: number;
  worker: {
    cpuSeconds: number;
    cpuPercentOfOneCore: number;
    peakRssMb: number;
    vmHwmMb: number;
    endRssMb: number;
  };
  /** with several workers: each one's CPU and memory (`worker` sums their CPU and shows the largest memory) */
  workers?: Array<{ pid: number; cpuSeconds: number; peakRssMb: number; vmHwmMb: number }>;
  /** the Temporal dev server process over the same window (it shares the 2 cores) */
  devServer: { cpuSeconds: number; peakRssMb: number } | null;
  /** the server side over the same window: the Temporal server process and, on the cluster, PostgreSQL */
  server?: {
    temporal: { cpuSeconds: number; peakMemoryMb: number };
    postgres: { cpuSeconds: number; peakMemoryMb: number; maxProcesses: number } | null;
    cpuSeconds: number;
  };
  errors: string[];
}

/**
 * One step: start N, wait (bounded) until none is running, then read every history. `workers` share one task
 * queue; `serverPids` (default: the dev server's pid) are the processes whose CPU and memory count as the server's.
 */
export async function runScaleStep(
  env: BenchEnv,
  workers: WorkerProcess | WorkerProcess[],
  options: {
    size: number;
    timeFactor: number;
    seed: number;
    log: (line: string) => void;
    serverPids?: ServerPids;
    /** how long to wait for every run to close (default: the longest job + 240 s + 100 ms per run) */
    drainTimeoutMs?: number;
    /** called with the simulator before the step forgets its requests (the flow scenario reads them) */
    beforeReset?: (sim: BenchEnv['sim']) => void;
  },
): Promise<ScaleStep> {
  const { size, timeFactor, seed, log } = options;
  const fleet = Array.isArray(workers) ? workers : [workers];
  const worker = fleet[0]!;
  const tag = `s${size}-${randomBytes(3).toString('hex')}`;
  const specs = makeSpecs(size, timeFactor, seed, `bench-${tag}`);
  registerModels(env, specs);
  const polling = scaledPolling(timeFactor);
  const samplers = fleet.map((w) => new ProcSampler(w.pid));
  const serverSampler = env.server.pid === undefined ? undefined : new ProcSampler(env.server.pid);
  const serverPids: ServerPids = options.serverPids ?? {
    server: () => (env.server.pid === undefined ? [] : [env.server.pid]),
    database: () => [],
  };
  const temporalSampler = new ProcSetSampler(serverPids.server);
  const databaseSampler = options.serverPids ? new ProcSetSampler(serverPids.database) : undefined;
  const t0 = Date.now();
  const errors: string[] = [];
  const ids = specs.map((s) => `bench-${tag}-${s.index}`);
  let started = 0;
  const starting = mapLimit(specs, 32, async (spec, i) => {
    try {
      await env.client.workflow.start(runPrediction, {
        taskQueue: worker.taskQueue,
        workflowId: ids[i]!,
        workflowExecutionTimeout: '30m',
        args: [{ model: spec.model, input: { run: tag, index: spec.index }, polling }],
      });
      started++;
    } catch (error) {
      if (errors.length < 5) errors.push(`start: ${String(error)}`);
    }
  });
  let startPhaseMs = 0;
  void starting.then(() => (startPhaseMs = Date.now() - t0));
  const maxDuration = Math.max(...specs.map((s) => s.durationMs));
  const deadline = t0 + (options.drainTimeoutMs ?? maxDuration + 240_000 + size * 100);
  let peakInFlight = 0;
  let startsDone = false;
  void starting.then(() => (startsDone = true));
  const query = `TaskQueue="${worker.taskQueue}" AND ExecutionStatus="Running"`;
  let lastLog = 0;
  while (Date.now() < deadline) {
    await sleep(1_000);
    let running: number;
    try {
      running = Number((await env.client.workflow.count(query)).count);
    } catch (error) {
      if (errors.length < 5) errors.push(`count: ${String(error)}`);
      continue;
    }
    peakInFlight = Math.max(peakInFlight, running);
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(
        `scale ${size}: started ${started}, running ${running}, ${((Date.now() - t0) / 1000).toFixed(0)} s`,
      );
    }
    if (startsDone && running === 0) break;
  }
  await starting;
  const procs = samplers.map((sampler) => sampler.stop());
  const proc = {
    cpuSeconds: procs.reduce((sum, p) => sum + p.cpuSeconds, 0),
    peakRssMb: Math.max(...procs.map((p) => p.peakRssMb)),
    vmHwmMb: Math.max(...procs.map((p) => p.vmHwmMb)),
    endRssMb: Math.max(...procs.map((p) => p.endRssMb)),
  };
  const serverProc = serverSampler?.stop();
  const temporalProc = temporalSampler.stop();
  const databaseProc = databaseSampler?.stop() ?? null;
  const wallToDrain = Date.now() - t0;

  const calls = callsById(env.sim);
  const rows = await mapLimit(ids, 16, async (workflowId) => {
    try {
      const handle = env.client.workflow.getHandle<typeof runPrediction>(workflowId);
      const stats = historyStats((await handle.fetchHistory()).events ?? []);
      let predictionId: string | undefined;
      if (stats.completed) predictionId = (await handle.result()).id;
      return { stats, predictionId };
    } catch (error) {
      if (errors.length < 5) errors.push(`history ${workflowId}: ${String(error)}`);
      return undefined;
    }
  });
  const lags: number[] = [];
  const lagPcts: number[] = [];
  const callCounts: number[] = [];
  let completed = 0;
  let failed = 0;
  let notClosed = 0;
  let firstStart = Infinity;
  let lastClose = 0;
  let wft = 0;
  let wftTimeouts = 0;
  let wftStickyTimeouts = 0;
  let wftFailures = 0;
  let activityTimeouts = 0;
  let readBudgetWaits = 0;
  let queuedPolls = 0;
  const events: number[] = [];
  for (const row of rows) {
    if (!row) {
      notClosed++;
      continue;
    }
    const { stats, predictionId } = row;
    wft += stats.workflowTasksCompleted;
    wftTimeouts += stats.workflowTaskTimeouts;
    wftStickyTimeouts += stats.workflowTaskScheduleToStartTimeouts;
    wftFailures += stats.workflowTaskFailures;
    activityTimeouts += stats.activityTimeouts;
    readBudgetWaits += stats.readBudgetWaits;
    queuedPolls += stats.queuedPolls;
    events.push(stats.events);
    if (stats.startedAt !== undefined) firstStart = Math.min(firstStart, stats.startedAt);
    if (stats.closedAt === undefined) {
      notClosed++;
      continue;
    }
    lastClose = Math.max(lastClose, stats.closedAt);
    if (!stats.completed || !predictionId) {
      failed++;
      continue;
    }
    const times = simTimes(env.sim, predictionId);
    if (!times) {
      failed++;
      continue;
    }
    completed++;
    lags.push(stats.closedAt - times.completedAt);
    lagPcts.push((100 * (stats.closedAt - times.completedAt)) / times.durationMs);
    callCounts.push(calls.get(predictionId) ?? 0);
  }
  const wallMs = lastClose > 0 && Number.isFinite(firstStart) ? lastClose - firstStart : wallToDrain;
  options.beforeReset?.(env.sim);
  env.sim.reset(); // forget this step's predictions and requests (models stay)
  return {
    size,
    timeFactor,
    startedAll: started,
    completed,
    completionRate: completed / size,
    failed,
    notClosed,
    peakInFlight,
    wallMs,
    startPhaseMs,
    lagMs: percentiles(lags),
    lagPct: percentiles(lagPcts),
    callsPerPrediction: percentiles(callCounts),
    historyEvents: percentiles(events),
    workflowTasksCompleted: wft,
    workflowTasksPerSecond: wft / (wallMs / 1000),
    workflowTaskTimeouts: wftTimeouts,
    workflowTaskScheduleToStartTimeouts: wftStickyTimeouts,
    workflowTaskFailures: wftFailures,
    activityTimeouts,
    readBudgetWaits,
    queuedPolls,
    worker: { ...proc, cpuPercentOfOneCore: (100 * proc.cpuSeconds) / (wallToDrain / 1000) },
    ...(fleet.length > 1
      ? { workers: fleet.map((w, i) => ({ pid: w.pid, ...procs[i]!, endRssMb: undefined })) }
      : {}),
    devServer:
      serverProc && !options.serverPids
        ? { cpuSeconds: serverProc.cpuSeconds, peakRssMb: serverProc.peakRssMb }
        : null,
    server: {
      temporal: { cpuSeconds: temporalProc.cpuSeconds, peakMemoryMb: temporalProc.peakMemoryMb },
      postgres: databaseProc,
      cpuSeconds: temporalProc.cpuSeconds + (databaseProc?.cpuSeconds ?? 0),
    },
    errors,
  };
}

export const WORKER_ENTRY_BENCH = 'bench/src/worker.ts';
