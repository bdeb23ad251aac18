/**
 * Predictive polling: when to look at a job whose end can be foreseen. From the model's recent timing (a create's
 * answer carries it, ./timing.ts), the job's own started_at and the progress its logs show (./progress.ts), the run
 * expects the job to end at some time; it polls once just after that (few polls while the end is far: the backoff's
 * cap is the longest wait), then a short burst a second or so apart, then the plain backoff again. With nothing known
 * it is exactly the plain backoff (./polling.ts). Whatever it expects, it never makes more than twice the GETs the
 * plain backoff would have made by then (plus two). Pure: the workflow calls it with its clock and its history's
 * data, so replay decides the same.
 */
import { pollDelayMs } from './polling';
import type { ModelTiming } from './timing';
import type { PollingOptions } from './types';

/** Progress seen in a poll's logs tail, and when (the workflow's clock, ms). */
export interface ProgressPoint {
  fraction: number;
  steps: number;
  atMs: number;
}

/** What the run carries between polls (and across continue-as-new) for the prediction. */
export interface PredictiveMemory {
  /** the model's timing from the create's answer; null when the workers knew too little */
  timing: ModelTiming | null;
  /** the first and the latest progress of the current phase of the job's logs (at most two points) */
  progress: ProgressPoint[];
  /** polls made after the expected end (the burst, then the backoff), 0 while the end is ahead */
  pastEndPolls: number;
  /** how many of them were the burst's */
  burstPolls: number;
  /** how far Replicate's clock is ahead of the workflow's (ms; ./predictive-polling.ts `replicateClock`) */
  replicateAheadMs?: number;
}

/** Below this, a skew cannot be told from the create's own latency (created_at is a little before the answer). */
const CLOCK_SKEW_FLOOR_MS = 2_000;

/**
 * How far Replicate's clock is ahead of the workflow's (negative: behind), from a fresh create: its `created_at`
 * against the workflow's time when the answer arrived. Replicate's started_at and created_at are on its clock; the
 * plan compares them with the workflow's, so a skew of minutes would put the expected end minutes off. Within
 * CLOCK_SKEW_FLOOR_MS: none. Not for an adopted job (created by an earlier attempt, its created_at is older).
 */
export function replicateClock(createdAt: string | null, answeredAtMs: number): number {
  const created = createdAt ? Date.parse(createdAt) : NaN;
  if (!Number.isFinite(created)) return 0;
  const ahead = created - answeredAtMs;
  return Math.abs(ahead) < CLOCK_SKEW_FLOOR_MS ? 0 : ahead;
}

/** A Replicate timestamp on the workflow's clock (NaN when absent). */
function onOurClock(iso: string | null, memory: PredictiveMemory): number {
  return iso ? Date.parse(iso) - (memory.replicateAheadMs ?? 0) : NaN;
}

/** The memory once the poll `plan` planned has been made. */
export function afterPoll(memory: PredictiveMemory, plan: PollPlan): PredictiveMemory {
  if (!plan.pastEnd) return { ...memory, pastEndPolls: 0, burstPolls: 0 };
  return {
    ...memory,
    pastEndPolls: memory.pastEndPolls + 1,
    burstPolls: memory.burstPolls + (plan.why === 'burst' ? 1 : 0),
  };
}

export const PREDICTIVE = {
  /**
   * polls a second or so apart once the expected end has passed, before the plain backoff resumes; for a model whose
   * running time varies, as many as the backoff would have made by the end of its usual range (at most
   * maxBurstPolls), spread over that range
   */
  burstPolls: 3,
  maxBurstPolls: 8,
  /** progress counted in fewer steps is too coarse to extrapolate from (a 4-step bar jumps by 25 %) */
  minProgressSteps: 10,
  /** GETs allowed per GET the plain backoff would have made by the same time (plus this many on top) */
  getsPerBackoffGet: 2,
  extraGets: 2,
  /** the poll lands this long after the expected end (plus 1 % of the expected running time) */
  landingMarginMs: 250,
} as const;

export interface PlanInput {
  nowMs: number;
  /** when the run started waiting for the job (the backoff counts from there) */
  sinceMs: number;
  /** GETs made so far */
  polls: number;
  polling: Required<PollingOptions>;
  job: { status: string; createdAt: string | null; startedAt: string | null };
  memory: PredictiveMemory;
  /**
   * the run must learn when the job starts (a budget counts its cost from started_at): until a poll has seen it
   * start, no wait is longer than the backoff's
   */
  needsStart?: boolean;
}

export type PlanReason = 'backoff' | 'far' | 'end' | 'burst' | 'after burst' | 'GET budget';

export interface PollPlan {
  waitMs: number;
  /** the poll comes after the expected end (it counts in `pastEndPolls`) */
  pastEnd: boolean;
  /** when the job is expected to end (epoch ms), or null when nothing is known */
  expectedEndMs: number | null;
  why: PlanReason;
}

/** The window the job's end is expected in (epoch ms), or undefined when nothing foretells it. */
export function expectedEnd(input: PlanInput): { lo: number; hi: number } | undefined {
  const { memory, job, nowMs } = input;
  const fromProgress = progressEnd(memory.progress);
  if (fromProgress !== undefined) return { lo: fromProgress, hi: fromProgress };
  const t = memory.timing;
  if (t === null) return undefined;
  const started = onOurClock(job.startedAt, memory);
  if (Number.isFinite(started)) return { lo: started + t.runMs.lo, hi: started + t.runMs.hi };
  const created = onOurClock(job.createdAt, memory);
  const base = Number.isFinite(created) ? created : input.sinceMs;
  // running (or ended) without a started_at: it started when such jobs usually do
  if (job.status !== 'starting')
    return { lo: base + t.queueMs.lo + t.runMs.lo, hi: base + t.queueMs.hi + t.runMs.hi };
  // not running yet: it cannot end before it starts, and it cannot start before now
  return {
    lo: Math.max(nowMs, base + t.queueMs.lo) + t.runMs.lo,
    hi: Math.max(nowMs, base + t.queueMs.hi) + t.runMs.hi,
  };
}

/**
 * The end the progress foretells: at the rate between the first and the latest point of the current phase.
 * Undefined with a single point (the time before the first step, loading the model, would count as stepping) or
 * progress too coarse.
 */
function progressEnd(points: readonly ProgressPoint[]): number | undefined {
  if (points.length < 2) return undefined;
  const first = points[0]!;
  const last = points[points.length - 1]!;
  if (last.steps < PREDICTIVE.minProgressSteps) return undefined;
  const done = last.fraction - first.fraction;
  const elapsed = last.atMs - first.atMs;
  if (done <= 0 || elapsed <= 0) return undefined;
  return last.atMs + ((1 - last.fraction) * elapsed) / done;
}

/**
 * Progress seen at `atMs` added to the points: a new phase (the fraction went down, or the count of steps changed)
 * starts the points anew; the first point of a phase is kept, so the rate is measured over the longest stretch.
 */
export function withProgress(
  points: readonly ProgressPoint[],
  seen: { fraction: number; steps: number } | undefined,
  atMs: number,
): ProgressPoint[] {
  if (seen === undefined) return [...points];
  const point = { fraction: seen.fraction, steps: seen.steps, atMs };
  const first = points[0];
  const last = points[points.length - 1];
  if (first === undefined || last === undefined || seen.fraction < last.fraction || seen.steps !== last.steps)
    return [point];
  if (seen.fraction === last.fraction && points.length > 1) return [...points]; // no news: keep when it was seen
  return [first, point];
}

/** How many GETs the plain backoff has made `elapsedMs` after it started. */
export function backoffPollsBy(elapsedMs: number, polling: Required<PollingOptions>): number {
  let total = 0;
  let n = 0;
  while (n < 100_000) {
    total += pollDelayMs(n, polling);
    if (total > elapsedMs) return n;
    n++;
  }
  return n;
}

/** When the GET budget allows poll number `poll` (1-based), ms after the backoff started. */
function budgetAllowsAt(poll: number, polling: Required<PollingOptions>): number {
  const { getsPerBackoffGet: per, extraGets } = PREDICTIVE;
  let total = 0;
  for (let n = 0; per * n + extraGets < poll; n++) total += pollDelayMs(n, polling);
  return total;
}

/**
 * The wait before the next poll:
 * - the end ahead: until just after its earliest expected time (`end`), or the backoff's cap when that is further
 *   (`far`); a job that should have started by now (a cold boot) is not looked at more often than the backoff would,
 *   restarted when it was due;
 * - the end passed: a burst over the window the end is expected in (`burst`): a second apart for a steady model, for
 *   a noisy one the polls the backoff would have made by the window's end, spread over it; then the backoff from its
 *   start (`after burst`).
 */
export function planPoll(input: PlanInput): PollPlan {
  const { nowMs, sinceMs, polls, polling, memory, job } = input;
  const backoff = pollDelayMs(polls, polling);
  const window = expectedEnd(input);
  if (window === undefined) return { waitMs: backoff, pastEnd: false, expectedEndMs: null, why: 'backoff' };
  const minGap = Math.max(1, Math.round(polling.initialIntervalMs / 3));
  const typicalRun = memory.timing?.runMs.mid ?? 0;
  const target = window.lo + PREDICTIVE.landingMarginMs + Math.round(typicalRun / 100);
  const ahead = Math.round(target - nowMs);
  const expectedEndMs = window.lo;
  let plan: PollPlan;
  if (ahead > minGap || (ahead > 0 && memory.pastEndPolls === 0)) {
    // (a later estimate may move the end ahead again after the burst began: the GET budget bounds how often)
    const waitMs = Math.max(minGap, ahead, overdueStartWait(input));
    plan =
      waitMs > polling.maxIntervalMs
        ? { waitMs: polling.maxIntervalMs, pastEnd: false, expectedEndMs, why: 'far' }
        : { waitMs, pastEnd: false, expectedEndMs, why: 'end' };
  } else {
    // the polls the backoff would have made by the window's end, less those made before the window
    const before = polls - memory.pastEndPolls;
    const allowance = backoffPollsBy(window.hi - sinceMs, polling) + 1 - before;
    const windowPolls = Math.min(PREDICTIVE.maxBurstPolls, Math.max(PREDICTIVE.burstPolls, allowance));
    const spread = (window.hi - window.lo) / windowPolls;
    const gap = Math.round(Math.min(polling.maxIntervalMs, Math.max(minGap, spread)));
    if (
      memory.pastEndPolls < PREDICTIVE.burstPolls ||
      (nowMs < window.hi && memory.pastEndPolls < windowPolls)
    ) {
      plan = { waitMs: gap, pastEnd: true, expectedEndMs, why: 'burst' };
    } else {
      // the backoff from its start, or growing from the burst's spacing when that was wider
      const k = memory.pastEndPolls - memory.burstPolls;
      const fromGap = gap * Math.pow(polling.multiplier, k + 1);
      const waitMs = Math.round(Math.min(polling.maxIntervalMs, Math.max(pollDelayMs(k, polling), fromGap)));
      plan = { waitMs, pastEnd: true, expectedEndMs, why: 'after burst' };
    }
  }
  if (input.needsStart && !job.startedAt && plan.waitMs > backoff)
    plan = { ...plan, waitMs: backoff, pastEnd: false, why: 'backoff' };
  return withinBudget(plan, input);
}

/**
 * A job still `starting` past the model's usual wait (a cold boot): the backoff's wait, as if restarted when the start
 * was due, so a long boot is not polled every running time. 0 otherwise.
 */
function overdueStartWait(input: PlanInput): number {
  const { job, memory, nowMs, polling } = input;
  const t = memory.timing;
  if (job.status !== 'starting' || t === null || !job.createdAt) return 0;
  const due = onOurClock(job.createdAt, memory) + t.queueMs.hi;
  if (!(nowMs > due)) return 0;
  return pollDelayMs(backoffPollsBy(nowMs - due, polling), polling);
}

/** Never more GETs than the budget allows by the time of the poll; never a wait past the backoff's cap. */
function withinBudget(plan: PollPlan, input: PlanInput): PollPlan {
  const { nowMs, sinceMs, polls, polling } = input;
  const elapsed = nowMs - sinceMs;
  const allowedFrom = budgetAllowsAt(polls + 1, polling);
  const budgetWait = Math.round(allowedFrom - elapsed);
  const capped = Math.min(plan.waitMs, polling.maxIntervalMs);
  if (budgetWait > capped)
    return { ...plan, waitMs: Math.min(budgetWait, polling.maxIntervalMs), why: 'GET budget' };
  return { ...plan, waitMs: capped };
}
