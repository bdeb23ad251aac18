/**
 * The fleet under faults, on the native cluster: `npm run cluster -- up --workers 3` (its own CLUSTER_HOME and
 * CLUSTER_PORT, so it runs beside the other cluster tests) against the Replicate simulator with jobs of 2–7 s;
 * 50 predictions started through the CLI (`start`) and the fan-out pipeline of examples/poster.yaml through
 * `pipeline run`. While they run: a worker is SIGKILLed (and replaced), the Temporal server process is SIGKILLed
 * and restarted, PostgreSQL crashes (`pg_ctl stop -m immediate`) and restarts, each through
 * `npm run cluster -- restart`. Then the chaos suite's invariants (scripts/chaos/check.ts): every run closed in
 * the right state with its output, one prediction per run (adopted duplicates count once, any other one canceled),
 * nothing left running at the simulator, no run lost; and the pipeline succeeded with one prediction per child,
 * every file and its manifest on disk. The summary prints only when the test fails (`--silent=false` shows it).
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ReplicateSimulator } from '../../simulator';
import { freeClusterPort } from './ports';
import { pipelineOutcome, type PipelineSummary } from '../../src/client/pipeline';
import type { runPipeline } from '../../src/workflows';
import { layoutFrom, type Layout } from '../../scripts/cluster/layout';
import { ourProcesses } from '../../scripts/cluster/processes';
import { until } from '../../scripts/cluster/temporal';
import { emptyCounters } from '../../scripts/chaos/chaos-loop';
import { collectOutcomes, evaluate, isClosed, renderSummary, type RunSpec } from '../../scripts/chaos/check';
import { mapLimit } from '../../scripts/chaos/util';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');
const TOKEN = 'sim-fleet-token-81d0';
const SEED = Date.now() % 1_000_000_000;
const RUNS = 50;
const PREFIX = `fleet-${SEED}`;
const PIPELINE_ID = `${PREFIX}-poster`;
/** echo models (output = input) of realistic length, and a model that fails */
const MODELS: Record<string, number> = { 'fleet/short': 2_000, 'fleet/medium': 4_000, 'fleet/long': 7_000 };
const FAIL_MODEL = 'sim/fail';

const sim = new ReplicateSimulator({ token: TOKEN, seed: SEED });
let home: string;
let layout: Layout;
let env: NodeJS.ProcessEnv;
let address: string;
let connection: Connection | undefined;
let passed = false;

/** `npm run <script> -- args` without npm: node with tsx, as the script does (one process less per call) */
function tsx(entry: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return run(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: ROOT,
    env: { ...env, ...extraEnv },
    maxBuffer: 16 * 1024 * 1024,
  });
}

const cluster = (...args: string[]) => tsx('scripts/cluster/main.ts', args);
const cli = (...args: string[]) => tsx('src/cli/main.ts', args, { TEMPORAL_ADDRESS: address });

beforeAll(async () => {
  for (const [ref, durationMs] of Object.entries(MODELS)) {
    sim.setModel(ref, { output: '$input', startDelayMs: 300, durationMs });
  }
  // the pipeline's models, a few seconds each (default outputs: files served by the simulator)
  sim.setModel('google/imagen-4-ultra', { requiredInputs: ['prompt'], startDelayMs: 300, durationMs: 4_000 });
  sim.setModel('nightmareai/real-esrgan', { requiredInputs: ['image'], durationMs: 3_000 });
  const baseUrl = await sim.start();
  home = mkdtempSync(path.join(tmpdir(), 'replicate-temporal-fleet-'));
  chmodSync(home, 0o755); // PostgreSQL runs as the postgres user when the tests run as root
  env = {
    ...process.env,
    CLUSTER_HOME: home,
    CLUSTER_PORT: String(await freeClusterPort(25_500, 100)),
    CLUSTER_UI: 'off',
    REPLICATE_API_TOKEN: TOKEN,
    REPLICATE_BASE_URL: baseUrl,
    OUTPUT_DIR: path.join(home, 'outputs'),
    SHUTDOWN_GRACE_SECONDS: '5',
  };
  delete env.TEMPORAL_ADDRESS;
  delete env.WORKFLOW_BUNDLE;
  layout = layoutFrom(env);
  const { stdout } = await cluster('up', '--workers', '3');
  address = /^TEMPORAL_ADDRESS=(.+)$/m.exec(stdout)?.[1] ?? '';
  expect(address).toBe(`127.0.0.1:${layout.ports.frontend}`);
  connection = await Connection.connect({ address });
}, 45 * 60_000); // a fresh machine builds the server first (go install, about 15 minutes on 2 cores)

afterAll(async () => {
  await connection?.close();
  if (layout && ourProcesses(layout).length > 0) await cluster('down').catch(() => undefined);
  await sim.stop();
  // a failure keeps the cluster's logs (and data) for a look
  if (home && passed) rmSync(home, { recursive: true, force: true });
  else if (home) console.error(`fleet test: cluster logs kept in ${home}/logs`);
}, 120_000);

it('50 predictions and a fan-out pipeline survive a worker kill, a server kill and a PostgreSQL crash', async () => {
  const t0 = Date.now();
  const client = new Client({ connection: connection!, namespace: 'default' });
  const runs: RunSpec[] = Array.from({ length: RUNS }, (_, index) => {
    const model = index % 10 === 7 ? FAIL_MODEL : Object.keys(MODELS)[index % 3]!;
    return {
      index,
      workflowId: `${PREFIX}-${index}`,
      model,
      input: { run: index, seed: SEED, prompt: `fleet run ${index}` },
      expect: model === FAIL_MODEL ? 'failed' : 'succeeded',
      started: false,
      startAttempts: 0,
    };
  });

  // starts through the CLI, four at a time; a start refused while the server or PostgreSQL is down is retried
  const startOne = async (spec: RunSpec): Promise<void> => {
    const args = ['start', '--model', spec.model, '--input', JSON.stringify(spec.input)];
    for (; spec.startAttempts < 30 && !spec.started; spec.startAttempts++) {
      try {
        const { stdout } = await cli(...args, '--workflow-id', spec.workflowId);
        expect(stdout.trim()).toBe(spec.workflowId);
        spec.started = true;
      } catch (error) {
        const e = error as { stderr?: string; message: string };
        spec.startError = (e.stderr || e.message).trim();
        if (/already running/.test(spec.startError))
          spec.started = true; // an earlier attempt got through
        else await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  };
  const startedCount = (): number => runs.filter((r) => r.started).length;
  const starts = mapLimit(runs, 4, startOne);

  // the pipeline through the CLI, in the background (it waits for its outcome)
  const pipelineCli = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'pipeline',
        'run',
        'examples/poster.yaml',
        '--pipeline-id',
        PIPELINE_ID,
      ],
      { cwd: ROOT, env: { ...env, TEMPORAL_ADDRESS: address }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });

  // the faults, each once a share of the runs has started (so runs of every age are in flight)
  const chaos = emptyCounters();
  const faults: string[] = [];
  const startedAtLeast = (n: number) =>
    until(`${n} runs started`, 180_000, async () => {
      if (startedCount() < n) throw new Error(`${startedCount()} started`);
    });
  const inject = async (what: string, ...args: string[]): Promise<void> => {
    const t = Date.now();
    await cluster('restart', ...args);
    faults.push(`${what}: back after ${((Date.now() - t) / 1000).toFixed(1)} s (${startedCount()} started)`);
  };
  await startedAtLeast(12);
  await inject('worker-2 SIGKILL, replaced', 'worker-2', '--kill');
  chaos.workerKills++;
  await startedAtLeast(25);
  const tServer = Date.now();
  await inject('Temporal server SIGKILL, restarted', 'server', '--kill');
  chaos.serverRestarts++;
  chaos.serverRestartsBySignal.SIGKILL++;
  chaos.serverDowntimeMs += Date.now() - tServer;
  await startedAtLeast(38);
  await inject('PostgreSQL crash (immediate stop), restarted', 'postgres', '--kill');
  await starts;
  const startPhaseMs = Date.now() - t0;

  // nothing lost: every started workflow id closes
  const ids = [...runs.map((r) => r.workflowId), PIPELINE_ID];
  await until('every run closed', 240_000, async () => {
    const open = (
      await mapLimit(ids, 8, async (id) =>
        isClosed((await client.workflow.getHandle(id).describe()).status.name) ? null : id,
      )
    ).filter(Boolean);
    if (open.length > 0) throw new Error(`${open.length} still open: ${open.slice(0, 3).join(', ')}`);
  });
  const drainMs = Date.now() - t0 - startPhaseMs;

  const outcomes = await collectOutcomes(client, runs);
  const summary = evaluate({
    seed: SEED,
    size: RUNS,
    workers: 3,
    taskQueue: 'replicate',
    durationMs: Date.now() - t0,
    phases: { setupMs: 0, startPhaseMs, chaosMs: startPhaseMs, drainMs },
    runs,
    outcomes,
    sim,
    chaos,
    pool: { spawns: 4, unexpectedExits: 0 },
  });

  // the pipeline: its CLI printed the outcome, which the client helper reads back the same
  const pipelineRun = await pipelineCli;
  const pipeline: PipelineSummary = await pipelineOutcome(
    client.workflow.getHandle<typeof runPipeline>(PIPELINE_ID),
  );
  const pipelineIds = Object.values(pipeline.steps).flatMap((s) => s.predictionIds);
  const pipelinePredictions = sim
    .predictionIds()
    .map((id) => sim.prediction(id)!)
    .filter((p) => p.input.seed !== SEED);
  const pipelineExtra = pipelinePredictions.filter((p) => !pipelineIds.includes(p.id));
  const report = [
    renderSummary(summary),
    `faults: ${faults.join('; ')}`,
    `pipeline ${pipeline.status}: ${pipelineIds.length} predictions for ${Object.keys(pipeline.steps).length} steps, ${pipelinePredictions.length} created (CLI exit ${pipelineRun.code})${pipeline.error ? `: ${pipeline.error.type}: ${pipeline.error.message}` : ''}`,
    pipelineRun.stderr.trim(),
    `time: up to closed ${((Date.now() - t0) / 1000).toFixed(1)} s (starts and faults ${(startPhaseMs / 1000).toFixed(1)} s)`,
  ].join('\n');
  console.log(report);

  for (const invariant of summary.invariants) {
    expect({ invariant: invariant.name, ok: invariant.ok, offenders: invariant.offenders }).toEqual({
      invariant: invariant.name,
      ok: true,
      offenders: [],
    });
  }
  expect(summary.predictions.runsWithNone).toBe(0);
  expect(faults).toHaveLength(3);

  expect(pipelineRun, report).toMatchObject({ code: 0 });
  expect(pipelineRun.stdout).toContain('succeeded');
  expect(pipeline.status).toBe('succeeded');
  expect(
    Object.fromEntries(Object.entries(pipeline.steps).map(([n, s]) => [n, s.predictionIds.length])),
  ).toEqual({ generate: 2, upscale: 2, caption: 1 });
  expect(new Set(pipelineIds).size).toBe(5);
  // one prediction per child run: any other the pipeline's models got was canceled
  for (const p of pipelineExtra) expect([p.id, p.status]).toEqual([p.id, 'canceled']);
  // every file, and the manifest listing them, in the pipeline's folder whichever worker persisted them
  expect(pipeline.manifest && existsSync(pipeline.manifest), String(pipeline.manifest)).toBe(true);
  const files = [...pipeline.steps.generate!.files, ...pipeline.steps.upscale!.files];
  expect(files).toHaveLength(4);
  for (const file of files) {
    expect(existsSync(path.resolve(path.dirname(pipeline.manifest!), file)), file).toBe(true);
  }

  // the CLI's own view of a few runs agrees (result --json)
  for (const spec of [runs[0]!, runs[7]!]) {
    const result = await cli('result', spec.workflowId, '--json').then(
      ({ stdout }) => stdout,
      (error: { stdout: string }) => error.stdout,
    );
    const parsed = JSON.parse(result) as { status: string; output: unknown };
    expect(parsed.status).toBe(spec.expect);
    if (spec.expect === 'succeeded') expect(parsed.output).toEqual(spec.input);
  }
  // and PostgreSQL visibility lists none of them running
  await until('visibility lists no open run', 30_000, async () => {
    const { count } = await client.workflow.count(
      `ExecutionStatus = 'Running' AND WorkflowType IN ('runPrediction', 'runPipeline')`,
    );
    if (Number(count) > 0) throw new Error(`${count} listed as running`);
  });
  passed = true;
}, 300_000);
