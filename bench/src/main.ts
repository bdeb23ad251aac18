/**
 * (Over 400 lines on purpose: the three scenarios' shared runner and reporting; the scenarios live beside it.)
 * `npm run bench -- [--size N] [--scenario compare|scale|tune|flow|all] [--time-factor F] [--out FILE] [--seed S]
 *   [--tune JSON] [--max-minutes M] [--server dev|cluster]`
 *
 * Everything runs on 127.0.0.1: the Replicate simulator in this process, a Temporal dev server child process,
 * workers in-process (compare) or as one child process (scale, tune). Writes bench/results/<date>-<scenario>.json
 * (or --out) plus an SVG chart next to it, and prints a table. `--scenario scale --server cluster` runs one step
 * (default 2,000 in flight) with two worker processes on the dev server, then the same on the native cluster
 * (scripts/cluster: PostgreSQL persistence and visibility), and writes <date>-scale-cluster.json. The dev server fires timers with ~1 s granularity,
 * which dominates polling lag at small time factors.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runCompare, type ClassSummary, type CompareResult } from './compare';
import { startClusterEnv, type ServerPids } from './cluster';
import { startBenchEnv, type BenchEnv } from './env';
import { roundAll } from './lib';
import { flowSvg, printFlow, readRpmVariant, runFlow } from './flow';
import { runScaleStep, spawnWorker, WORKER_ENTRY_BENCH, type ScaleStep } from './scale';
import { barChart } from './svg';
import { parseTuning, type Tuning } from './worker';
import { metricsEndpoint, parseObservability, type Observability } from './observability';
import { parseCodec, type CodecMode } from './codec';

const SCENARIOS = ['compare', 'scale', 'tune', 'flow'] as const;
type Scenario = (typeof SCENARIOS)[number];
/** `--scenario all`: flow (two runs of 2,000, about 20 minutes) only when asked for by name */
const ALL_SCENARIOS: Scenario[] = ['compare', 'scale', 'tune'];
const SCALE_STEPS = [10, 100, 1_000, 2_000];
/**
 * The variants `tune` compares by default, each against the first (the SDK defaults, bundling at start). At 2,000
 * in flight the default worker reached ~850 MB: ~180 MB of it is webpack, loaded to bundle the workflows at start,
 * and most of the rest is garbage V8 does not collect under its default ~4 GB heap limit (the live set is small: a
 * smaller sticky cache barely helped). A prebuilt bundle plus a 384 MB heap limit kept it under 400 MB.
 */
const DEFAULT_TUNINGS: Tuning[] = [
  {},
  { prebuiltBundle: true, maxCachedWorkflows: 250 },
  { prebuiltBundle: true, maxOldSpaceSizeMb: 384 },
];
/** What `scale` runs with: the tuning `tune` showed to be best (docs/benchmarks.md). */
const SCALE_TUNING: Tuning = { prebuiltBundle: true, maxOldSpaceSizeMb: 384 };

export interface Options {
  scenarios: Scenario[];
  size: number | undefined;
  timeFactor: number | undefined;
  out: string | undefined;
  seed: number;
  tunings: Tuning[];
  maxMinutes: number;
  /** `cluster`: the scale step on the dev server and on the native cluster, two workers each */
  server: 'dev' | 'cluster';
  /** compare only: the worker's Prometheus metrics and/or OpenTelemetry traces on (bench/src/observability.ts) */
  observability: Observability;
  /** flow only: one run with REPLICATE_READ_RPM=N instead of before/after */
  readRpm: number | undefined;
  /** compare only: the workflow approaches with the encryption codec too (both) or instead (on) */
  codec: CodecMode;
}

const USAGE =
  'usage: npm run bench -- [--size N] [--scenario compare|scale|tune|flow|all] [--time-factor F] [--out FILE] [--seed S] [--tune JSON] [--max-minutes M] [--server dev|cluster] [--read-rpm N (flow)] [--observability off|metrics|tracing|both (compare)] [--codec off|on|both (compare)]';

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      size: { type: 'string' },
      scenario: { type: 'string', default: 'compare' },
      'time-factor': { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string', default: '42' },
      tune: { type: 'string' },
      'max-minutes': { type: 'string', default: '60' },
      server: { type: 'string', default: 'dev' },
      observability: { type: 'string', default: 'off' },
      'read-rpm': { type: 'string' },
      codec: { type: 'string', default: 'off' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (name: string, raw: string | undefined, min: number, max: number): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new Error(`--${name} must be in ${min}..${max}, got "${raw}"`);
    return n;
  };
  const scenario = values.scenario;
  const scenarios: Scenario[] =
    scenario === 'all'
      ? [...ALL_SCENARIOS]
      : (SCENARIOS as readonly string[]).includes(scenario)
        ? [scenario as Scenario]
        : [];
  if (scenarios.length === 0) throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')}, all`);
  const size = num('size', values.size, 1, 5_000);
  if (size !== undefined && !Number.isInteger(size)) throw new Error('--size must be an integer');
  if (values.out && scenarios.length > 1) throw new Error('--out needs a single --scenario');
  if (values.server !== 'dev' && values.server !== 'cluster')
    throw new Error('--server must be dev or cluster');
  if (values.server === 'cluster' && scenario !== 'scale')
    throw new Error('--server cluster goes with --scenario scale');
  const observability = parseObservability(values.observability);
  if (observability !== 'off' && scenario !== 'compare')
    throw new Error('--observability goes with --scenario compare');
  const codec = parseCodec(values.codec);
  if (codec !== 'off' && scenario !== 'compare') throw new Error('--codec goes with --scenario compare');
  if (codec !== 'off' && observability !== 'off')
    throw new Error('--codec goes with --observability off (measure one cost at a time)');
  return {
    scenarios,
    size,
    timeFactor: num('time-factor', values['time-factor'], 0.001, 1),
    out: values.out,
    seed: num('seed', values.seed, 0, 2 ** 31)!,
    tunings:
      values.tune === undefined
        ? DEFAULT_TUNINGS
        : [{}, ...values.tune.split(';').map((t) => parseTuning(t))],
    maxMinutes: num('max-minutes', values['max-minutes'], 1, 600)!,
    readRpm: num('read-rpm', values['read-rpm'], 1, 1_000_000),
    server: values.server,
    observability,
    codec,
  };
}

const log = (line: string): void =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

// ------------------------------------------------------------------ scenarios

interface ScaleResult {
  scenario: 'scale';
  timeFactor: number;
  seed: number;
  worker: { entry: string; startupMs: number; tuning: Tuning };
  steps: ScaleStep[];
}

interface TuneResult {
  scenario: 'tune';
  size: number;
  timeFactor: number;
  seed: number;
  /** the first run is the baseline; ratios are each run over it */
  runs: Array<{
    label: string;
    tuning: Tuning;
    startupMs: number;
    step: ScaleStep;
    ratios: Record<string, number>;
  }>;
}

async function scenarioScale(env: BenchEnv, o: Options): Promise<ScaleResult> {
  const cap = o.size ?? 2_000;
  const steps = SCALE_STEPS.filter((s) => s <= cap);
  if (steps.length === 0 || (o.size !== undefined && !steps.includes(cap))) steps.push(cap);
  const timeFactor = o.timeFactor ?? 0.5;
  const worker = await spawnWorker(env, WORKER_ENTRY_BENCH, SCALE_TUNING, log);
  const result: ScaleResult = {
    scenario: 'scale',
    timeFactor,
    seed: o.seed,
    worker: { entry: WORKER_ENTRY_BENCH, startupMs: worker.startupMs, tuning: SCALE_TUNING },
    steps: [],
  };
  try {
    for (const size of steps) {
      log(`scale: ${size} in flight`);
      result.steps.push(await runScaleStep(env, worker, { size, timeFactor, seed: o.seed, log }));
    }
  } finally {
    await worker.stop();
  }
  return result;
}

interface ScaleServersResult {
  scenario: 'scale';
  server: 'cluster';
  size: number;
  timeFactor: number;
  seed: number;
  workers: number;
  tuning: Tuning;
  runs: Array<{ server: 'dev' | 'cluster'; workerStartupMs: number[]; step: ScaleStep }>;
}

const CLUSTER_WORKERS = 2;

/**
 * The same step on the dev server and then on the native cluster, each with CLUSTER_WORKERS fresh worker
 * processes on one task queue; the cluster is brought up (and down) inside the run, so the dev server's numbers
 * are not taken while PostgreSQL idles beside it.
 */
async function scenarioScaleServers(env: BenchEnv, o: Options): Promise<ScaleServersResult> {
  const size = o.size ?? 2_000;
  const timeFactor = o.timeFactor ?? 0.5;
  const result: ScaleServersResult = {
    scenario: 'scale',
    server: 'cluster',
    size,
    timeFactor,
    seed: o.seed,
    workers: CLUSTER_WORKERS,
    tuning: SCALE_TUNING,
    runs: [],
  };
  for (const server of ['dev', 'cluster'] as const) {
    let target = env;
    let serverPids: ServerPids | undefined;
    if (server === 'cluster') ({ env: target, pids: serverPids } = await startClusterEnv(env, log));
    try {
      const taskQueue = `bench-scale-${server}-${Date.now().toString(36)}`;
      const workers = [];
      try {
        for (let i = 0; i < CLUSTER_WORKERS; i++) {
          workers.push(await spawnWorker(target, WORKER_ENTRY_BENCH, SCALE_TUNING, log, taskQueue));
        }
        log(`scale on the ${server === 'dev' ? 'dev server' : 'cluster'}: ${size} in flight`);
        const step = await runScaleStep(target, workers, {
          size,
          timeFactor,
          seed: o.seed,
          log,
          ...(serverPids ? { serverPids } : {}),
        });
        result.runs.push({ server, workerStartupMs: workers.map((w) => w.startupMs), step });
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    } finally {
      if (target !== env) await target.close();
    }
  }
  return result;
}

function printServers(r: ScaleServersResult): void {
  console.log(
    '\nserver side (CPU seconds; memory: peak RSS, PostgreSQL as the peak of its processes summed PSS)',
  );
  for (const { server, step } of r.runs) {
    const t = step.server?.temporal;
    const pg = step.server?.postgres;
    console.log(
      `  ${server.padEnd(8)} temporal ${t?.cpuSeconds.toFixed(1) ?? '-'} s / ${t?.peakMemoryMb.toFixed(0) ?? '-'} MB` +
        (pg
          ? `, postgres ${pg.cpuSeconds.toFixed(1)} s / ${pg.peakMemoryMb.toFixed(0)} MB (${pg.maxProcesses} processes)`
          : '') +
        `, workers ${step.worker.cpuSeconds.toFixed(1)} s, largest ${step.worker.vmHwmMb.toFixed(0)} MB`,
    );
  }
}

const SHORT: Record<string, string> = {
  prebuiltBundle: 'bundle',
  maxCachedWorkflows: 'cache',
  maxConcurrentActivityTaskExecutions: 'act',
  maxConcurrentWorkflowTaskExecutions: 'wft',
  maxOldSpaceSizeMb: 'heap',
};

/** A short chart label: `{}` -> "defaults", {prebuiltBundle: true, maxCachedWorkflows: 500} -> "bundle cache=500". */
function tuningLabel(tuning: Tuning): string {
  const parts = Object.entries(tuning).map(([k, v]) =>
    v === true ? (SHORT[k] ?? k) : `${SHORT[k] ?? k}=${v}`,
  );
  return parts.length === 0 ? 'defaults' : parts.join(' ');
}

async function scenarioTune(env: BenchEnv, o: Options): Promise<TuneResult> {
  const size = o.size ?? 1_000;
  const timeFactor = o.timeFactor ?? 0.5;
  const runs: TuneResult['runs'] = [];
  const ratio = (x: number, y: number): number => (y === 0 ? 0 : x / y);
  for (const tuning of o.tunings) {
    const label = tuningLabel(tuning);
    log(`tune: ${label} at ${size}`);
    // A fresh worker process per variant, so RSS and CPU belong to that variant alone.
    const worker = await spawnWorker(env, WORKER_ENTRY_BENCH, tuning, log);
    let step: ScaleStep;
    try {
      step = await runScaleStep(env, worker, { size, timeFactor, seed: o.seed, log });
    } finally {
      await worker.stop();
    }
    const base = runs[0]?.step ?? step;
    runs.push({
      label,
      tuning,
      startupMs: worker.startupMs,
      step,
      ratios: {
        lagP50: ratio(step.lagMs.p50, base.lagMs.p50),
        lagP95: ratio(step.lagMs.p95, base.lagMs.p95),
        cpu: ratio(step.worker.cpuSeconds, base.worker.cpuSeconds),
        peakRss: ratio(step.worker.vmHwmMb, base.worker.vmHwmMb),
        wall: ratio(step.wallMs, base.wallMs),
        wftPerSecond: ratio(step.workflowTasksPerSecond, base.workflowTasksPerSecond),
      },
    });
  }
  return { scenario: 'tune', size, timeFactor, seed: o.seed, runs };
}

// ------------------------------------------------------------------ targets, tables, charts

interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}

function compareTargets(r: CompareResult): Target[] {
  const get = (name: string) => r.approaches.find((a) => a.approach === name);
  const out: Target[] = [];
  const ps = get('polling')?.byClass['60s'];
  if (ps && ps.completed > 0) {
    out.push({
      target: `polling-only lag ≤ 15 % of elapsed, 60 s prediction${r.timeFactor < 1 ? ' (scaled)' : ''}`,
      measured: `p50 ${ps.lagPct.p50.toFixed(1)} %, p95 ${ps.lagPct.p95.toFixed(1)} %`,
      met: ps.lagPct.p95 <= 15,
    });
    out.push({
      target: 'polling-only ≤ 10 API calls, 60 s prediction',
      measured: `max ${ps.callsPerPrediction.max}`,
      met: ps.callsPerPrediction.max <= 10,
    });
    out.push({
      target: '≤ 60 history events, 60 s prediction (polling)',
      measured: `max ${ps.historyEvents?.max ?? '?'}`,
      met: (ps.historyEvents?.max ?? Infinity) <= 60,
    });
  }
  const pr = get('polling')?.byClass.random;
  if (pr && pr.completed > 0) {
    out.push({
      target: 'polling-only lag as % of elapsed, all durations 5–120 s (×1.5 backoff: up to ~1/2 by design)',
      measured: `p50 ${pr.lagPct.p50.toFixed(1)} %, p95 ${pr.lagPct.p95.toFixed(1)} %, max ${pr.lagPct.max.toFixed(1)} %`,
      met: null,
    });
  }
  const pd = get('polling-unscaled')?.byClass['60s'];
  if (pd && pd.completed > 0) {
    out.push({
      target: 'same, unscaled defaults (prediction still time-scaled: lag % is pessimistic)',
      measured: `lag p50 ${pd.lagPct.p50.toFixed(1)} %, calls max ${pd.callsPerPrediction.max}, events max ${pd.historyEvents?.max ?? '?'}`,
      met: null,
    });
  }
  const wh = get('webhooks')?.byClass.all;
  if (wh && wh.completed > 0) {
    out.push({
      target: 'webhooks lag p50 ≤ 50 ms',
      measured: `p50 ${wh.lagMs.p50.toFixed(0)} ms`,
      met: wh.lagMs.p50 <= 50,
    });
    out.push({
      target: 'webhooks ≤ 2 API calls',
      measured: `max ${wh.callsPerPrediction.max}`,
      met: wh.callsPerPrediction.max <= 2,
    });
  }
  const pp = get('predictive');
  const plain = get('polling');
  const p20 = pp?.byClass['20s'];
  if (p20 && p20.completed > 0) {
    out.push({
      target:
        'predictive: 20 s predictions after warm-up, end-to-end / duration ≤ 1.10 (p95) with ≤ 8 GETs (calls − the create)',
      measured: `e2e/duration p50 ${p20.e2eRatio.p50.toFixed(3)}, p95 ${p20.e2eRatio.p95.toFixed(3)}, max ${p20.e2eRatio.max.toFixed(3)}; GETs max ${p20.callsPerPrediction.max - 1}; made of: start p50 ${p20.startMs.p50.toFixed(0)} ms (p95 ${p20.startMs.p95.toFixed(0)}), lag p50 ${p20.lagMs.p50.toFixed(0)} ms (p95 ${p20.lagMs.p95.toFixed(0)})`,
      met: p20.e2eRatio.p95 <= 1.1 && p20.callsPerPrediction.max - 1 <= 8,
    });
  }
  if (pp && plain && pp.byClass.all.completed > 0 && plain.byClass.all.completed > 0) {
    const mine = pp.byClass.all;
    const theirs = plain.byClass.all;
    out.push({
      target: 'predictive: mixed set lag p50 ≤ half the plain backoff’s',
      measured: `${mine.lagMs.p50.toFixed(0)} ms vs ${theirs.lagMs.p50.toFixed(0)} ms (${(mine.lagMs.p50 / theirs.lagMs.p50).toFixed(2)}×)`,
      met: mine.lagMs.p50 <= theirs.lagMs.p50 / 2,
    });
    out.push({
      target: 'predictive: mixed set GETs p95 ≤ the plain backoff’s p95',
      measured: `calls p95 ${mine.callsPerPrediction.p95} vs ${theirs.callsPerPrediction.p95} (max ${mine.callsPerPrediction.max} vs ${theirs.callsPerPrediction.max})`,
      met: mine.callsPerPrediction.p95 <= theirs.callsPerPrediction.p95,
    });
  }
  for (const name of ['polling', 'predictive', 'webhooks'] as const) {
    const c = get(name)?.byClass['20s'];
    if (c?.vsDirect && c.vsDirect.n > 0) {
      out.push({
        target: `${name}: overhead vs direct loop ≤ 1.05×, 20 s predictions`,
        measured: `p50 ${c.vsDirect.p50.toFixed(3)}×`,
        met: c.vsDirect.p50 <= 1.05,
      });
    }
  }
  return out;
}

function scaleTargets(r: ScaleResult): Target[] {
  const top = r.steps[r.steps.length - 1];
  if (!top) return [];
  return [
    {
      target: `2,000 in flight all completing (largest step run: ${top.size})`,
      measured: `${top.completed}/${top.size} completed, peak in flight ${top.peakInFlight}`,
      met: top.size >= 2_000 ? top.completed === top.size : null,
    },
    {
      target: 'worker RSS ≤ 400 MB at the largest step',
      measured: `peak sampled ${top.worker.peakRssMb.toFixed(0)} MB, VmHWM ${top.worker.vmHwmMb.toFixed(0)} MB`,
      met: top.size >= 2_000 ? top.worker.vmHwmMb <= 400 : null,
    },
  ];
}

const pad = (s: string | number, n: number): string => String(s).padStart(n);

function printCompare(r: CompareResult): void {
  console.log(`\ncompare: ${r.size} predictions, time factor ${r.timeFactor} (ratios from this one run)`);
  console.log(
    [
      'approach'.padEnd(22),
      'class'.padEnd(6),
      pad('ok', 7),
      pad('e2e/dur p50', 11),
      pad('lag p50', 8),
      pad('p95', 7),
      pad('p99', 7),
      pad('lag% p50', 9),
      pad('calls p50/max', 13),
      pad('events p50/max', 14),
      pad('vs direct p50', 13),
    ].join(' '),
  );
  for (const a of r.approaches) {
    for (const cls of ['all', '20s', '60s', 'random'] as const) {
      const c = a.byClass[cls];
      if (c.n === 0) continue;
      console.log(
        [
          a.approach.padEnd(22),
          cls.padEnd(6),
          pad(`${c.completed}/${c.n}`, 7),
          pad(c.e2eRatio.p50.toFixed(3), 11),
          pad(c.lagMs.p50.toFixed(0), 8),
          pad(c.lagMs.p95.toFixed(0), 7),
          pad(c.lagMs.p99.toFixed(0), 7),
          pad(c.lagPct.p50.toFixed(1), 9),
          pad(`${c.callsPerPrediction.p50}/${c.callsPerPrediction.max}`, 13),
          pad(c.historyEvents ? `${c.historyEvents.p50}/${c.historyEvents.max}` : '-', 14),
          pad(c.vsDirect ? c.vsDirect.p50.toFixed(3) : '-', 13),
        ].join(' '),
      );
    }
  }
}

function printCodecCost(r: CompareResult): void {
  if (!r.codecCost || r.codecCost.length === 0) return;
  console.log('\ncodec cost (each workflow approach without, then with encryption):');
  console.log(
    [
      'approach'.padEnd(16),
      pad('cpu s off/on', 13),
      pad('ratio', 6),
      pad('lag p50 off/on', 15),
      pad('p95 off/on', 13),
      pad('payloads', 9),
      pad('KiB', 7),
      pad('codec ms', 9),
      pad('µs/payload', 10),
      pad('% cpu', 6),
    ].join(' '),
  );
  for (const c of r.codecCost) {
    console.log(
      [
        c.approach.padEnd(16),
        pad(`${c.cpuSeconds.off.toFixed(1)}/${c.cpuSeconds.on.toFixed(1)}`, 13),
        pad(c.cpuSeconds.ratio.toFixed(2), 6),
        pad(`${c.lagP50Ms.off.toFixed(0)}/${c.lagP50Ms.on.toFixed(0)}`, 15),
        pad(`${c.lagP95Ms.off.toFixed(0)}/${c.lagP95Ms.on.toFixed(0)}`, 13),
        pad(c.codec.encodedPayloads + c.codec.decodedPayloads, 9),
        pad((c.codec.bytes / 1024).toFixed(0), 7),
        pad(c.codec.ms.toFixed(0), 9),
        pad(c.codecMicrosPerPayload.toFixed(1), 10),
        pad((100 * c.codecShareOfCpu).toFixed(2), 6),
      ].join(' '),
    );
  }
}

function printSteps(title: string, rows: Array<{ label: string; step: ScaleStep }>): void {
  console.log(`\n${title}`);
  console.log(
    [
      'step'.padEnd(14),
      pad('done', 11),
      pad('peak fl', 7),
      pad('lag p50', 8),
      pad('p95', 7),
      pad('p99', 7),
      pad('calls p50', 9),
      pad('events p50', 10),
      pad('cpu s', 7),
      pad('cpu %', 6),
      pad('srv cpu', 7),
      pad('RSS MB', 7),
      pad('HWM MB', 7),
      pad('WFT/s', 7),
      pad('WFT t/o', 7),
      pad('wall s', 7),
    ].join(' '),
  );
  for (const { label, step: s } of rows) {
    console.log(
      [
        label.padEnd(14),
        pad(`${s.completed}/${s.size}`, 11),
        pad(s.peakInFlight, 7),
        pad(s.lagMs.p50.toFixed(0), 8),
        pad(s.lagMs.p95.toFixed(0), 7),
        pad(s.lagMs.p99.toFixed(0), 7),
        pad(s.callsPerPrediction.p50, 9),
        pad(s.historyEvents.p50, 10),
        pad(s.worker.cpuSeconds.toFixed(1), 7),
        pad(s.worker.cpuPercentOfOneCore.toFixed(0), 6),
        pad(
          s.server ? s.server.cpuSeconds.toFixed(1) : s.devServer ? s.devServer.cpuSeconds.toFixed(1) : '-',
          7,
        ),
        pad(s.worker.peakRssMb.toFixed(0), 7),
        pad(s.worker.vmHwmMb.toFixed(0), 7),
        pad(s.workflowTasksPerSecond.toFixed(1), 7),
        pad(s.workflowTaskTimeouts, 7),
        pad((s.wallMs / 1000).toFixed(1), 7),
      ].join(' '),
    );
  }
}

function printTargets(targets: Target[]): void {
  if (targets.length === 0) return;
  console.log('\ntargets:');
  for (const t of targets) {
    console.log(`  [${t.met === null ? 'n/a ' : t.met ? 'MET ' : 'MISS'}] ${t.target}: ${t.measured}`);
  }
}

function compareSvg(r: CompareResult): string {
  const classes = ['all', '20s', '60s'] as const;
  // One panel per metric: a bar per approach in each class.
  const panel = (title: string, unit: string, pick: (c: ClassSummary) => number, target?: number) => ({
    title,
    unit,
    categories: [...classes],
    series: r.approaches.map((a) => ({ name: a.approach, values: classes.map((c) => pick(a.byClass[c])) })),
    ...(target === undefined ? {} : { target }),
  });
  return barChart(
    `compare: ${r.size} predictions, time factor ${r.timeFactor}`,
    [
      panel('completion-detection lag p50 (ms)', 'ms', (c) => c.lagMs.p50),
      panel('API calls per prediction (p50)', 'calls', (c) => c.callsPerPrediction.p50),
      panel('end-to-end time / prediction duration (p50)', '×', (c) => c.e2eRatio.p50, 1.05),
    ],
    `approaches: ${r.approaches.map((a) => a.approach).join(', ')}. Dev server timers fire with ~1 s granularity.`,
  );
}

function stepsSvg(title: string, rows: Array<{ label: string; step: ScaleStep }>): string {
  const cats = rows.map((r) => r.label);
  return barChart(title, [
    {
      title: 'detection lag (ms): p50 and p95',
      unit: 'ms',
      categories: cats,
      series: [
        { name: 'p50', values: rows.map((r) => r.step.lagMs.p50) },
        { name: 'p95', values: rows.map((r) => r.step.lagMs.p95) },
      ],
    },
    {
      title: 'worker peak RSS (MB)',
      unit: 'MB',
      categories: cats,
      series: [
        { name: 'sampled peak', values: rows.map((r) => r.step.worker.peakRssMb) },
        { name: 'VmHWM', values: rows.map((r) => r.step.worker.vmHwmMb) },
      ],
      target: 400,
    },
    {
      title: 'worker CPU seconds and workflow tasks / s',
      unit: '',
      categories: cats,
      series: [
        { name: 'CPU s', values: rows.map((r) => r.step.worker.cpuSeconds) },
        { name: 'WFT/s', values: rows.map((r) => r.step.workflowTasksPerSecond) },
      ],
    },
  ]);
}

// ------------------------------------------------------------------ main

function outPaths(o: Options, scenario: string): { json: string; svg: string } {
  const json =
    o.out ??
    path.resolve(__dirname, '..', 'results', `${new Date().toISOString().slice(0, 10)}-${scenario}.json`);
  return { json, svg: json.replace(/\.json$/, '') + '.svg' };
}

function write(o: Options, scenario: string, result: object, svg: string): void {
  const { json, svg: svgPath } = outPaths(o, scenario);
  mkdirSync(path.dirname(json), { recursive: true });
  const meta = {
    generatedAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.release()}` },
    note: 'one run on a noisy 2-core machine: compare ratios within the run, not absolute numbers across runs. The Temporal dev server fires timers with ~1 s granularity.',
  };
  writeFileSync(json, JSON.stringify(roundAll({ ...meta, ...result }), null, 2) + '\n');
  writeFileSync(svgPath, svg);
  log(`wrote ${json} and ${svgPath}`);
}

export async function main(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  const t0 = Date.now();
  const env = await startBenchEnv(log, { metrics: await metricsEndpoint(o.observability) });
  let timedOut = false;
  const hardStop = setTimeout(() => {
    timedOut = true;
    log(`--max-minutes ${o.maxMinutes} reached: stopping`);
    void env.close().finally(() => process.exit(3));
  }, o.maxMinutes * 60_000);
  hardStop.unref();
  try {
    for (const scenario of o.scenarios) {
      const s0 = Date.now();
      if (scenario === 'compare') {
        const r = await runCompare(env, {
          size: o.size ?? 30,
          timeFactor: o.timeFactor ?? 1,
          seed: o.seed,
          log,
          observability: o.observability,
          codec: o.codec,
        });
        const targets = compareTargets(r);
        printCompare(r);
        printCodecCost(r);
        printTargets(targets);
        write(o, scenario, { ...r, runtimeMs: Date.now() - s0, targets }, compareSvg(r));
      } else if (scenario === 'flow') {
        const r = await runFlow(() => startBenchEnv(log), {
          ...(o.readRpm !== undefined ? { variants: [readRpmVariant(o.readRpm)] } : {}),
          size: o.size ?? 2_000,
          timeFactor: o.timeFactor ?? 0.5,
          seed: o.seed,
          tuning: SCALE_TUNING,
          workers: 2,
          log,
        });
        printFlow(r);
        write(o, scenario, { ...r, runtimeMs: Date.now() - s0 }, flowSvg(r));
      } else if (scenario === 'scale' && o.server === 'cluster') {
        const r = await scenarioScaleServers(env, o);
        const rows = r.runs.map((x) => ({ label: `${x.server} ${x.step.size}`, step: x.step }));
        printSteps(
          `scale: ${r.workers} worker processes, dev server vs cluster, polling only, time factor ${r.timeFactor}`,
          rows,
        );
        printServers(r);
        write(
          o,
          'scale-cluster',
          { ...r, runtimeMs: Date.now() - s0 },
          stepsSvg(`scale: dev server vs cluster, ${r.workers} workers`, rows),
        );
      } else if (scenario === 'scale') {
        const r = await scenarioScale(env, o);
        const targets = scaleTargets(r);
        const rows = r.steps.map((step) => ({ label: String(step.size), step }));
        printSteps(`scale: one worker process, polling only, time factor ${r.timeFactor}`, rows);
        printTargets(targets);
        write(
          o,
          scenario,
          { ...r, runtimeMs: Date.now() - s0, targets },
          stepsSvg('scale: one worker process', rows),
        );
      } else {
        const r = await scenarioTune(env, o);
        const rows = r.runs.map((x) => ({ label: x.label, step: x.step }));
        printSteps(`tune at ${r.size}: one fresh worker process per variant`, rows);
        for (const x of r.runs)
          console.log(`ratios vs defaults: ${x.label}: ${JSON.stringify(roundAll(x.ratios))}`);
        write(
          o,
          scenario,
          { ...r, runtimeMs: Date.now() - s0 },
          stepsSvg(`tune at ${r.size}: variants`, rows),
        );
      }
    }
  } finally {
    clearTimeout(hardStop);
    if (!timedOut) await env.close();
  }
  log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}
