/**
 * Budgets: what running jobs cost and when they reach a budget. Prices are USD per second of predict_time (the
 * user's: Replicate has no price API). A job costs nothing before Replicate's `started_at` (queue time is not
 * billed), price × (now − started_at) while it runs, and price × predict_time once it has ended. Pure: used by the
 * workflows (the durable timer at the projected crossing), the CLI and the validation.
 */
import { estimateCost } from './pipeline/cost';
import type { JobBudgetView } from './types';

/** A job that is running now: its price and when Replicate started it (ms since the epoch). */
export interface RunningJob {
  pricePerSecondUsd: number;
  startedAtMs: number;
}

/** What a BudgetExceeded failure says (in its details): the budget, the spend, where it was spent. */
export interface BudgetExceededDetails {
  budgetUsd: number;
  /** completed + running */
  spentUsd: number;
  /** jobs that ended on their own (a pipeline: those its crossing found already ended included, at their real cost) */
  completedUsd: number;
  /**
   * the jobs running at the crossing, canceled: a single run, the estimate (price × elapsed since started_at) when it
   * decided; a pipeline, what each cost once stopped (its billed predict_time, else the estimate until it stopped)
   */
  runningUsd: number;
  /** the steps whose jobs were running at the crossing (a single run: empty) */
  steps: string[];
  /** the jobs canceled at the crossing */
  predictionIds: string[];
  /** when the crossing was noticed (ISO 8601, workflow time) */
  at: string;
}

/** The running cost of one job now, USD (0 before it started). */
export function runningCostUsd(job: RunningJob, nowMs: number): number {
  return (job.pricePerSecondUsd * Math.max(0, nowMs - job.startedAtMs)) / 1000;
}

/** A single run's cost at `nowMs` (billed predict_time once ended, else the running estimate) and its budget left. */
export function jobCost(view: JobBudgetView, nowMs: number): { costUsd: number; leftUsd: number } {
  const costUsd =
    view.predictTime !== null
      ? view.pricePerSecondUsd * view.predictTime
      : view.jobStartedAt === null
        ? 0
        : runningCostUsd(
            { pricePerSecondUsd: view.pricePerSecondUsd, startedAtMs: Date.parse(view.jobStartedAt) },
            nowMs,
          );
  return { costUsd, leftUsd: Math.max(0, view.maxCostUsd - costUsd) };
}

/**
 * When `spentUsd` plus the running jobs' cost reaches `budgetUsd` (ms since the epoch, rounded up): `nowMs` when it
 * already has, null when it never will (nothing runs). Each job's cost grows linearly from its start, so the total
 * is piecewise linear: one division per start still ahead (a started_at after `nowMs`: clock skew, or a test).
 */
export function crossingAtMs(
  budgetUsd: number,
  spentUsd: number,
  running: RunningJob[],
  nowMs: number,
): number | null {
  const costAt = (t: number) => spentUsd + running.reduce((sum, j) => sum + runningCostUsd(j, t), 0);
  if (costAt(nowMs) >= budgetUsd - 1e-12) return nowMs;
  const starts = [...new Set(running.map((j) => j.startedAtMs).filter((s) => s > nowMs))].sort(
    (a, b) => a - b,
  );
  let from = nowMs;
  for (const next of [...starts, Infinity]) {
    const rate = running.reduce((sum, j) => sum + (j.startedAtMs <= from ? j.pricePerSecondUsd : 0), 0);
    if (rate > 0) {
      const at = from + ((budgetUsd - costAt(from)) / rate) * 1000;
      if (at <= next) return Math.max(nowMs, Math.ceil(at));
    }
    from = next;
  }
  return null;
}

/** The price of `model` from a `prices` mapping (`owner/name:version` falls back to `owner/name`). */
export function priceOf(prices: Record<string, number> | undefined, model: string): number | undefined {
  return estimateCost(prices, model, 1);
}

/** `$0.0123`: USD with up to 4 decimals, for messages and the CLI. */
export function usd(n: number): string {
  return `$${(Math.round(n * 10_000) / 10_000).toString()}`;
}

/**
 * Problems with a run's `maxCostUsd` / `pricePerSecondUsd` (both or neither, positive finite numbers), each naming
 * the field and the fix. Used by validateRequest (the CLI and the workflow).
 */
export function budgetProblems(r: { maxCostUsd?: unknown; pricePerSecondUsd?: unknown }): string[] {
  const problems: string[] = [];
  for (const [field, flag] of [
    ['maxCostUsd', '--max-cost'],
    ['pricePerSecondUsd', '--price'],
  ] as const) {
    const v = r[field];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0))
      problems.push(
        `${field}: must be a positive number of USD${field === 'pricePerSecondUsd' ? ' per second of predict_time' : ''} (${flag}), got ${JSON.stringify(v) ?? String(v)}`,
      );
  }
  if ((r.maxCostUsd === undefined) !== (r.pricePerSecondUsd === undefined)) {
    problems.push(
      r.maxCostUsd === undefined
        ? 'pricePerSecondUsd: is only used with maxCostUsd (--max-cost USD); give both or neither'
        : "maxCostUsd: needs the model's price, pricePerSecondUsd (--price USD_PER_SECOND or --prices FILE); give both or neither",
    );
  }
  return problems;
}

/** One line for the CLI and the UI: `budget $0.05 · running cost $0.0123 · left $0.0377`. */
export function budgetLine(view: JobBudgetView, nowMs: number): string {
  const { costUsd, leftUsd } = jobCost(view, nowMs);
  const what =
    view.predictTime !== null ? 'cost' : view.jobStartedAt === null ? 'not started' : 'running cost';
  return `budget ${usd(view.maxCostUsd)} · ${what} ${usd(costUsd)} · left ${usd(leftUsd)} (at ${usd(view.pricePerSecondUsd)}/s)`;
}

/** A pipeline's budget as its report and `progress` query show it; `pipelineSpend` gives the live figures. */
export interface PipelineBudgetView {
  usd: number;
  /** jobs that ran to their end (succeeded or failed by themselves): billed predict_time × price */
  completedUsd: number;
  /** jobs that were canceled (by the budget, fail-fast or at Replicate): their predict_time, else the estimate */
  canceledUsd: number;
  canceledPredictionIds: string[];
  /** jobs running now, with Replicate's started_at: each costs price × (now − startedAt) */
  running: {
    workflowId: string;
    step: string;
    predictionId: string | null;
    pricePerSecondUsd: number;
    startedAt: string;
  }[];
  /** set when the budget was reached */
  exceeded: BudgetExceededDetails | null;
}

/** A pipeline's spend at `nowMs`: ended jobs plus the running estimate, and the budget left. */
export function pipelineSpend(
  view: PipelineBudgetView,
  nowMs: number,
): { spentUsd: number; runningUsd: number; leftUsd: number } {
  const runningUsd = view.running.reduce(
    (s, r) =>
      s +
      runningCostUsd({ pricePerSecondUsd: r.pricePerSecondUsd, startedAtMs: Date.parse(r.startedAt) }, nowMs),
    0,
  );
  const spentUsd = view.completedUsd + view.canceledUsd + runningUsd;
  return { spentUsd, runningUsd, leftUsd: Math.max(0, view.usd - spentUsd) };
}

/** One line for `pipeline status` and `pipeline run`: `budget $1 · spent $0.42 (running $0.1) · left $0.58`. */
export function pipelineBudgetLine(view: PipelineBudgetView, nowMs: number): string {
  const { spentUsd, runningUsd, leftUsd } = pipelineSpend(view, nowMs);
  const parts = [
    `budget ${usd(view.usd)}`,
    `spent ${usd(spentUsd)} (completed ${usd(view.completedUsd)}, canceled ${usd(view.canceledUsd)}, running ${usd(runningUsd)} in ${view.running.length} job${view.running.length === 1 ? '' : 's'})`,
    `left ${usd(leftUsd)}`,
  ];
  return parts.join(' · ') + (view.exceeded ? ' · EXCEEDED' : '');
}
