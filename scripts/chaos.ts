/**
 * `npm run chaos`: N runPrediction workflows through a real Temporal dev server, K worker processes and the
 * Replicate simulator, while a seeded chaos loop SIGKILLs workers, restarts the server (SIGTERM or SIGKILL) and
 * injects API faults. Then it checks that every run closed with the right outcome, that no duplicate prediction
 * ran unowned, that nothing is left running and that no run was lost; prints a summary and exits non-zero on any
 * violation.
 *
 *   npx tsx scripts/chaos.ts [--size 200] [--workers 3] [--seed S] [--max-minutes 20] [--lean list|list-and-get] [--quiet]
 *
 * --resets-after-store R: besides the fault windows, that share of creates loses its answer after the prediction
 * was stored, all along the chaos phase (so adoption is exercised even in a small run).
 * --lean: the simulator leaves `deadline` and `webhook` out of list results (list) or of list and get answers
 * (list-and-get), as the OpenAPI description allows: spend safety must hold without them.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';
import { LEAN_MODES, ReplicateSimulator, type LeanMode } from '../simulator';
import type { PredictionRequest } from '../src/shared/types';
import { emptyCounters, runChaosLoop } from './chaos/chaos-loop';
import { collectOutcomes, evaluate, isClosed, renderSummary, type RunSpec } from './chaos/check';
import { ChaosDevServer } from './chaos/dev-server';
import { freePort } from '../src/dev/dev-server';
import { workflowsPath } from '../src/worker';
import { createRng } from './chaos/prng';
import { errorMessage, fmtDuration, sleep } from './chaos/util';
import { WorkerPool } from './chaos/workers';

const USAGE =
  'usage: npm run chaos -- [--size N (200)] [--workers K (3)] [--seed S (from time)] [--max-minutes M (20)] [--resets-after-store R (0)] [--lean list|list-and-get] [--quiet]';

/** Models registered for the suite: all echo their input, with different run times. */
const ECHO_MODELS: Record<string, number> = { 'chaos/fast': 200, 'chaos/medium': 2_000, 'chaos/slow': 6_000 };
const FAIL_MODEL = 'sim/fail';
const POLLING = { initialIntervalMs: 500, multiplier: 1.5, maxIntervalMs: 3_000 };

interface Options {
  size: number;
  workers: number;
  seed: number;
  maxMinutes: number;
  quiet: boolean;
  lean?: LeanMode;
  resetsAfterStore: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      size: { type: 'string' },
      workers: { type: 'string' },
      seed: { type: 'string' },
      'max-minutes': { type: 'string' },
      lean: { type: 'string' },
      'resets-after-store': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: string, raw: string | undefined, fallback: number, min: number, max: number): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`--${name} must be an integer in ${min}..${max}, got "${raw}"`);
    return n;
  };
  const maxMinutes = values['max-minutes'] === undefined ? 20 : Number(values['max-minutes']);
  if (!Number.isFinite(maxMinutes) || maxMinutes < 1 || maxMinutes > 180) {
    throw new UsageError(`--max-minutes must be a number in 1..180, got "${values['max-minutes']}"`);
  }
  const lean = values.lean;
  if (lean !== undefined && !(LEAN_MODES as readonly string[]).includes(lean)) {
    throw new UsageError(`--lean must be one of ${LEAN_MODES.join(', ')}, got "${lean}"`);
  }
  const resetsAfterStore = Number(values['resets-after-store'] ?? 0);
  if (!(resetsAfterStore >= 0 && resetsAfterStore <= 0.5)) {
    throw new UsageError(
      `--resets-after-store must be a share in 0..0.5, got "${values['resets-after-store']}"`,
    );
  }
  return {
    ...(lean === undefined ? {} : { lean: lean as LeanMode }),
    resetsAfterStore,
    size: int('size', values.size, 200, 1, 5_000),
    workers: int('workers', values.workers, 3, 1, 16),
    seed: int('seed', values.seed, Date.now() % 1_000_000_000, 0, 2 ** 32 - 1),
    maxMinutes,
    quiet: values.quiet,
  };
}

class UsageError extends Error {}

// ------------------------------------------------------------------ resources and cleanup

const workDir = mkdtempSync(path.join(os.tmpdir(), 'chaos-work-'));
const resultsDir = mkdtempSync(path.join(os.tmpdir(), 'chaos-results-'));
let sim: ReplicateSimulator | undefined;
let server: ChaosDevServer | undefined;
let pool: WorkerPool | undefined;
let connection: Connection | undefined;
let aborted = false;
let cleaning: Promise<void> | undefined;

function cleanup(keepLogs: boolean): Promise<void> {
  cleaning ??= (async () => {
    aborted = true;
    await Promise.allSettled([pool?.stopAll(8_000), connection?.close()]);
    await server?.stop().catch(() => undefined);
    await sim?.stop().catch(() => undefined);
    if (keepLogs) {
      for (const file of ['devserver.log', ...[...Array(16).keys()].map((i) => `worker-${i}.log`)]) {
        const from = path.join(workDir, file);
        if (existsSync(from)) copyFileSync(from, path.join(resultsDir, file));
      }
    }
    rmSync(workDir, { recursive: true, force: true });
  })();
  return cleaning;
}

process.on('exit', () => {
  // Last resort if we exit without the async cleanup (it is idempotent; children must not outlive us).
  pool?.killAllNow();
  server?.killNow();
  rmSync(workDir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n[chaos] ${signal}: cleaning up...`);
    void cleanup(true).finally(() => {
      console.error(`[chaos] logs kept in ${resultsDir}`);
      process.exit(130);
    });
  });
}

// ------------------------------------------------------------------ the suite

async function main(options: Options): Promise<boolean> {
  const t0 = Date.now();
  const hardStopAt = t0 + options.maxMinutes * 60_000;
  // Leave room at the end for collecting outcomes, printing and cleanup.
  const drainDeadline = hardStopAt - Math.min(60_000, options.maxMinutes * 60_000 * 0.15);
  setTimeout(() => {
    console.error(`[chaos] --max-minutes ${options.maxMinutes} reached: stopping everything`);
    void cleanup(true).finally(() => {
      console.error(`[chaos] logs kept in ${resultsDir}`);
      process.exit(3);
    });
  }, hardStopAt - t0).unref();

  const elapsed = (): string => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s`;
  const log = (line: string): void => {
    if (!options.quiet) console.log(`[chaos ${elapsed()}] ${line}`);
  };
  const rng = createRng(options.seed);
  // Scale the chaos window and the start spread with N (60 s and 30 s for N=200). Floors keep a small run
  // meaningful: every kind of fault still happens, and starts cover most of the window so runs are in flight.
  const windowMs = Math.max(30_000, Math.round((60_000 * options.size) / 200));
  const startSpreadMs = Math.max(Math.round(windowMs * 0.5), Math.round((30_000 * options.size) / 200));
  console.log(
    `[chaos] seed ${options.seed}, size ${options.size}, workers ${options.workers}, starts over ${fmtDuration(startSpreadMs)}, chaos window ${fmtDuration(windowMs)}, max ${options.maxMinutes} min${options.lean ? `, lean answers: ${options.lean}` : ''}${options.resetsAfterStore ? `, resets after store ${options.resetsAfterStore}` : ''}`,
  );
  console.log(`[chaos] work dir ${workDir}`);

  // Simulator first: it lives in this process and survives everything else.
  const token = `chaos-${randomBytes(12).toString('hex')}`;
  sim = new ReplicateSimulator({
    token,
    seed: options.seed,
    ...(options.lean ? { lean: options.lean } : {}),
  });
  for (const [ref, durationMs] of Object.entries(ECHO_MODELS)) {
    sim.setModel(ref, { output: '$input', startDelayMs: 100, durationMs });
  }
  const baseUrl = await sim.start();
  log(`simulator at ${baseUrl}`);

  server = new ChaosDevServer({
    port: await freePort(),
    dbFile: path.join(workDir, 'chaos.db'),
    logFile: path.join(workDir, 'devserver.log'),
    log,
  });
  await server.start();
  log(`dev server at ${server.address} (pid ${server.pid ?? '?'})`);

  const taskQueue = `chaos-${options.seed}-${randomBytes(4).toString('hex')}`;
  pool = new WorkerPool({
    count: options.workers,
    logDir: workDir,
    log,
    env: {
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      REPLICATE_API_TOKEN: token,
      REPLICATE_BASE_URL: baseUrl,
      SHUTDOWN_GRACE_SECONDS: '5',
      WORKFLOW_BUNDLE: await prebuiltBundle(workDir),
    },
  });
  await pool.startAll(180_000);
  log(`${options.workers} workers polling "${taskQueue}"`);

  connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });

  // The runs: ~10 % sim/fail, the rest spread over the echo models; every input is unique.
  const runs: RunSpec[] = Array.from({ length: options.size }, (_, index) => {
    const model = rng.chance(0.1) ? FAIL_MODEL : rng.pick(Object.keys(ECHO_MODELS));
    return {
      index,
      workflowId: `chaos-${options.seed}-${index}`,
      model,
      input: { run: index, seed: options.seed, prompt: `chaos run ${index} of seed ${options.seed}` },
      expect: model === FAIL_MODEL ? 'failed' : 'succeeded',
      started: false,
      startAttempts: 0,
    };
  });
  if (options.size >= 10 && !runs.some((r) => r.model === FAIL_MODEL)) {
    const r = runs[rng.int(0, runs.length - 1)]!;
    r.model = FAIL_MODEL;
    r.expect = 'failed';
  }

  const setupMs = Date.now() - t0;
  const tStart = Date.now();
  const startOne = async (run: RunSpec): Promise<void> => {
    const request: PredictionRequest = { model: run.model, input: run.input, polling: POLLING };
    for (let attempt = 1; attempt <= 40 && !aborted; attempt++) {
      run.startAttempts = attempt;
      try {
        await connection!.withDeadline(Date.now() + 10_000, () =>
          client.workflow.start('runPrediction', {
            taskQueue,
            workflowId: run.workflowId,
            workflowExecutionTimeout: '5m',
            args: [request],
          }),
        );
        run.started = true;
        return;
      } catch (error) {
        if (error instanceof WorkflowExecutionAlreadyStartedError) {
          run.started = true; // an earlier attempt reached the server
          return;
        }
        run.startError = errorMessage(error);
        if (attempt === 1 || attempt % 10 === 0)
          log(`start ${run.workflowId} attempt ${attempt} failed: ${run.startError}`);
        await sleep(1_000);
      }
    }
  };
  const starts = Promise.all(
    runs.map(async (run) => {
      await sleep(Math.round((startSpreadMs * run.index) / options.size));
      if (!aborted) await startOne(run);
    }),
  ).then(() => log(`all starts done: ${runs.filter((r) => r.started).length}/${runs.length} started`));
  let startsDone = false;
  let startPhaseMs = 0;
  const startsTracked = starts.finally(() => {
    startsDone = true;
    startPhaseMs = Date.now() - tStart;
  });

  const chaos = emptyCounters();
  await runChaosLoop(
    {
      rng,
      sim,
      server,
      pool,
      windowMs,
      allStarted: () => startsDone,
      hardStopAt: drainDeadline,
      aborted: () => aborted,
      log,
      ...(options.resetsAfterStore ? { baseline: { resetAfterStoreRate: options.resetsAfterStore } } : {}),
    },
    chaos,
  );
  await startsTracked;
  const chaosMs = Date.now() - tStart;
  sim.setFaults({});
  log('chaos over: faults cleared; waiting for every workflow to close');

  // Every slot gets its worker back, then we wait for closure (bounded).
  const tDrain = Date.now();
  if (!(await pool.waitAllReady(60_000))) log('warning: not every worker came back within 60 s');
  const closedIds = new Set<string>();
  const runIds = new Set(runs.map((r) => r.workflowId));
  let lastReport = 0;
  while (Date.now() < drainDeadline && !aborted) {
    try {
      for await (const wf of client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
        // Only our runs count: the worker's orphan-reconciler Schedule runs on this task queue too.
        if (isClosed(wf.status.name) && runIds.has(wf.workflowId)) closedIds.add(wf.workflowId);
      }
    } catch (error) {
      log(`list failed: ${errorMessage(error)}`);
    }
    const started = runs.filter((r) => r.started).length;
    if (closedIds.size >= started) break;
    if (Date.now() - lastReport > 15_000) {
      lastReport = Date.now();
      log(`closed ${closedIds.size}/${started}; waiting`);
    }
    await sleep(2_000);
  }
  const drainMs = Date.now() - tDrain;
  log(`closure wait over after ${fmtDuration(drainMs)}; collecting outcomes`);

  const outcomes = await collectOutcomes(client, runs);
  const summary = evaluate({
    seed: options.seed,
    size: options.size,
    workers: options.workers,
    taskQueue,
    durationMs: Date.now() - t0,
    phases: { setupMs, startPhaseMs, chaosMs, drainMs },
    runs,
    outcomes,
    sim,
    chaos,
    pool,
  });
  console.log(renderSummary(summary));
  const resultsFile = path.join(resultsDir, 'chaos-results.json');
  writeFileSync(
    resultsFile,
    JSON.stringify({ ...summary, outcomes: runs.map((r, i) => ({ ...r, outcome: outcomes[i] })) }, null, 2),
  );
  await cleanup(!summary.ok);
  console.log(`results: ${resultsFile}${summary.ok ? '' : ` (worker and server logs kept next to it)`}`);
  return summary.ok;
}

let options: Options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(`chaos: ${errorMessage(error)}\n${USAGE}`);
  rmSync(workDir, { recursive: true, force: true });
  rmSync(resultsDir, { recursive: true, force: true });
  process.exit(2);
}
main(options).then(
  (ok) => process.exit(ok ? 0 : 1),
  async (error: unknown) => {
    console.error(
      `[chaos] aborted: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    await cleanup(true);
    console.error(`[chaos] logs kept in ${resultsDir}`);
    process.exit(2);
  },
);

/**
 * One workflow bundle for every worker process and every restart after a kill (webpack once, as the image ships
 * it), unless WORKFLOW_BUNDLE names one: a worker bundling from source at each restart spent seconds of CPU away.
 */
async function prebuiltBundle(workDir: string): Promise<string> {
  const given = process.env.WORKFLOW_BUNDLE?.trim();
  if (given) return given;
  const file = path.join(workDir, 'workflow-bundle.js');
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  writeFileSync(file, code);
  return file;
}
