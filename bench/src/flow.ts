/**
 * `flow`: the read rate at Replicate with N runs in flight (default 2,000), without and with the fleet-wide read
 * limit (src/worker/flow-control.ts), on the scale runner with two worker processes on one task queue.
 * - unlimited local polls: REPLICATE_READ_RPM=off (status polls are local activities outside any budget), creates at
 *   the default REPLICATE_CREATE_RPM like the other variant, so that only the read limit differs;
 * - the defaults (REPLICATE_CREATE_RPM=600, REPLICATE_READ_RPM=3000).
 * From the simulator's request log: reads (gets, lists, cancels) and creates per minute since the first start, the
 * busiest 60 s window of each, 429s answered; from the scale runner: time to drain (first start to last close),
 * lag, completions. The simulator does not enforce Replicate's budgets, so the unlimited variant shows the excess instead of 429s.
 */
import type { RecordedRequest } from '../../simulator';
import type { BenchEnv } from './env';
import { runScaleStep, spawnWorker, WORKER_ENTRY_BENCH, type ScaleStep } from './scale';
import { barChart } from './svg';
import type { Tuning } from './worker';

const READ_ROUTES = /^(predictions|trainings)\.(get|list|cancel)$/;
const CREATE_ROUTES = /^(predictions|models\.predictions|deployments\.predictions|trainings)\.create$/;

export const FLOW_VARIANTS: { label: string; env: Record<string, string> }[] = [
  { label: 'unlimited local polls (REPLICATE_READ_RPM=off)', env: { REPLICATE_READ_RPM: 'off' } },
  { label: 'the defaults (3,000 reads, 600 creates a minute)', env: {} },
];

/** `--read-rpm N`: one run with the defaults but REPLICATE_READ_RPM=N (a budget the machine can exceed). */
export function readRpmVariant(n: number): { label: string; env: Record<string, string> } {
  return { label: `REPLICATE_READ_RPM=${n}`, env: { REPLICATE_READ_RPM: String(n) } };
}

export interface FlowRun {
  label: string;
  env: Record<string, string>;
  /** reads (gets, lists, cancels) in each minute since the first request */
  readsPerMinute: number[];
  createsPerMinute: number[];
  /** the most reads (creates) in any 60 s window */
  peakReads60s: number;
  peakCreates60s: number;
  reads: number;
  throttled429: number;
  /** first start -> last close */
  drainMs: number;
  step: ScaleStep;
}

export interface FlowResult {
  scenario: 'flow';
  size: number;
  timeFactor: number;
  seed: number;
  workers: number;
  tuning: Tuning;
  runs: FlowRun[];
}

/** The most entries in any window of `windowMs` (times in ms, any order). */
export function maxInWindow(times: number[], windowMs = 60_000): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi]! - sorted[lo]! >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

function perMinute(times: number[], t0: number): number[] {
  const out: number[] = [];
  for (const t of times) {
    const m = Math.max(0, Math.floor((t - t0) / 60_000));
    while (out.length <= m) out.push(0);
    out[m]! += 1;
  }
  return out;
}

export async function runFlow(
  /** a fresh simulator and dev server for each variant (closed after it) */
  freshEnv: () => Promise<BenchEnv>,
  o: {
    variants?: { label: string; env: Record<string, string> }[];
    size: number;
    timeFactor: number;
    seed: number;
    tuning: Tuning;
    workers: number;
    log: (l: string) => void;
  },
): Promise<FlowResult> {
  const runs: FlowRun[] = [];
  for (const variant of o.variants ?? FLOW_VARIANTS) {
    const taskQueue = `bench-flow-${runs.length}-${Date.now().toString(36)}`;
    // Each variant on its own dev server: the in-memory server of a second run holds the first run's 2,000 histories
    // (RSS 668 → 952 MB) and costs more CPU for the same work (+20 % for the same workflow tasks and events, seen
    // when both variants shared one), which would be charged to the second variant.
    const env = await freshEnv();
    const workers = [];
    let requests: RecordedRequest[] = [];
    let step: ScaleStep;
    try {
      for (let i = 0; i < o.workers; i++)
        workers.push(await spawnWorker(env, WORKER_ENTRY_BENCH, o.tuning, o.log, taskQueue, variant.env));
      o.log(`flow: ${variant.label}, ${o.size} in flight`);
      step = await runScaleStep(env, workers, {
        size: o.size,
        timeFactor: o.timeFactor,
        seed: o.seed,
        log: o.log,
        drainTimeoutMs: 30 * 60_000, // time to drain is what this scenario measures: wait for every run
        beforeReset: (sim) => (requests = [...sim.requests]),
      });
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await env.close();
    }
    const t0 = Math.min(...requests.map((r) => r.at));
    const reads = requests.filter((r) => READ_ROUTES.test(r.route)).map((r) => r.at);
    const creates = requests.filter((r) => CREATE_ROUTES.test(r.route)).map((r) => r.at);
    const run: FlowRun = {
      label: variant.label,
      env: variant.env,
      readsPerMinute: perMinute(reads, t0),
      createsPerMinute: perMinute(creates, t0),
      peakReads60s: maxInWindow(reads),
      peakCreates60s: maxInWindow(creates),
      reads: reads.length,
      throttled429: requests.filter((r) => r.status === 429).length,
      drainMs: step.wallMs,
      step,
    };
    o.log(
      `flow: ${variant.label}: peak ${run.peakReads60s} reads / 60 s, ${run.reads} reads, drained in ${(run.drainMs / 1000).toFixed(0)} s, ${step.completed}/${o.size} completed`,
    );
    runs.push(run);
  }
  return {
    scenario: 'flow',
    size: o.size,
    timeFactor: o.timeFactor,
    seed: o.seed,
    workers: o.workers,
    tuning: o.tuning,
    runs,
  };
}

export function printFlow(r: FlowResult): void {
  console.log(
    `\nflow: ${r.size} in flight, ${r.workers} worker processes, time factor ${r.timeFactor}; reads per minute since the first request`,
  );
  for (const run of r.runs) {
    console.log(
      `  ${run.label}\n    reads/min ${run.readsPerMinute.join(' ')}\n    peak 60 s: ${run.peakReads60s} reads, ${run.peakCreates60s} creates; 429s ${run.throttled429}; drained in ${(run.drainMs / 1000).toFixed(0)} s; ${run.step.completed}/${r.size} completed, lag p50 ${(run.step.lagMs.p50 / 1000).toFixed(1)} s p95 ${(run.step.lagMs.p95 / 1000).toFixed(1)} s\n    workflow tasks ${run.step.workflowTasksCompleted} (${run.step.workflowTaskScheduleToStartTimeouts} timed out on a sticky queue); polls that waited for the read share ${run.step.readBudgetWaits}, on the reads queue ${run.step.queuedPolls}; server CPU ${run.step.server?.cpuSeconds.toFixed(0) ?? '?'} s`,
    );
  }
}

export function flowSvg(r: FlowResult): string {
  const minutes = Math.max(...r.runs.map((x) => x.readsPerMinute.length));
  const categories = Array.from({ length: minutes }, (_, m) => `${m + 1}`);
  const series = r.runs.map((x) => ({
    name: x.label,
    values: categories.map((_, m) => x.readsPerMinute[m] ?? 0),
  }));
  return barChart(
    `flow: reads per minute at Replicate, ${r.size} in flight, ${r.workers} workers`,
    [
      {
        title: 'reads (gets, lists, cancels) in each minute since the first request',
        unit: '/min',
        categories,
        series,
        target: 3000,
      },
      {
        title: 'peak reads in any 60 s window, and time to drain',
        unit: '',
        categories: ['peak reads / 60 s', 'drain (s)'],
        series: r.runs.map((x) => ({ name: x.label, values: [x.peakReads60s, x.drainMs / 1000] })),
      },
    ],
    `time factor ${r.timeFactor}; one run on a shared, noisy 2-core machine`,
  );
}
