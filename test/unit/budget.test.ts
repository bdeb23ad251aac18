/** The budget arithmetic (src/shared/budget.ts): running costs, the projected crossing, the request checks. */
import { describe, expect, it } from 'vitest';
import {
  budgetProblems,
  crossingAtMs,
  jobCost,
  pipelineSpend,
  priceOf,
  usd,
  type PipelineBudgetView,
} from '../../src/shared/budget';

const T = Date.parse('2026-11-30T12:00:00Z');

describe('crossingAtMs', () => {
  it('one job: started_at + (budget - spent) / price', () => {
    expect(crossingAtMs(0.05, 0, [{ pricePerSecondUsd: 0.01, startedAtMs: T }], T)).toBe(T + 5_000);
    // asked later: the same instant
    expect(crossingAtMs(0.05, 0, [{ pricePerSecondUsd: 0.01, startedAtMs: T }], T + 2_000)).toBe(T + 5_000);
  });

  it('several jobs: the sum grows at the sum of their prices; ended jobs count as spent', () => {
    const running = [
      { pricePerSecondUsd: 0.02, startedAtMs: T },
      { pricePerSecondUsd: 0.02, startedAtMs: T + 1_000 },
    ];
    // at T+1 s: 0.03 spent + 0.02 running = 0.05; 0.05 left at 0.04/s -> 1.25 s later
    expect(crossingAtMs(0.1, 0.03, running, T + 1_000)).toBe(T + 2_250);
  });

  it('already reached: now; nothing running: never (null)', () => {
    expect(crossingAtMs(0.01, 0, [{ pricePerSecondUsd: 0.01, startedAtMs: T }], T + 3_000)).toBe(T + 3_000);
    expect(crossingAtMs(0.01, 0.02, [], T)).toBe(T);
    expect(crossingAtMs(1, 0.5, [], T)).toBeNull();
  });

  it('a start still ahead (clock skew) counts from that start only', () => {
    const running = [
      { pricePerSecondUsd: 0.02, startedAtMs: T },
      { pricePerSecondUsd: 0.02, startedAtMs: T + 2_000 },
    ];
    // 0.04 by T+2 s from the first job alone, then 0.04/s together: 0.1 at T+3.5 s
    expect(crossingAtMs(0.1, 0, running, T)).toBe(T + 3_500);
    // both still ahead: nothing accrues until T+1 s
    expect(crossingAtMs(0.02, 0, [{ pricePerSecondUsd: 0.01, startedAtMs: T + 1_000 }], T)).toBe(T + 3_000);
  });

  it('rounds up to whole ms, so the cost at the returned instant has reached the budget', () => {
    const at = crossingAtMs(0.1, 0, [{ pricePerSecondUsd: 0.03, startedAtMs: T }], T)!;
    expect(at).toBe(T + 3_334);
    expect(((at - T) / 1000) * 0.03).toBeGreaterThanOrEqual(0.1);
  });
});

describe('costs and checks', () => {
  it('jobCost: 0 before started_at, the running estimate, then the billed predict_time', () => {
    const view = { maxCostUsd: 1, pricePerSecondUsd: 0.01, jobStartedAt: null, predictTime: null };
    expect(jobCost(view, T)).toEqual({ costUsd: 0, leftUsd: 1 });
    expect(jobCost({ ...view, jobStartedAt: new Date(T).toISOString() }, T + 30_000).costUsd).toBeCloseTo(
      0.3,
    );
    expect(jobCost({ ...view, predictTime: 200 }, T)).toEqual({ costUsd: 2, leftUsd: 0 });
  });

  it('pipelineSpend: completed + canceled + running now', () => {
    const view: PipelineBudgetView = {
      usd: 1,
      completedUsd: 0.2,
      canceledUsd: 0.1,
      canceledPredictionIds: ['p-9'],
      running: [
        {
          workflowId: 'w',
          step: 's',
          predictionId: 'p-1',
          pricePerSecondUsd: 0.01,
          startedAt: new Date(T).toISOString(),
        },
      ],
      exceeded: null,
    };
    const spend = pipelineSpend(view, T + 10_000);
    expect(spend.runningUsd).toBeCloseTo(0.1);
    expect(spend.spentUsd).toBeCloseTo(0.4);
    expect(spend.leftUsd).toBeCloseTo(0.6);
  });

  it('budgetProblems: both or neither, positive finite numbers, each naming the field', () => {
    expect(budgetProblems({})).toEqual([]);
    expect(budgetProblems({ maxCostUsd: 1, pricePerSecondUsd: 0.001 })).toEqual([]);
    expect(budgetProblems({ maxCostUsd: 1 })).toEqual([
      "maxCostUsd: needs the model's price, pricePerSecondUsd (--price USD_PER_SECOND or --prices FILE); give both or neither",
    ]);
    expect(budgetProblems({ pricePerSecondUsd: 1 })[0]).toMatch(
      /^pricePerSecondUsd: is only used with maxCostUsd/,
    );
    expect(budgetProblems({ maxCostUsd: 0, pricePerSecondUsd: Infinity })).toEqual([
      'maxCostUsd: must be a positive number of USD (--max-cost), got 0',
      'pricePerSecondUsd: must be a positive number of USD per second of predict_time (--price), got null',
    ]);
    expect(budgetProblems({ maxCostUsd: '5', pricePerSecondUsd: 0.1 })[0]).toMatch(/^maxCostUsd: .*got "5"/);
  });

  it('priceOf falls back from owner/name:version to owner/name; usd() rounds to 4 decimals', () => {
    expect(priceOf({ 'acme/m': 0.5 }, 'acme/m:abc')).toBe(0.5);
    expect(priceOf({ 'acme/m': 0.5 }, 'acme/other')).toBeUndefined();
    expect(usd(0.123456)).toBe('$0.1235');
    expect(usd(2)).toBe('$2');
  });
});
