/**
 * A pipeline's `budget: { usd }` (patch `budgets-v1`): the parent keeps a ledger of its children's jobs (each one's
 * price from `prices`, Replicate's started_at signalled by the child, its cost once ended) and sleeps on a durable
 * timer until the instant the spend (ended jobs + price × elapsed of the running ones) reaches the budget, re-armed
 * whenever a job starts or ends. At the crossing the pipeline cancels its running steps (their children cancel their
 * jobs at Replicate), starts nothing new and fails with BudgetExceeded. Overshoot: the delay in learning a job's
 * started_at (one polling interval at most; about nothing with webhooks, whose start event carries it).
 * Deterministic code only.
 */
import { condition, isCancellation, setCurrentDetails } from '@temporalio/workflow';
import {
  crossingAtMs,
  pipelineBudgetLine,
  priceOf,
  runningCostUsd,
  usd,
  type BudgetExceededDetails,
  type PipelineBudgetView,
} from '../../shared/budget';
import { BudgetFailureType, PredictionFailureType } from '../../shared/failures';
import type { PipelineSpec } from '../../shared/pipeline';
import type { PredictionResult } from '../../shared/types';
import type { JobStarted } from '../job/budget';
import { errorType, failedPrediction } from './failures';

interface Job {
  step: string;
  price: number;
  predictionId: string | null;
  startedAtMs: number | null;
  /** once ended: what it cost and how it ended (ran to its end, or was canceled) */
  ended?: { usd: number; predictTime: number; canceled: boolean };
}

export class PipelineBudget {
  private readonly jobs = new Map<string, Job>();
  /** bumped on every start and end: the watcher re-arms its timer */
  private version = 0;
  exceeded: BudgetExceededDetails | null = null;
  private onCrossing: ((details: BudgetExceededDetails) => void) | undefined;

  constructor(
    readonly usdLimit: number,
    private readonly spec: PipelineSpec,
  ) {}

  /** A child is about to start for `step` (validation made sure its model has a price). */
  expect(workflowId: string, step: string, model: string): void {
    const price = priceOf(this.spec.prices, model) ?? 0;
    this.jobs.set(workflowId, { step, price, predictionId: null, startedAtMs: null });
  }

  /** The child's signal: Replicate started its job. */
  started(s: JobStarted): void {
    const job = this.jobs.get(s.workflowId);
    const at = Date.parse(s.startedAt);
    if (!job || job.ended || !Number.isFinite(at)) return;
    job.predictionId = s.predictionId;
    job.startedAtMs = at;
    this.version++;
  }

  /**
   * A child ended: its billed predict_time when it says so; a canceled child without one is charged its running
   * estimate up to now (the cancel completed just before).
   */
  ended(workflowId: string, outcome: { result: PredictionResult } | { error: unknown }): void {
    const job = this.jobs.get(workflowId);
    if (!job || job.ended) return;
    let predictTime: number;
    let canceled: boolean;
    if ('result' in outcome) {
      predictTime = outcome.result.metrics.predict_time ?? 0;
      job.predictionId = outcome.result.id;
      canceled = false;
    } else {
      const billed = failedPrediction(outcome.error);
      const type = errorType(outcome.error);
      canceled =
        isCancellation(outcome.error) ||
        type === PredictionFailureType.Canceled ||
        type === BudgetFailureType.Exceeded;
      job.predictionId = billed.predictionId ?? job.predictionId;
      predictTime =
        billed.predictTime > 0 || job.startedAtMs === null
          ? billed.predictTime
          : Math.max(0, Date.now() - job.startedAtMs) / 1000;
    }
    job.ended = { usd: job.price * predictTime, predictTime, canceled };
    this.version++;
  }

  /** The budget as the report and the `progress` query show it (running jobs with their start, for live costs). */
  view(): PipelineBudgetView {
    const ended = [...this.jobs.values()].filter((j) => j.ended);
    const sum = (jobs: Job[]) => jobs.reduce((s, j) => s + j.ended!.usd, 0);
    return {
      usd: this.usdLimit,
      completedUsd: sum(ended.filter((j) => !j.ended!.canceled)),
      canceledUsd: sum(ended.filter((j) => j.ended!.canceled)),
      canceledPredictionIds: ended.flatMap((j) =>
        j.ended!.canceled && j.predictionId ? [j.predictionId] : [],
      ),
      running: [...this.jobs.entries()].flatMap(([workflowId, j]) =>
        !j.ended && j.startedAtMs !== null
          ? [
              {
                workflowId,
                step: j.step,
                predictionId: j.predictionId,
                pricePerSecondUsd: j.price,
                startedAt: new Date(j.startedAtMs).toISOString(),
              },
            ]
          : [],
      ),
      exceeded: this.exceeded,
    };
  }

  /**
   * Until `finished()`: sleep until the projected crossing (re-armed on every start and end); at the crossing
   * record what was spent and call `onCrossing` once.
   */
  async watch(finished: () => boolean, onCrossing: (details: BudgetExceededDetails) => void): Promise<void> {
    this.onCrossing = onCrossing;
    while (!finished() && !this.exceeded) {
      // the Temporal UI's current details: the spend as of this moment (a job started or ended)
      setCurrentDetails(pipelineBudgetLine(this.view(), Date.now()));
      const at = crossingAtMs(this.usdLimit, this.endedUsd(), this.running(), Date.now());
      if (at !== null && at <= Date.now()) {
        this.stop();
        return;
      }
      const seen = this.version;
      const changed = () => finished() || this.exceeded !== null || this.version !== seen;
      if (at === null) await condition(changed);
      else await condition(changed, at - Date.now());
    }
  }

  /** The failure message at the crossing. */
  message(name: string, d: BudgetExceededDetails): string {
    const running =
      d.steps.length > 0
        ? `${usd(d.runningUsd)} by ${d.predictionIds.length} running in step ${d.steps.join(', ')}); the running jobs were canceled at Replicate`
        : 'nothing was running)';
    return `pipeline ${name} reached its budget of ${usd(d.budgetUsd)}: ${usd(d.spentUsd)} spent (${usd(d.completedUsd)} by ended jobs, ${running} and nothing new started`;
  }

  /** The crossing: record what was spent and where, then cancel the running steps (once). */
  stop(): void {
    if (this.exceeded) return;
    this.exceeded = this.details(this.running());
    setCurrentDetails(pipelineBudgetLine(this.view(), Date.now()));
    this.onCrossing?.(this.exceeded);
  }

  /**
   * Whether the spend has reached the budget now: a step checks it before starting its children, since jobs that
   * ended over the budget (their start unseen between two polls) wake the watcher only after the step's own code.
   */
  reached(): boolean {
    const at = crossingAtMs(this.usdLimit, this.endedUsd(), this.running(), Date.now());
    return at !== null && at <= Date.now();
  }

  private running() {
    return [...this.jobs.values()].flatMap((j) =>
      !j.ended && j.startedAtMs !== null
        ? [{ pricePerSecondUsd: j.price, startedAtMs: j.startedAtMs, job: j }]
        : [],
    );
  }

  private endedUsd(): number {
    return [...this.jobs.values()].reduce((s, j) => s + (j.ended?.usd ?? 0), 0);
  }

  private details(running: ReturnType<PipelineBudget['running']>): BudgetExceededDetails {
    const now = Date.now();
    const completedUsd = this.endedUsd();
    const runningUsd = running.reduce((s, r) => s + runningCostUsd(r, now), 0);
    return {
      budgetUsd: this.usdLimit,
      spentUsd: completedUsd + runningUsd,
      completedUsd,
      runningUsd,
      steps: [...new Set(running.map((r) => r.job.step))],
      predictionIds: running.flatMap((r) => (r.job.predictionId ? [r.job.predictionId] : [])),
      at: new Date(now).toISOString(),
    };
  }
}
