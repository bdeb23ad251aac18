/**
 * `runPrediction`: one Replicate prediction, run durably.
 *
 * create (Cancel-After = time to the execution timeout) -> loop { durable timer (backoff) -> get status } -> terminal.
 * The run's deadline comes from the workflow execution timeout minus a margin, because Temporal runs no workflow
 * code when that timeout fires: at our deadline we still can cancel the prediction remotely and fail with a
 * typed error. Every early end (deadline, user cancel, non-retryable error) cancels the remote prediction.
 *
 * Deterministic code only: no Node built-ins, no I/O; activities are imported as types.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { pollDelayMs, withPollingDefaults } from '../shared/backoff';
import { humanDuration } from '../shared/duration';
import { NON_RETRYABLE_REPLICATE_ERRORS, PredictionFailureType } from '../shared/failures';
import {
  isTerminal,
  type PredictionFailureDetails,
  type PredictionRequest,
  type PredictionResult,
  type PredictionSnapshot,
  type PredictionState,
} from '../shared/types';
import { validateRequest } from '../shared/validate';

/** Live state of the run: prediction id, last status, polls, next poll time, last log lines. */
export const statusQuery = defineQuery<PredictionState>('status');

/** Ceiling used when the workflow was started without an execution timeout. */
export const DEFAULT_CEILING_MS = 10 * 60_000;
/** Shortest time between our deadline and the ceiling we accept; leaves room for the remote cancel. */
const MIN_RUN_MS = 5_000;

/**
 * Default safety margin between our deadline and the workflow's execution timeout: 10 % of the timeout, at least
 * 2 s, at most 15 s. It must cover one cancel call (10 s HTTP timeout) plus a retry.
 */
export function defaultDeadlineMarginMs(ceilingMs: number): number {
  return Math.min(15_000, Math.max(2_000, Math.round(ceilingMs * 0.1)));
}

/** Retry policies are explicit so they read the same in code and in the workflow history. */
const createOptions: ActivityOptions = {
  startToCloseTimeout: '40s', // HTTP timeout 30 s + margin
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '20s',
    maximumAttempts: 8,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};
const getOptions: ActivityOptions = {
  startToCloseTimeout: '20s', // HTTP timeout 15 s + margin
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '15s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};
const cancelOptions: ActivityOptions = {
  startToCloseTimeout: '12s', // HTTP timeout 10 s + margin
  scheduleToCloseTimeout: '40s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '4s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE_REPLICATE_ERRORS,
  },
};

export async function runPrediction(request: PredictionRequest): Promise<PredictionResult> {
  const problems = validateRequest(request);
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      type: PredictionFailureType.InvalidRequest,
      message: `invalid prediction request: ${problems.join('; ')}`,
      nonRetryable: true,
    });
  }

  const info = workflowInfo();
  const ceiling = info.executionExpirationTime?.getTime() ?? info.startTime.getTime() + DEFAULT_CEILING_MS;
  const margin = request.deadlineMarginMs ?? defaultDeadlineMarginMs(ceiling - info.startTime.getTime());
  const deadline = ceiling - margin;
  const polling = withPollingDefaults(request.polling);

  const state: PredictionState = {
    model: request.model,
    predictionId: null,
    status: 'creating',
    polls: 0,
    nextPollAt: null,
    startedAt: new Date(info.startTime).toISOString(),
    completedAt: null,
    deadline: new Date(deadline).toISOString(),
    logsTail: [],
    error: null,
    webUrl: null,
  };
  setHandler(statusQuery, () => state);

  if (deadline - Date.now() < MIN_RUN_MS) {
    throw ApplicationFailure.create({
      type: PredictionFailureType.InvalidRequest,
      message: `the workflow execution timeout leaves ${Math.max(0, deadline - Date.now())} ms before the deadline (margin ${margin} ms); start it with a longer timeout`,
      nonRetryable: true,
    });
  }

  // Activity proxies whose schedule-to-close timeouts end at our deadline: nothing is retried past it.
  const untilDeadline = Math.max(1_000, deadline - Date.now());
  const { createPrediction } = proxyActivities<Activities>({
    ...createOptions,
    scheduleToCloseTimeout: untilDeadline,
  });
  const { getPrediction } = proxyActivities<Activities>({
    ...getOptions,
    scheduleToCloseTimeout: untilDeadline,
  });
  const { cancelPrediction } = proxyActivities<Activities>(cancelOptions);

  let current: PredictionSnapshot | undefined;
  const observe = (next: PredictionSnapshot): void => {
    if (current === undefined) {
      log.info(`prediction ${next.id} created, status ${next.status}`, {
        predictionId: next.id,
        model: request.model,
      });
    } else if (current.status !== next.status) {
      log.info(`prediction ${next.id}: ${current.status} -> ${next.status}`, {
        predictionId: next.id,
        from: current.status,
        to: next.status,
        polls: state.polls,
      });
    }
    current = next;
    state.predictionId = next.id;
    state.status = next.status;
    state.logsTail = next.logsTail;
    state.error = next.error;
    state.webUrl = next.urls.web ?? null;
  };

  try {
    return await CancellationScope.withTimeout(deadline - Date.now(), async () => {
      // Non-cancellable: a create already on the wire must finish so we learn the id and can cancel it.
      observe(
        await CancellationScope.nonCancellable(() =>
          createPrediction({
            model: request.model,
            deployment: request.deployment,
            input: request.input,
            cancelAt: new Date(ceiling).toISOString(),
          }),
        ),
      );
      while (!isTerminal(current!.status)) {
        const wait = pollDelayMs(state.polls, polling);
        state.nextPollAt = new Date(Date.now() + wait).toISOString();
        await sleep(wait);
        state.nextPollAt = null;
        state.polls += 1;
        observe(await getPrediction(current!.id));
      }
      return finish(current!, state);
    });
  } catch (error) {
    state.nextPollAt = null;
    if (current !== undefined && !isTerminal(current.status)) {
      await cancelRemotely(current.id, cancelPrediction, observe);
    }
    state.completedAt = new Date().toISOString();
    if (isCancellation(error)) {
      if (CancellationScope.current().consideredCancelled) {
        log.info('workflow canceled by the user', { predictionId: state.predictionId });
        throw error;
      }
      const message = `prediction ${state.predictionId ?? '(not created)'} did not finish before the deadline ${state.deadline} (${humanDuration(deadline - info.startTime.getTime())} after the start); it was canceled at Replicate`;
      log.warn(message, { predictionId: state.predictionId });
      state.error = message;
      throw ApplicationFailure.create({
        type: PredictionFailureType.TimedOut,
        message,
        nonRetryable: true,
        details: [failureDetails(state, current)],
      });
    }
    throw surface(error, state);
  }
}

/** Turn a terminal snapshot into the result, or into the typed failure for its status. */
function finish(p: PredictionSnapshot, state: PredictionState): PredictionResult {
  state.completedAt = new Date().toISOString();
  if (p.status === 'succeeded') {
    log.info(`prediction ${p.id} succeeded after ${state.polls} polls`, {
      predictionId: p.id,
      predictTime: p.metrics.predict_time,
    });
    return {
      id: p.id,
      model: p.model,
      version: p.version,
      status: 'succeeded',
      output: p.output,
      metrics: p.metrics,
      createdAt: p.createdAt,
      startedAt: p.startedAt,
      completedAt: p.completedAt,
      urls: p.urls,
      polls: state.polls,
    };
  }
  const type = {
    failed: PredictionFailureType.Failed,
    canceled: PredictionFailureType.Canceled,
    aborted: PredictionFailureType.Aborted,
  }[p.status as 'failed' | 'canceled' | 'aborted'];
  const message =
    p.status === 'failed'
      ? `prediction ${p.id} failed: ${p.error ?? 'no error message'}`
      : p.status === 'canceled'
        ? `prediction ${p.id} was canceled at Replicate`
        : `prediction ${p.id} was aborted by Replicate before it ran (not billed)`;
  log.warn(message, { predictionId: p.id, status: p.status });
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details: [failureDetails(state, p)] });
}

async function cancelRemotely(
  predictionId: string,
  cancelPrediction: Activities['cancelPrediction'],
  observe: (p: PredictionSnapshot) => void,
): Promise<void> {
  try {
    observe(await CancellationScope.nonCancellable(() => cancelPrediction(predictionId)));
  } catch (error) {
    // Replicate's Cancel-After still stops it at the deadline; report and keep the original error.
    log.error(`could not cancel prediction ${predictionId}; Replicate's Cancel-After will stop it`, {
      predictionId,
      error: String(error),
    });
  }
}

/** Surface an activity's typed failure as the workflow's own failure, so the UI shows the reason first. */
function surface(error: unknown, state: PredictionState): unknown {
  if (error instanceof ActivityFailure && error.cause instanceof ApplicationFailure) {
    const cause = error.cause;
    state.error = cause.message;
    log.warn(`run failed: ${cause.message}`, { predictionId: state.predictionId, failureType: cause.type });
    return ApplicationFailure.create({
      type: cause.type ?? undefined,
      message: cause.message,
      nonRetryable: true,
      details: [...(cause.details ?? []), failureDetails(state, undefined)],
      cause: error,
    });
  }
  return error;
}

function failureDetails(state: PredictionState, p: PredictionSnapshot | undefined): PredictionFailureDetails {
  return {
    predictionId: state.predictionId,
    status: p?.status ?? state.status,
    error: p?.error ?? state.error,
    logsTail: p?.logsTail ?? state.logsTail,
    metrics: p?.metrics,
  };
}
