/**
 * A pipeline's `budget: { usd }`: the parent keeps a ledger of its children's jobs (each one's price from `prices`,
 * Replicate's started_at signalled by the child, its cost once ended) and sleeps on a durable timer until the
 * instant the spend (ended jobs + price × elapsed of the running ones) reaches the budget, re-armed whenever a job
 * starts or ends. That crossing is an estimate: a job may have ended since its last poll. So at the crossing the
 * parent stops only the children whose jobs it believes running, each through its own cancellation scope; a child's
 * cancel reaches Replicate, whose answer shows a job that had already ended, and that child then returns its real
 * outcome (../job/run.ts, cleanUp). Once they have all settled, the spend is measured again with the real costs:
 * still over, the crossing is recorded, the pipeline cancels what is left (fail-fast), starts nothing new and fails
 * with BudgetExceeded; under, it goes on. Overshoot: the delay in learning a job's started_at (one polling interval
 * at most; about nothing with webhooks, whose start event carries it). Deterministic code only.
 */
import { CancellationScope, condition, isCancellation } from '@temporalio/workflow';
import {
  crossingAtMs,
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
  /** cancels this job's child (its own cancellation scope) */
  stop: () => void;
  /** once ended: what it cost and how it ended (ran to its end, or was canceled) */
  ended?: { usd: number; predictTime: number; canceled: boolean };
}

export class PipelineBudget {
  private readonly jobs = new Map<string, Job>();
  /** bumped on every start and end: the watcher re-arms its timer */
  private version = 0;
  exceeded: BudgetExceededDetails | null = null;
  private onCrossing: ((details: BudgetExceededDetails) => void) | undefined;
  /** the crossing being settled: the watcher and a step about to start share it */
  private crossing: Promise<boolean> | undefined;

  constructor(
    readonly usdLimit: number,
    private readonly spec: PipelineSpec,
    /** the spend changed (a job started or ended, a crossing was decided): the Temporal UI's details follow */
    private readonly changed: () => void = () => undefined,
  ) {}

  /**
   * A child is about to start for `step` (validation made sure its model has a price); `stop` cancels that child
   * alone.
   */
  expect(workflowId: string, step: string, model: string, stop: () => void): void {
    const price = priceOf(this.spec.prices, model) ?? 0;
    this.jobs.set(workflowId, { step, price, predictionId: null, startedAtMs: null, stop });
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
   * Until `finished()`: sleep until the projected crossing (re-armed on every start and end); there, `cross`. Ends
   * once the budget is exceeded (`onCrossing` has been called then).
   */
  async watch(finished: () => boolean, onCrossing: (details: BudgetExceededDetails) => void): Promise<void> {
    this.onCrossing = onCrossing;
    while (!finished() && !this.exceeded) {
      // the Temporal UI's current details: the spend as of this moment (a job started or ended)
      this.changed();
      const at = crossingAtMs(this.usdLimit, this.endedUsd(), this.running(), Date.now());
      if (at !== null && at <= Date.now()) {
        await this.cross();
        continue;
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

  /**
   * The estimate has reached the budget: stop the children whose jobs are believed running, wait until they have
   * settled (each with its real outcome and cost), then decide with the real spend. Still over: record the crossing,
   * call `onCrossing` (once) and return true. Under: false, and the pipeline goes on.
   */
  cross(): Promise<boolean> {
    if (this.exceeded) return Promise.resolve(true);
    this.crossing ??= this.settleAndDecide().finally(() => (this.crossing = undefined));
    return this.crossing;
  }

  private async settleAndDecide(): Promise<boolean> {
    const at = Date.now();
    const stopping = this.running().map((r) => r.job);
    for (const job of stopping) job.stop();
    // Not cancellable: the decision needs every stopped child's end, and each child ends once its cancel is done.
    await CancellationScope.nonCancellable(() => condition(() => stopping.every((j) => j.ended)));
    if (!this.reached()) {
      this.changed();
      return false;
    }
    this.exceeded = this.details(stopping, at);
    this.changed();
    this.onCrossing?.(this.exceeded);
    return true;
  }

  /**
   * Whether the spend (ended jobs + the running estimate) has reached the budget now: a step checks it before
   * starting its children, since jobs that ended over the budget (their start unseen between two polls) wake the
   * watcher only after the step's own code; it then `cross`es.
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

  /**
   * The crossing as decided: `stopped` were believed running at `atMs`; those that ended canceled, and any job still
   * running now, are what was running (canceled at Replicate); everything else, those that turned out to have ended
   * on their own included, is what ended jobs cost.
   */
  private details(stopped: Job[], atMs: number): BudgetExceededDetails {
    const now = Date.now();
    const canceled = stopped.filter((j) => j.ended?.canceled);
    const stillRunning = this.running();
    const completedUsd = [...this.jobs.values()]
      .filter((j) => j.ended && !canceled.includes(j))
      .reduce((s, j) => s + j.ended!.usd, 0);
    const runningUsd =
      canceled.reduce((s, j) => s + j.ended!.usd, 0) +
      stillRunning.reduce((s, r) => s + runningCostUsd(r, now), 0);
    const jobs = [...canceled, ...stillRunning.map((r) => r.job)];
    return {
      budgetUsd: this.usdLimit,
      spentUsd: completedUsd + runningUsd,
      completedUsd,
      runningUsd,
      steps: [...new Set(jobs.map((j) => j.step))],
      predictionIds: jobs.flatMap((j) => (j.predictionId ? [j.predictionId] : [])),
      at: new Date(atMs).toISOString(),
    };
  }
}
