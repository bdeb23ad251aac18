/**
 * The predictive schedule (src/shared/predictive-polling.ts) against simulated jobs: a loop that plans, waits, polls
 * a job with a known timeline and feeds what the poll saw back, as JobRun does.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLLING, pollDelayMs } from '../../src/shared/polling';
import {
  PREDICTIVE,
  afterPoll,
  backoffPollsBy,
  planPoll,
  replicateClock,
  withProgress,
  type PredictiveMemory,
  type PollPlan,
} from '../../src/shared/predictive-polling';
import { summarizeTiming, timingOf, type ModelTiming } from '../../src/shared/timing';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();

interface SimJob {
  /** created at T0; starts and ends this long after, ms */
  startMs: number;
  endMs: number;
  /** progress lines `step k/steps`, spread evenly over the running time (none when 0) */
  steps?: number;
}

interface Outcome {
  gets: number;
  lagMs: number;
  waits: number[];
  plans: PollPlan[];
}

/**
 * Poll `job` the way JobRun does, from its create's answer at T0 + 200 ms until a poll sees it ended. Replicate's
 * timestamps are on its own clock, `replicateAheadMs` ahead of the workflow's.
 */
function simulate(
  job: SimJob,
  timing: ModelTiming | null,
  polling = DEFAULT_POLLING,
  replicateAheadMs = 0,
): Outcome {
  const theirs = (ms: number) => iso(ms + replicateAheadMs);
  let now = T0 + 200;
  let memory: PredictiveMemory = {
    timing,
    progress: [],
    pastEndPolls: 0,
    burstPolls: 0,
    replicateAheadMs: replicateClock(theirs(0), now),
  };
  let seen = { status: 'starting', createdAt: theirs(0), startedAt: null as string | null };
  const waits: number[] = [];
  const plans: PollPlan[] = [];
  for (let polls = 0; polls < 1_000; polls++) {
    const plan = planPoll({ nowMs: now, sinceMs: T0, polls, polling, job: seen, memory });
    plans.push(plan);
    waits.push(plan.waitMs);
    now += plan.waitMs;
    memory = afterPoll(memory, plan);
    const at = now - T0;
    if (at >= job.endMs) return { gets: polls + 1, lagMs: at - job.endMs, waits, plans };
    if (at >= job.startMs) {
      seen = { ...seen, status: 'processing', startedAt: theirs(job.startMs) };
      if (job.steps) {
        const done = Math.floor(((at - job.startMs) / (job.endMs - job.startMs)) * job.steps);
        memory.progress = withProgress(
          memory.progress,
          { fraction: done / job.steps, steps: job.steps },
          now,
        );
      }
    }
  }
  throw new Error('never saw the end');
}

/** A model's timing as the workers summarise it from these completions (queue, run) in ms. */
function timingFrom(samples: Array<[number, number]>): ModelTiming {
  return summarizeTiming(samples.map(([queueMs, runMs]) => ({ queueMs, runMs })))!;
}

/** The plain backoff's GETs for a job that ends `endMs` after its create. */
function backoffGets(endMs: number): number {
  return backoffPollsBy(endMs - 200, DEFAULT_POLLING) + 1;
}

describe('predictive polling: the schedule', () => {
  it('is exactly the plain backoff when nothing is known', () => {
    const { waits } = simulate({ startMs: 1_000, endMs: 100_000 }, null);
    expect(waits).toEqual(waits.map((_, i) => pollDelayMs(i, DEFAULT_POLLING)));
    expect(waits.slice(0, 4)).toEqual([3_000, 4_500, 6_750, 10_125]);
  });

  it('a warm 20 s model: one GET just after the end, or a second one a second later', () => {
    // recent completions: 1 s in the queue, 19 s ±2 % running
    const timing = timingFrom([
      [1_000, 18_700],
      [1_000, 19_000],
      [1_050, 19_300],
      [950, 18_900],
      [1_000, 19_100],
    ]);
    for (const runMs of [18_700, 19_000, 19_300]) {
      const out = simulate({ startMs: 1_000, endMs: 1_000 + runMs }, timing);
      expect(out.gets).toBeLessThanOrEqual(2);
      expect(out.lagMs).toBeLessThan(1_300);
    }
    const typical = simulate({ startMs: 1_000, endMs: 20_000 }, timing);
    expect(typical.plans[0]!.why).toBe('end');
    expect(typical.lagMs).toBeLessThan(1_300);
  });

  it("Replicate's clock ahead or behind the workers' (hours or seconds): the same GETs, the same lag", () => {
    const timing = timingFrom([
      [1_000, 18_700],
      [1_000, 19_000],
      [1_050, 19_300],
    ]);
    const same = simulate({ startMs: 1_000, endMs: 20_000 }, timing);
    for (const ahead of [7_200_000, 90_000, 5_000, -5_000, -90_000, -7_200_000]) {
      const out = simulate({ startMs: 1_000, endMs: 20_000 }, timing, DEFAULT_POLLING, ahead);
      expect({ ahead, gets: out.gets }).toEqual({ ahead, gets: same.gets });
      expect(out.lagMs, `Replicate ${ahead} ms ahead`).toBeLessThan(same.lagMs + 300);
    }
    // within 2 s the skew cannot be told from the create's own latency: taken as none
    expect(replicateClock(iso(0), T0 + 1_500)).toBe(0);
    expect(replicateClock(iso(0), T0 + 3_000)).toBe(-3_000);
    expect(replicateClock(null, T0)).toBe(0);
  });

  it('a job far from its end: polls no more often than the backoff cap, then lands just after the end', () => {
    const timing = timingFrom([
      [2_000, 118_000],
      [2_000, 118_500],
      [2_100, 117_800],
    ]);
    const out = simulate({ startMs: 2_000, endMs: 120_400 }, timing);
    expect(out.waits.slice(0, 3)).toEqual([30_000, 30_000, 30_000]);
    expect(out.plans.slice(0, 3).map((p) => p.why)).toEqual(['far', 'far', 'far']);
    expect(out.lagMs).toBeLessThan(2_000);
    expect(out.gets).toBeLessThanOrEqual(backoffGets(120_400));
    expect(out.waits.every((w) => w <= DEFAULT_POLLING.maxIntervalMs)).toBe(true);
  });

  it('a job that runs longer than expected: a burst a second apart, then the plain backoff from its start', () => {
    const timing = timingFrom([
      [0, 10_000],
      [0, 10_000],
      [0, 10_000],
    ]);
    const out = simulate({ startMs: 0, endMs: 40_000 }, timing);
    const why = out.plans.map((p) => p.why);
    expect(why.slice(0, 5)).toEqual(['end', 'burst', 'burst', 'burst', 'after burst']);
    expect(out.waits.slice(1, 4)).toEqual([1_000, 1_000, 1_000]);
    expect(out.waits.slice(4, 7)).toEqual([3_000, 4_500, 6_750]);
    expect(out.gets).toBeLessThanOrEqual(2 * backoffGets(40_000) + PREDICTIVE.extraGets);
  });

  it('a run with a budget keeps the backoff until it has seen the job start (its cost counts from then)', () => {
    const timing = timingFrom([
      [1_000, 60_000],
      [1_000, 60_000],
      [1_000, 60_000],
    ]);
    const job = { status: 'starting', createdAt: iso(0), startedAt: null };
    const input = { nowMs: T0 + 200, sinceMs: T0, polls: 0, polling: DEFAULT_POLLING, job };
    const memory: PredictiveMemory = { timing, progress: [], pastEndPolls: 0, burstPolls: 0 };
    expect(planPoll({ ...input, memory }).waitMs).toBe(30_000);
    expect(planPoll({ ...input, memory, needsStart: true }).waitMs).toBe(3_000);
    const started = { ...job, status: 'processing', startedAt: iso(1_000) };
    expect(planPoll({ ...input, job: started, memory, needsStart: true }).waitMs).toBe(30_000);
  });

  it('a cold start (started much later than usual) is waited out with a few polls and still met', () => {
    const timing = timingFrom([
      [500, 20_000],
      [600, 20_000],
      [400, 20_000],
    ]);
    const out = simulate({ startMs: 25_000, endMs: 45_000 }, timing);
    expect(out.lagMs).toBeLessThan(1_300);
    expect(out.gets).toBeLessThanOrEqual(4);
  });

  it('a noisy model: as many polls as the backoff would make, spread over its usual range', () => {
    const timing = timingFrom([
      [1_000, 21_000],
      [1_000, 27_000],
      [1_000, 30_000],
      [1_000, 33_000],
      [1_000, 39_000],
    ]);
    for (const runMs of [21_000, 25_000, 30_000, 35_000, 39_000]) {
      const end = 1_000 + runMs;
      const out = simulate({ startMs: 1_000, endMs: end }, timing);
      const plain = simulate({ startMs: 1_000, endMs: end }, null);
      expect(out.gets).toBeLessThanOrEqual(plain.gets + 1);
      // 21 to 39 s in five polls: about 4 s apart
      expect(out.lagMs).toBeLessThanOrEqual(4_500);
      expect(out.lagMs).toBeLessThan(plain.lagMs + 500);
    }
    // past its usual range: the backoff again, growing from the burst's spacing
    const late = simulate({ startMs: 1_000, endMs: 50_000 }, timing);
    const plain = simulate({ startMs: 1_000, endMs: 50_000 }, null);
    expect(late.plans.at(-1)!.why).toBe('after burst');
    expect(late.gets).toBeLessThanOrEqual(plain.gets + 2);
    expect(late.lagMs).toBeLessThan(plain.lagMs);
  });

  it('progress in the logs foretells the end of a job whose model is unknown', () => {
    // 100 s of running with 50 steps: after the backoff's first polls, the rate between two of them
    const out = simulate({ startMs: 2_000, endMs: 102_000, steps: 50 }, null);
    const plain = simulate({ startMs: 2_000, endMs: 102_000 }, null);
    expect(out.lagMs).toBeLessThan(3_000);
    expect(plain.lagMs).toBeGreaterThan(10_000);
    expect(out.gets).toBeLessThanOrEqual(2 * plain.gets + PREDICTIVE.extraGets);
  });

  it('never makes more GETs than twice the backoff plus two, and never waits past its cap, whatever it expects', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16_807) % 2_147_483_647) - 1) / 2_147_483_646;
    for (let i = 0; i < 300; i++) {
      const run = 1_000 + random() * 200_000;
      const timing = timingFrom([
        [random() * 5_000, run * (0.3 + random())],
        [random() * 5_000, run * (0.3 + random())],
        [random() * 60_000, run * (0.3 + random())],
      ]);
      const startMs = random() * 60_000;
      const job = { startMs, endMs: startMs + run, steps: random() < 0.5 ? 20 : 0 };
      const out = simulate(job, timing);
      let elapsed = 200;
      out.waits.forEach((w, n) => {
        elapsed += w;
        expect(w).toBeGreaterThan(0);
        expect(w).toBeLessThanOrEqual(DEFAULT_POLLING.maxIntervalMs);
        const allowed =
          PREDICTIVE.getsPerBackoffGet * backoffPollsBy(elapsed, DEFAULT_POLLING) + PREDICTIVE.extraGets;
        expect(n + 1).toBeLessThanOrEqual(allowed);
      });
    }
  });
});

describe('predictive polling: progress points', () => {
  it('keeps the first point of a phase and the latest; a new phase starts anew', () => {
    let points = withProgress([], { fraction: 0.1, steps: 50 }, 1_000);
    points = withProgress(points, { fraction: 0.3, steps: 50 }, 2_000);
    points = withProgress(points, { fraction: 0.5, steps: 50 }, 3_000);
    expect(points.map((p) => p.atMs)).toEqual([1_000, 3_000]);
    // unchanged progress keeps when it was seen
    expect(withProgress(points, { fraction: 0.5, steps: 50 }, 4_000)).toEqual(points);
    // a second bar (the fraction went back, or the count changed)
    expect(withProgress(points, { fraction: 0.1, steps: 50 }, 5_000)).toEqual([
      { fraction: 0.1, steps: 50, atMs: 5_000 },
    ]);
    expect(withProgress(points, { fraction: 0.6, steps: 20 }, 5_000)).toHaveLength(1);
    expect(withProgress(points, undefined, 5_000)).toEqual(points);
  });
});

describe('model timing', () => {
  it('summarises recent completions as 10th, 50th and 90th percentiles, from three on', () => {
    expect(summarizeTiming([{ queueMs: 1, runMs: 10 }])).toBeUndefined();
    const t = summarizeTiming(
      Array.from({ length: 11 }, (_, i) => ({ queueMs: 100 * i, runMs: 1_000 * (10 - i) })),
    );
    expect(t).toEqual({
      samples: 11,
      runMs: { lo: 1_000, mid: 5_000, hi: 9_000 },
      queueMs: { lo: 100, mid: 500, hi: 900 },
    });
    expect(
      summarizeTiming([
        { queueMs: 3, runMs: 30 },
        { queueMs: 1, runMs: 10 },
        { queueMs: 2, runMs: 20 },
      ]),
    ).toEqual({ samples: 3, runMs: { lo: 10, mid: 20, hi: 30 }, queueMs: { lo: 1, mid: 2, hi: 3 } });
  });

  it("takes a succeeded job's timestamps (microseconds too), nothing else", () => {
    const done = {
      status: 'succeeded',
      createdAt: '2026-12-07T10:00:00.123456Z',
      startedAt: '2026-12-07T10:00:01.123456Z',
      completedAt: '2026-12-07T10:00:21.623456Z',
    };
    expect(timingOf(done)).toEqual({ queueMs: 1_000, runMs: 20_500 });
    expect(timingOf({ ...done, status: 'failed' })).toBeUndefined();
    expect(timingOf({ ...done, startedAt: null })).toBeUndefined();
    expect(timingOf({ ...done, completedAt: 'soon' })).toBeUndefined();
    expect(timingOf({ ...done, startedAt: '2026-12-07T09:00:00Z' })).toBeUndefined(); // before created
  });
});
