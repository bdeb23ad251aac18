/**
 * A job run's metrics, recorded on the workflow's `metricMeter` (replay-safe: nothing is recorded while a history
 * replays, and metrics issue no commands, so no patch is needed): one `replicate_predictions_total` per run at its
 * end, the job's predict time, and how late the run learned of the end (webhook or poll). Contract and buckets:
 * src/observability/metrics.ts. Deterministic code only.
 */
import { ApplicationFailure, CancellationScope, isCancellation, metricMeter } from '@temporalio/workflow';
import {
  countRunEnd,
  recordCompletionLag,
  recordPredictTime,
  type LagSource,
  type RunEndStatus,
} from '../../observability/metrics';
import { PredictionFailureType } from '../../shared/failures';
import type { PredictionSnapshot } from '../../shared/types';

export class RunMetrics {
  /** how the run heard of the job's latest state: set before each observation of webhook news or a poll */
  source: LagSource = 'poll';
  private counted = false;

  constructor(private readonly model: string) {}

  /** The job ended at Replicate and the run has just learned it (`finish`). */
  ended(job: PredictionSnapshot): void {
    this.count(job.status as RunEndStatus);
    const predictTime = job.metrics?.predict_time;
    if (typeof predictTime === 'number') recordPredictTime(metricMeter, this.model, predictTime);
    const completedAt = job.completedAt ? Date.parse(job.completedAt) : NaN;
    // Workflow time: when the workflow task that took the news in started (a poll's own duration is not in it).
    if (Number.isFinite(completedAt))
      recordCompletionLag(metricMeter, this.source, (Date.now() - completedAt) / 1000);
  }

  /** The run ended early (`cleanUp`): our deadline, a user's cancel, or an error; nothing if `ended` counted it. */
  endedEarly(error: unknown): void {
    if (this.counted) return;
    this.count(endStatus(error));
  }

  private count(status: RunEndStatus): void {
    this.counted = true;
    countRunEnd(metricMeter, this.model, status);
  }
}

function endStatus(error: unknown): RunEndStatus {
  if (isCancellation(error))
    return CancellationScope.current().consideredCancelled ? 'canceled' : 'timed_out';
  // A create refused because too little time was left before the ceiling is a timeout too.
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof ApplicationFailure && e.type === PredictionFailureType.TimedOut) return 'timed_out';
  }
  return 'failed';
}
