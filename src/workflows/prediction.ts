/**
 * `runPrediction` and `runTraining`: one Replicate job, run durably (docs/architecture.md has the picture).
 *
 * create or adopt (Cancel-After = time to the execution timeout) -> until terminal: webhook news, or a durable
 * timer (backoff) then a poll -> the result or a typed failure. The deadline comes a margin before the workflow
 * execution timeout, because Temporal runs no workflow code when that fires: at our deadline we can still cancel
 * the job remotely. Every early end (deadline, user cancel, non-retryable error) cancels the remote job. Long jobs
 * continue as new, carrying the job, the progress and (through the execution timeout) the deadline.
 * Once succeeded, the output files are kept in the output store (./job/keep.ts), unless `persist: false`; with
 * `cache: true` an earlier kept result of the same request is returned instead of creating anything.
 * The phases live in ./job/run.ts; the ceiling and polling policies in ../shared/ceiling.ts and
 * ../shared/polling.ts, the activities' retry policies in ./retry-policies.ts.
 */
import { ApplicationFailure, CancellationScope, workflowInfo } from '@temporalio/workflow';
import { PredictionFailureType } from '../shared/failures';
import type { JobKind, PredictionRequest, PredictionResult, TrainingRequest } from '../shared/types';
import { validateRequest, validateTrainingRequest } from '../shared/validate';
import { claimsSettled } from './claim';
import { cachedResult, keepOutputs } from './job/keep';
import { JobRun } from './job/run';

export { statusQuery, webhookSignal } from './messages';
export { DEFAULT_CEILING_MS, defaultDeadlineMarginMs } from '../shared/ceiling';
export { DEFAULT_MAX_POLLS_PER_RUN, WEBHOOK_FALLBACK_POLLING } from '../shared/polling';

export async function runPrediction(request: PredictionRequest): Promise<PredictionResult> {
  return runJob('prediction', request, validateRequest(request));
}

export async function runTraining(request: TrainingRequest): Promise<PredictionResult> {
  return runJob('training', request, validateTrainingRequest(request));
}

async function runJob(
  kind: JobKind,
  request: PredictionRequest | TrainingRequest,
  problems: string[],
): Promise<PredictionResult> {
  rejectInvalid(kind, request, problems);
  if (kind === 'prediction') {
    const cached = await cachedResult(request);
    if (cached) return cached; // no job: nothing created, nothing paid
  }
  const run = new JobRun(kind, request);
  let result: PredictionResult;
  try {
    // withTimeout(0) would mean no timeout at all: a run continued at its deadline ends at once instead
    result = await CancellationScope.withTimeout(Math.max(1, run.msUntilDeadline()), async () => {
      await run.createOrAdopt();
      while (!run.isDone()) {
        await run.continueAsNewIfDue();
        await run.waitForNews();
      }
      return run.finish();
    });
  } catch (error) {
    const end = await run.cleanUp(error);
    if ('result' in end) return end.result; // the job had ended on its own before the cancel reached it
    throw end.error;
  } finally {
    await run.releaseSlot(); // no-op unless the run waited for or holds a concurrency slot
    await CancellationScope.nonCancellable(claimsSettled); // its claims have ended (normally long ago)
  }
  // after the deadline's scope: the job has ended and is paid for; keeping its files must not turn it into a timeout
  return kind === 'prediction' ? keepOutputs(request, result) : result;
}

function rejectInvalid(
  kind: JobKind,
  request: PredictionRequest | TrainingRequest,
  problems: string[],
): void {
  // `resume` is only ever written by our own continue-as-new: from a client it is malformed (or, well formed,
  // would make this run poll and cancel a prediction it never created).
  if (request?.resume !== undefined && workflowInfo().continuedFromExecutionRunId === undefined) {
    problems = [...problems, 'resume: is set by the workflow itself when it continues as new; never pass it'];
  }
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      type: PredictionFailureType.InvalidRequest,
      message: `invalid ${kind} request: ${problems.join('; ')}`,
      nonRetryable: true,
    });
  }
}
