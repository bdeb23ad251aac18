/**
 * A single run's budget: the job's running cost is price × (now − Replicate's started_at), so
 * the run knows when it will reach `maxCostUsd` as soon as it learns started_at (from a poll or a webhook) and
 * sleeps on a durable timer until that instant (raced with news); there JobRun cancels the job at Replicate and
 * fails with BudgetExceeded. A pipeline's child also tells its parent when its job started (`jobStartedSignal`),
 * so the parent can run the same clock over the sum of its running jobs (../steps/budget.ts).
 * Deterministic code only.
 */
import {
  ApplicationFailure,
  defineSignal,
  getExternalWorkflowHandle,
  log,
  workflowInfo,
} from '@temporalio/workflow';
import { crossingAtMs, runningCostUsd, usd, type BudgetExceededDetails } from '../../shared/budget';
import { BudgetFailureType } from '../../shared/failures';
import {
  isTerminal,
  type JobBudgetView,
  type JobKind,
  type PredictionFailureDetails,
  type PredictionRequest,
  type PredictionSnapshot,
} from '../../shared/types';

/** What a pipeline's child tells its parent once Replicate has started its job. */
export interface JobStarted {
  workflowId: string;
  predictionId: string;
  /** Replicate's started_at */
  startedAt: string;
}
export const jobStartedSignal = defineSignal<[JobStarted]>('replicateJobStarted');

/** The failure details of a run stopped by its budget: the usual run details plus the budget's. */
export type BudgetExceededRunDetails = PredictionFailureDetails & { budget: BudgetExceededDetails };

export class JobBudget {
  private constructor(
    private readonly limit: { maxCostUsd: number; pricePerSecondUsd: number } | undefined,
    private readonly reportToParent: boolean,
    /** the parent was told the job started (carried across continue-as-new) */
    public startReported: boolean,
  ) {}

  /** The run's budget, or undefined when it has none (nothing changes then: no timer). */
  static of(
    request: Pick<PredictionRequest, 'maxCostUsd' | 'pricePerSecondUsd' | 'reportStartToParent'>,
    startReported = false,
  ) {
    const wanted = request.maxCostUsd !== undefined || request.reportStartToParent === true;
    if (!wanted) return undefined;
    const limit =
      request.maxCostUsd !== undefined && request.pricePerSecondUsd !== undefined
        ? { maxCostUsd: request.maxCostUsd, pricePerSecondUsd: request.pricePerSecondUsd }
        : undefined;
    const toParent = request.reportStartToParent === true && workflowInfo().parent !== undefined;
    return new JobBudget(limit, toParent, startReported);
  }

  /** The `status` query's view (undefined without a maxCostUsd). */
  view(job: PredictionSnapshot | undefined): JobBudgetView | undefined {
    if (!this.limit) return undefined;
    const ended = job !== undefined && isTerminal(job.status);
    return {
      ...this.limit,
      jobStartedAt: job?.startedAt ?? null,
      predictTime: ended ? (job.metrics.predict_time ?? 0) : null,
    };
  }

  /** Time until the job's cost reaches the budget, ms (Infinity: no budget, or not started yet). */
  msUntilCrossing(job: PredictionSnapshot): number {
    const running = this.running(job);
    if (!running) return Infinity;
    const at = crossingAtMs(this.limit!.maxCostUsd, 0, [running], Date.now());
    return at === null ? Infinity : at - Date.now();
  }

  crossed(job: PredictionSnapshot): boolean {
    return this.msUntilCrossing(job) <= 0;
  }

  /** A pipeline's child: tell the parent once that the job started (its started_at), for the parent's budget. */
  async reportStart(job: PredictionSnapshot): Promise<void> {
    if (!this.reportToParent || this.startReported || job.startedAt === null) return;
    this.startReported = true;
    const info = workflowInfo();
    const parent = info.parent!;
    try {
      await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(jobStartedSignal, {
        workflowId: info.workflowId,
        predictionId: job.id,
        startedAt: job.startedAt,
      });
    } catch (error) {
      // The parent has closed (or is closing): nobody needs the news any more.
      log.warn(`could not tell the pipeline that ${job.id} started`, { error: String(error) });
    }
  }

  /** The BudgetExceeded failure at the crossing, measured now (before the cancel). */
  exceeded(kind: JobKind, job: PredictionSnapshot): { message: string; budget: BudgetExceededDetails } {
    const running = this.running(job)!;
    const spent = runningCostUsd(running, Date.now());
    const seconds = Math.round((Date.now() - running.startedAtMs) / 100) / 10;
    const message = `${kind} ${job.id} reached its budget of ${usd(this.limit!.maxCostUsd)}: ${usd(spent)} spent (${usd(running.pricePerSecondUsd)}/s × ${seconds}s since started_at); canceled at Replicate`;
    return {
      message,
      budget: {
        budgetUsd: this.limit!.maxCostUsd,
        spentUsd: spent,
        completedUsd: 0,
        runningUsd: spent,
        steps: [],
        predictionIds: [job.id],
        at: new Date().toISOString(),
      },
    };
  }

  static failure(message: string, details: BudgetExceededRunDetails): ApplicationFailure {
    log.warn(message, { predictionId: details.predictionId, failureType: BudgetFailureType.Exceeded });
    return ApplicationFailure.create({
      type: BudgetFailureType.Exceeded,
      message,
      nonRetryable: true,
      details: [details],
    });
  }

  private running(job: PredictionSnapshot) {
    if (!this.limit || job.startedAt === null) return undefined;
    if (isTerminal(job.status)) return undefined;
    const startedAtMs = Date.parse(job.startedAt);
    if (!Number.isFinite(startedAtMs)) return undefined;
    return { pricePerSecondUsd: this.limit.pricePerSecondUsd, startedAtMs };
  }
}
