/**
 * A model's typical timing, from its recent completions: how long its jobs wait before running (created_at →
 * started_at: queue, cold boot) and how long they run (started_at → completed_at). The workers keep the samples
 * (src/activities/timings.ts) and a create's answer hands the summary to its run, which plans its polls with it
 * (./predictive-polling.ts). Pure.
 */

/** Low, typical and high values of a duration, ms (10th, 50th and 90th percentiles of the samples). */
export interface Spread {
  lo: number;
  mid: number;
  hi: number;
}

export interface ModelTiming {
  /** how many recent completions the figures come from */
  samples: number;
  /** started_at → completed_at */
  runMs: Spread;
  /** created_at → started_at */
  queueMs: Spread;
}

/** One completed job's timing, ms. */
export interface TimingSample {
  runMs: number;
  queueMs: number;
}

/** Fewer completions than this tell nothing reliable: the run polls on the plain backoff. */
export const MIN_TIMING_SAMPLES = 3;

/** The value at quantile `q` of sorted `values` (nearest rank, so the low and high of three are the min and max). */
function quantile(sorted: number[], q: number): number {
  const rank = q < 0.5 ? Math.floor(q * (sorted.length - 1)) : Math.ceil(q * (sorted.length - 1));
  return sorted[rank]!;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    lo: Math.round(quantile(sorted, 0.1)),
    mid: Math.round(quantile(sorted, 0.5)),
    hi: Math.round(quantile(sorted, 0.9)),
  };
}

/** The summary of `samples`, or undefined below MIN_TIMING_SAMPLES. */
export function summarizeTiming(samples: readonly TimingSample[]): ModelTiming | undefined {
  if (samples.length < MIN_TIMING_SAMPLES) return undefined;
  return {
    samples: samples.length,
    runMs: spread(samples.map((s) => s.runMs)),
    queueMs: spread(samples.map((s) => s.queueMs)),
  };
}

/**
 * The timing of one finished job from Replicate's timestamps, or undefined unless it succeeded with all three (a
 * failure's or a cancel's running time says nothing about the model's).
 */
export function timingOf(job: {
  status: string;
  createdAt: string | null;
  startedAt: string | null;
  completedAt: string | null;
}): TimingSample | undefined {
  if (job.status !== 'succeeded' || !job.createdAt || !job.startedAt || !job.completedAt) return undefined;
  const created = Date.parse(job.createdAt);
  const started = Date.parse(job.startedAt);
  const completed = Date.parse(job.completedAt);
  if (!(created <= started && started <= completed)) return undefined;
  // hours-long jobs are real (trainings); a day is not a timing to plan polls with
  if (completed - created > 86_400_000) return undefined;
  return { runMs: completed - started, queueMs: started - created };
}
